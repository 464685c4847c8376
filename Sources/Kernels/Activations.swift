import Foundation

// Elementwise activations as layers of their own (the dense kernels fuse ReLU; a layer stack
// needs them apart). Forward and backward over `count` contiguous floats.

/// ReLU: `y = max(0, x)`, NaN-propagating (as the fused dense kernel).
@inline(__always)
public func reluForward(input x: UnsafePointer<Float>, output y: UnsafeMutablePointer<Float>, count: Int) {
    typealias Lanes = SIMD16<Float>
    let width = Lanes.scalarCount, vectorCount = count / width
    let source = UnsafeRawPointer(x), target = UnsafeMutableRawPointer(y)
    for v in 0..<vectorCount {
        let offset = v * width * MemoryLayout<Float>.stride
        let values = source.loadUnaligned(fromByteOffset: offset, as: Lanes.self)
        target.storeBytes(of: values.replacing(with: 0, where: values .< 0), toByteOffset: offset, as: Lanes.self)
    }
    for i in (vectorCount * width)..<count {
        let v = x[i]
        y[i] = v < 0 ? 0 : v
    }
}

/// ReLU's gradient from its output, in place: `g = g ⊙ (y > 0)` (NaN in `y` gives 0).
@inline(__always)
public func reluBackward(gradient g: UnsafeMutablePointer<Float>, output y: UnsafePointer<Float>, count: Int) {
    maskByPositive(g, y, count: count)
}

/// GELU, tanh approximation (Hendrycks & Gimpel 2016; PyTorch `nn.GELU(approximate="tanh")`):
/// `y = ½x(1 + tanh(√(2/π)(x + 0.044715x³)))`, computed in Float.
public enum GELU {
    /// √(2/π).
    public static let scale: Float = 0.7978845608028654
    public static let cubic: Float = 0.044715

    @inline(__always)
    public static func forward(input x: UnsafePointer<Float>, output y: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count {
            let v = x[i]
            y[i] = 0.5 * v * (1 + tanhf(scale * (v + cubic * v * v * v)))
        }
    }

    /// `dx = dy · y'(x)` with `y'(x) = ½(1 + t) + ½x(1 − t²)·√(2/π)(1 + 3·0.044715x²)`,
    /// `t = tanh(√(2/π)(x + 0.044715x³))`; reads the layer's input `x` (`dx` may be `dy`).
    @inline(__always)
    public static func backward(
        outputGradient dy: UnsafePointer<Float>, input x: UnsafePointer<Float>, inputGradient dx: UnsafeMutablePointer<Float>,
        count: Int
    ) {
        for i in 0..<count {
            let v = x[i]
            let t = tanhf(scale * (v + cubic * v * v * v))
            let derivative = 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * scale * (1 + 3 * cubic * v * v)
            dx[i] = dy[i] * derivative
        }
    }
}
