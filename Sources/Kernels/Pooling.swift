// 2-D max and average pooling over NCHW Float buffers (PyTorch's `nn.MaxPool2d` and
// `nn.AvgPool2d` with no padding, dilation 1, floor rounding).
//
// Legend: planes = N·C (each channel of each sample pools alone), H×W input, k×k window,
// s stride, OH×OW = ⌊(H − k) / s⌋ + 1 × ⌊(W − k) / s⌋ + 1 output.
//
// On CPUs with AVX-512, the 2×2 stride-2 max pooling and its gradient run `CVectorKernels`'
// versions (the same bits; `VectorKernels`).

import CVectorKernels

/// The shape of one pooling: `planes` independent `H×W` planes, a `k×k` window, stride `s`.
public struct PoolingGeometry: Equatable, Sendable {
    public let inputHeight: Int
    public let inputWidth: Int
    public let window: Int
    public let stride: Int

    /// - Precondition: positive sizes and the window no larger than the input.
    public init(inputHeight: Int, inputWidth: Int, window: Int, stride: Int) {
        precondition(inputHeight > 0 && inputWidth > 0 && window > 0 && stride > 0
                     && window <= inputHeight && window <= inputWidth,
                     "pooling \(inputHeight)×\(inputWidth), window \(window), stride \(stride)")
        self.inputHeight = inputHeight
        self.inputWidth = inputWidth
        self.window = window
        self.stride = stride
    }

    public var outputHeight: Int { (inputHeight - window) / stride + 1 }
    public var outputWidth: Int { (inputWidth - window) / stride + 1 }
    public var inputPlaneSize: Int { inputHeight * inputWidth }
    public var outputPlaneSize: Int { outputHeight * outputWidth }
}

/// Max pooling: each output is the largest value of its window (the first NaN when the window
/// holds one, so a non-finite value is not hidden); `argmax` `[planes, OH, OW]` records where it
/// came from (an index into its input plane) for `maxPoolBackward`.
///
/// With `bias` (one value per plane) the pooled values are `x + bias[plane]`, and with `relu`
/// also clipped at 0 (`v < 0 ? 0 : v`, NaN kept): the bias and ReLU of the layers before, fused
/// in, comparing the very values those layers would have written.
@inline(__always)
public func maxPoolForward(
    input x: UnsafePointer<Float>, output y: UnsafeMutablePointer<Float>, argmax: UnsafeMutablePointer<Int32>,
    planes: Int, geometry g: PoolingGeometry, bias: UnsafePointer<Float>? = nil, relu: Bool = false
) {
    let (oh, ow, w) = (g.outputHeight, g.outputWidth, g.inputWidth)
    if g.window == 2 && g.stride == 2 {
        maxPool2x2(input: x, output: y, argmax: argmax, planes: planes, geometry: g, bias: bias, relu: relu)
        return
    }
    for plane in 0..<planes {
        let input = x + plane * g.inputPlaneSize
        let output = y + plane * g.outputPlaneSize
        let indices = argmax + plane * g.outputPlaneSize
        let planeBias = bias?[plane] ?? 0
        /// The value the layers before would have written: `x + bias`, clipped at 0 with the ReLU.
        @inline(__always) func value(_ index: Int) -> Float {
            let v = bias == nil ? input[index] : input[index] + planeBias
            return relu && v < 0 ? 0 : v
        }
        for row in 0..<oh {
            for column in 0..<ow {
                if g.window == 2 {  // the common 2×2 window, without the general loop
                    let top = (row * g.stride) * w + column * g.stride, bottom = top + w
                    let a = value(top), b = value(top + 1), c = value(bottom), d = value(bottom + 1)
                    if !(a.isNaN || b.isNaN || c.isNaN || d.isNaN) {
                        var best = a, bestIndex = top
                        if b > best { best = b; bestIndex = top + 1 }
                        if c > best { best = c; bestIndex = bottom }
                        if d > best { best = d; bestIndex = bottom + 1 }
                        output[row * ow + column] = best
                        indices[row * ow + column] = Int32(bestIndex)
                        continue
                    }
                }
                var best = -Float.infinity
                var bestIndex = (row * g.stride) * w + column * g.stride
                search: for i in 0..<g.window {
                    for j in 0..<g.window {
                        let index = (row * g.stride + i) * w + column * g.stride + j
                        let candidate = value(index)
                        if candidate.isNaN {
                            best = candidate
                            bestIndex = index
                            break search
                        }
                        if candidate > best {
                            best = candidate
                            bestIndex = index
                        }
                    }
                }
                output[row * ow + column] = best
                indices[row * ow + column] = Int32(bestIndex)
            }
        }
    }
}

