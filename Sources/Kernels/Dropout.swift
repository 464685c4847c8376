import Determinism

/// Dropout (Srivastava et al. 2014) with inverted scaling (PyTorch `nn.Dropout`): in training,
/// each element is zeroed with probability `p` and the others are multiplied by `1 / (1 − p)`;
/// in evaluation it is the identity.
///
/// The mask is a pure function of (seed, global step, the sample's index in the dataset, the
/// layer's index, the element's index in the sample) through `KeyedRandom`: the same sample gets
/// the same mask whichever rank processes it and however many ranks there are. An element is
/// kept when its uniform draw `u ∈ [0, 1)` (24 bits) satisfies `u ≥ p`.
public enum Dropout {
    /// The key of one sample's mask.
    @inline(__always)
    public static func key(seed: UInt64, step: Int64, sample: Int32, layer: Int) -> KeyedRandom {
        KeyedRandom(words: 0xD809, seed, UInt64(bitPattern: step), UInt64(UInt32(bitPattern: sample)), UInt64(layer))
    }

    /// Forward in training: `y = x · mask`, with `mask[i]` 0 or `1 / (1 − p)`, stored for the
    /// backward pass. `x`, `y`, `mask` `[samples.count, featuresPerSample]`; `samples` are the
    /// rows' indices in the dataset.
    /// - Precondition: `0 ≤ p < 1`.
    @inline(__always)
    public static func forward(
        input x: UnsafePointer<Float>, output y: UnsafeMutablePointer<Float>, mask: UnsafeMutablePointer<Float>,
        samples: UnsafeBufferPointer<Int32>, featuresPerSample: Int, probability p: Float, seed: UInt64, step: Int64,
        layer: Int
    ) {
        precondition(p >= 0 && p < 1, "dropout probability \(p)")
        let scale = 1 / (1 - p)
        for (row, sample) in samples.enumerated() {
            let random = key(seed: seed, step: step, sample: sample, layer: layer)
            let offset = row * featuresPerSample
            for i in 0..<featuresPerSample {
                let factor: Float = random.unitFloat(UInt64(i)) >= p ? scale : 0
                mask[offset + i] = factor
                y[offset + i] = x[offset + i] * factor
            }
        }
    }

    /// Backward: `dx = dy · mask` (`dx` may be `dy`).
    @inline(__always)
    public static func backward(
        outputGradient dy: UnsafePointer<Float>, mask: UnsafePointer<Float>, inputGradient dx: UnsafeMutablePointer<Float>,
        count: Int
    ) {
        for i in 0..<count { dx[i] = dy[i] * mask[i] }
    }
}
