import Kernels

/// The global L2 norm √(Σ gᵢ²) of `gradients`, accumulated in Double in a fixed order (so every
/// rank holding the same allreduced gradients gets the same bits). NaN or +∞ when an element is
/// non-finite.
public func gradientNorm(_ gradients: FloatBuffer) -> Double {
    let g = UnsafePointer(gradients.baseAddress)
    let n = gradients.count
    // Four independent partial sums in a fixed pattern: deterministic, and not one long
    // dependency chain.
    var s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
    var i = 0
    while i + 4 <= n {
        let x0 = Double(g[i]), x1 = Double(g[i + 1]), x2 = Double(g[i + 2]), x3 = Double(g[i + 3])
        s0 += x0 * x0
        s1 += x1 * x1
        s2 += x2 * x2
        s3 += x3 * x3
        i += 4
    }
    while i < n {
        let x = Double(g[i])
        s0 += x * x
        i += 1
    }
    return ((s0 + s1) + (s2 + s3)).squareRoot()
}

/// Clips `gradients` in place to a global L2 norm of at most `maxNorm`, with the semantics of
/// `torch.nn.utils.clip_grad_norm_`: with `norm` the norm before clipping, every element is
/// multiplied by `maxNorm / (norm + 1e-6)` when that factor is below 1, and left bit-for-bit
/// untouched otherwise. (So a norm exactly equal to `maxNorm` is still scaled, by
/// 1/(1 + 1e-6/maxNorm), as in PyTorch.) The factor is computed in Double and rounded once.
///
/// Call it after the gradient allreduce, so every rank clips identically.
///
/// A non-finite norm (NaN or ∞ in the gradients) leaves the buffer untouched (PyTorch would
/// multiply everything by NaN or 0) and is returned, so the caller's non-finite policy decides.
///
/// - Returns: the norm before clipping (`gradientNorm`), for logging.
/// - Precondition: `maxNorm` is finite and > 0.
@discardableResult
public func clipGradientNorm(_ gradients: FloatBuffer, maxNorm: Double) -> Double {
    let norm = gradientNorm(gradients)
    if let factor = clipScale(norm: norm, maxNorm: maxNorm) {
        let g = gradients.baseAddress
        for i in 0..<gradients.count { g[i] *= factor }
    }
    return norm
}

/// The factor `clipGradientNorm` multiplies every element by, `Float(maxNorm / (norm + 1e-6))`,
/// or nil when it leaves the gradients untouched (a factor ≥ 1, or a non-finite `norm`). Pass it
/// to `Optimizer.update(…, gradientScale:)` to clip inside the update's own pass (the trainer
/// does; with `--reduction sharded` each rank passes the factor of the norm the ranks agreed on).
/// - Precondition: `maxNorm` is finite and > 0.
public func clipScale(norm: Double, maxNorm: Double) -> Float? {
    precondition(isPositiveAndFinite(maxNorm), "clip maxNorm \(maxNorm)")
    guard norm.isFinite else { return nil }
    let scale = maxNorm / (norm + 1e-6)
    return scale < 1 ? Float(scale) : nil
}

/// `x > 0` and finite, from the bits: under DAZ (which the training thread turns on) a subnormal
/// such as `--clip-grad-norm 1e-320` compares equal to 0, though the option accepted it.
private func isPositiveAndFinite(_ x: Double) -> Bool {
    x.sign == .plus && !x.isZero && x.isFinite
}