/// `maxPoolForward` for the common 2×2 window with stride 2, eight outputs at a time: the even
/// and odd columns of two input rows, compared in the window's row order (a, b, then c, d) with
/// `>`, as the general loop (four at a time for rows of 4 to 7 outputs). A group holding a NaN
/// goes element by element, returning the first NaN of each window, as the general loop does.
@inline(__always)
private func maxPool2x2(
    input x: UnsafePointer<Float>, output y: UnsafeMutablePointer<Float>, argmax: UnsafeMutablePointer<Int32>,
    planes: Int, geometry g: PoolingGeometry, bias: UnsafePointer<Float>?, relu: Bool
) {
    if VectorKernels.enabled {
        return lockstep_vector_max_pool_2x2(x, y, argmax, planes, g.inputHeight, g.inputWidth, bias, relu ? 1 : 0)
    }
    let (oh, ow, w) = (g.outputHeight, g.outputWidth, g.inputWidth)
    let lane = SIMD8<Int32>(0, 2, 4, 6, 8, 10, 12, 14)
    for plane in 0..<planes {
        let input = x + plane * g.inputPlaneSize
        let output = y + plane * g.outputPlaneSize
        let indices = argmax + plane * g.outputPlaneSize
        let b = bias?[plane] ?? 0
        /// The value the layers before would have written: `x + b`, clipped at 0 with the ReLU.
        @inline(__always) func value(_ index: Int) -> Float {
            let v = bias == nil ? input[index] : input[index] + b
            return relu && v < 0 ? 0 : v
        }
        let bias16 = SIMD16<Float>(repeating: b), bias8 = SIMD8<Float>(repeating: b)
        @inline(__always) func values(_ v: SIMD16<Float>) -> SIMD16<Float> {
            let shifted = bias == nil ? v : v + bias16, zero = SIMD16<Float>()
            return relu ? shifted.replacing(with: zero, where: shifted .< zero) : shifted
        }
        @inline(__always) func values(_ v: SIMD8<Float>) -> SIMD8<Float> {
            let shifted = bias == nil ? v : v + bias8, zero = SIMD8<Float>()
            return relu ? shifted.replacing(with: zero, where: shifted .< zero) : shifted
        }
        for row in 0..<oh {
            let top = 2 * row * w
            /// Output columns `columns` of this row, one window at a time.
            func scalar(_ columns: Range<Int>) {
                for column in columns {
                    let a = top + 2 * column
                    var bestIndex = a
                    func consider(_ index: Int) {
                        guard !value(bestIndex).isNaN else { return }
                        if value(index).isNaN || value(index) > value(bestIndex) { bestIndex = index }
                    }
                    consider(a + 1)
                    consider(a + w)
                    consider(a + w + 1)
                    output[row * ow + column] = value(bestIndex)
                    indices[row * ow + column] = Int32(bestIndex)
                }
            }
            /// Output columns `column..<column + 8`: the even and odd lanes of 16 inputs per row.
            func eight(_ column: Int) {
                let upper = values(UnsafeRawPointer(input + top + 2 * column).loadUnaligned(as: SIMD16<Float>.self))
                let lower = values(UnsafeRawPointer(input + top + w + 2 * column).loadUnaligned(as: SIMD16<Float>.self))
                guard !(any(upper .!= upper) || any(lower .!= lower)) else { return scalar(column..<(column + 8)) }
                var best = upper.evenHalf
                var corner = SIMD8<Int32>(repeating: 0)
                var larger = upper.oddHalf .> best
                best.replace(with: upper.oddHalf, where: larger)
                corner.replace(with: 1, where: larger)
                larger = lower.evenHalf .> best
                best.replace(with: lower.evenHalf, where: larger)
                corner.replace(with: Int32(w), where: larger)
                larger = lower.oddHalf .> best
                best.replace(with: lower.oddHalf, where: larger)
                corner.replace(with: Int32(w + 1), where: larger)
                UnsafeMutableRawPointer(output + row * ow + column).storeBytes(of: best, as: SIMD8<Float>.self)
                UnsafeMutableRawPointer(indices + row * ow + column).storeBytes(
                    of: SIMD8<Int32>(repeating: Int32(top + 2 * column)) &+ lane &+ corner, as: SIMD8<Int32>.self)
            }
            /// Output columns `column..<column + 4`, as `eight`.
            func four(_ column: Int) {
                let upper = values(UnsafeRawPointer(input + top + 2 * column).loadUnaligned(as: SIMD8<Float>.self))
                let lower = values(UnsafeRawPointer(input + top + w + 2 * column).loadUnaligned(as: SIMD8<Float>.self))
                guard !(any(upper .!= upper) || any(lower .!= lower)) else { return scalar(column..<(column + 4)) }
                var best = upper.evenHalf
                var corner = SIMD4<Int32>(repeating: 0)
                var larger = upper.oddHalf .> best
                best.replace(with: upper.oddHalf, where: larger)
                corner.replace(with: 1, where: larger)
                larger = lower.evenHalf .> best
                best.replace(with: lower.evenHalf, where: larger)
                corner.replace(with: Int32(w), where: larger)
                larger = lower.oddHalf .> best
                best.replace(with: lower.oddHalf, where: larger)
                corner.replace(with: Int32(w + 1), where: larger)
                UnsafeMutableRawPointer(output + row * ow + column).storeBytes(of: best, as: SIMD4<Float>.self)
                UnsafeMutableRawPointer(indices + row * ow + column).storeBytes(
                    of: SIMD4<Int32>(repeating: Int32(top + 2 * column)) &+ lane.lowHalf &+ corner, as: SIMD4<Int32>.self)
            }
            // Whole groups, then one more group ending at the row's end (overlapping the last
            // whole group: those outputs are computed again, identically).
            if ow >= 8 {
                for column in stride(from: 0, through: ow - 8, by: 8) { eight(column) }
                if ow % 8 != 0 { eight(ow - 8) }
            } else if ow >= 4 {
                four(0)
                if ow > 4 { four(ow - 4) }
            } else {
                scalar(0..<ow)
            }
        }
    }
}

