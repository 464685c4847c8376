import Kernels

/// The gradients of a model and the slots reduced with them, in one allocation: what one
/// collective sums across ranks.
///
/// Layout `[parameterCount + trailingSlotCount]`: the gradients in `ParameterLayout` order, then the
/// trailing slots. Slot 0 holds the step's loss sum scaled like the gradients (so the reduced value
/// is the global batch's mean loss). Reducing them together lets every rank take its decisions
/// (a non-finite loss or gradient) from the same reduced bytes, with no extra collective. This
/// type is the only owner of that layout.
public final class GradientBuffer {
    /// Slots after the gradients: `[0]` the scaled loss.
    public static let trailingSlotCount = 1

    /// Every element: gradients, then the trailing slots.
    public let storage: FloatBuffer
    /// The gradients `[parameterCount]`, a view of `storage`.
    public let gradients: FloatBuffer
    public let parameterCount: Int

    public init(parameterCount: Int) {
        precondition(parameterCount > 0, "gradient buffer for \(parameterCount) parameters")
        self.parameterCount = parameterCount
        storage = FloatBuffer(count: parameterCount + Self.trailingSlotCount)
        gradients = FloatBuffer(viewing: storage, range: 0..<parameterCount)
    }

    /// The loss slot: this rank's loss sum × the gradient scale before the reduction, the global
    /// batch's mean loss after it.
    public var loss: Float {
        get { storage[parameterCount] }
        set { storage[parameterCount] = newValue }
    }

}
