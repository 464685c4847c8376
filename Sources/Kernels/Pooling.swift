// 2-D max and average pooling over NCHW Float buffers (PyTorch's `nn.MaxPool2d` and
// `nn.AvgPool2d` with no padding, dilation 1, floor rounding).
//
// Legend: planes = N·C (each channel of each sample pools alone), H×W input, k×k window,
// s stride, OH×OW = ⌊(H − k) / s⌋ + 1 × ⌊(W − k) / s⌋ + 1 output.

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
@inline(__always)
public func maxPoolForward(
    input x: UnsafePointer<Float>, output y: UnsafeMutablePointer<Float>, argmax: UnsafeMutablePointer<Int32>,
    planes: Int, geometry g: PoolingGeometry
) {
    let (oh, ow, w) = (g.outputHeight, g.outputWidth, g.inputWidth)
    for plane in 0..<planes {
        let input = x + plane * g.inputPlaneSize
        let output = y + plane * g.outputPlaneSize
        let indices = argmax + plane * g.outputPlaneSize
        for row in 0..<oh {
            for column in 0..<ow {
                var best = -Float.infinity
                var bestIndex = (row * g.stride) * w + column * g.stride
                search: for i in 0..<g.window {
                    for j in 0..<g.window {
                        let index = (row * g.stride + i) * w + column * g.stride + j
                        let value = input[index]
                        if value.isNaN {
                            best = value
                            bestIndex = index
                            break search
                        }
                        if value > best {
                            best = value
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

/// The max-pooling gradient: each `dY` goes to the input position its output came from
/// (accumulated when windows overlap). `dx` `[planes, H, W]` is overwritten.
@inline(__always)
public func maxPoolBackward(
    outputGradient dy: UnsafePointer<Float>, argmax: UnsafePointer<Int32>, inputGradient dx: UnsafeMutablePointer<Float>,
    planes: Int, geometry g: PoolingGeometry
) {
    dx.update(repeating: 0, count: planes * g.inputPlaneSize)
    for plane in 0..<planes {
        let target = dx + plane * g.inputPlaneSize
        let offset = plane * g.outputPlaneSize
        for q in 0..<g.outputPlaneSize { target[Int(argmax[offset + q])] += dy[offset + q] }
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