/// The max-pooling gradient: each `dY` goes to the input position its output came from
/// (accumulated when windows overlap). `dx` `[planes, H, W]` is overwritten.
///
/// With `reluOutput` (the pooled values, when the pooling's input is a ReLU's output) the ReLU's
/// derivative is fused in: a gradient is sent only where the pooled value is > 0. Only the
/// positions a window took receive a gradient, and there the ReLU's output is the pooled value,
/// so this equals the ReLU's backward pass run afterwards.
@inline(__always)
public func maxPoolBackward(
    outputGradient dy: UnsafePointer<Float>, argmax: UnsafePointer<Int32>, inputGradient dx: UnsafeMutablePointer<Float>,
    planes: Int, geometry g: PoolingGeometry, reluOutput: UnsafePointer<Float>? = nil
) {
    if g.window == 2 && g.stride == 2 && VectorKernels.enabled {
        return lockstep_vector_max_pool_2x2_backward(dy, argmax, reluOutput, dx, planes, g.inputHeight, g.inputWidth)
    }
    dx.update(repeating: 0, count: planes * g.inputPlaneSize)
    for plane in 0..<planes {
        let target = dx + plane * g.inputPlaneSize
        let offset = plane * g.outputPlaneSize
        if let reluOutput {
            // Without a branch on the sign (taken half the time, unpredictably): adding 0 to the
            // zeroed target changes no bit (a sum that starts at +0 is never −0).
            for q in 0..<g.outputPlaneSize {
                let value = dy[offset &+ q]
                target[Int(argmax[offset &+ q])] += reluOutput[offset &+ q] > 0 ? value : 0
            }
        } else {
            for q in 0..<g.outputPlaneSize { target[Int(argmax[offset + q])] += dy[offset + q] }
        }
    }
}

/// Average pooling: each output is the mean of its `k×k` window (summed in row order, then
/// divided by k², as `x / k²` in Float).
@inline(__always)
public func averagePoolForward(
    input x: UnsafePointer<Float>, output y: UnsafeMutablePointer<Float>, planes: Int, geometry g: PoolingGeometry
) {
    let (oh, ow, w) = (g.outputHeight, g.outputWidth, g.inputWidth)
    let area = Float(g.window * g.window)
    for plane in 0..<planes {
        let input = x + plane * g.inputPlaneSize
        let output = y + plane * g.outputPlaneSize
        for row in 0..<oh {
            for column in 0..<ow {
                var sum: Float = 0
                for i in 0..<g.window {
                    for j in 0..<g.window { sum += input[(row * g.stride + i) * w + column * g.stride + j] }
                }
                output[row * ow + column] = sum / area
            }
        }
    }
}

/// The average-pooling gradient: each `dY / k²` goes to every position of its window
/// (accumulated when windows overlap). `dx` `[planes, H, W]` is overwritten.
@inline(__always)
public func averagePoolBackward(
    outputGradient dy: UnsafePointer<Float>, inputGradient dx: UnsafeMutablePointer<Float>, planes: Int,
    geometry g: PoolingGeometry
) {
    let (oh, ow, w) = (g.outputHeight, g.outputWidth, g.inputWidth)
    let area = Float(g.window * g.window)
    dx.update(repeating: 0, count: planes * g.inputPlaneSize)
    for plane in 0..<planes {
        let target = dx + plane * g.inputPlaneSize
        let gradient = dy + plane * g.outputPlaneSize
        for row in 0..<oh {
            for column in 0..<ow {
                let share = gradient[row * ow + column] / area
                for i in 0..<g.window {
                    for j in 0..<g.window { target[(row * g.stride + i) * w + column * g.stride + j] += share }
                }
            }
        }
    }
}
