import Kernels

/// How an update rule reads its gradient elements: as stored, or each multiplied by a `Float`
/// scale (clipping fused into the update, see `Optimizer.update`). The choice is a select on a
/// loop-invariant flag, so the loops still vectorise, and unscaled reads are the stored bits.
struct GradientReader {
    private let base: UnsafePointer<Float>
    private let scale: Float
    private let scaled: Bool

    init(_ gradients: FloatBuffer, scale: Float?) {
        base = UnsafePointer(gradients.baseAddress)
        self.scale = scale ?? 1
        scaled = scale != nil
    }

    /// Element `i`: `g[i] · scale` (one Float rounding, as `clipGradientNorm` stores it), or `g[i]`.
    @inline(__always)
    subscript(i: Int) -> Float { scaled ? base[i] * scale : base[i] }
}
