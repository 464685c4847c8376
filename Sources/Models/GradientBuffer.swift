import Kernels

/// The gradients of a model and the slots reduced with them, in one allocation: what one
/// collective sums across ranks.
///
/// Layout `[parameterCount + trailingSlotCount]`: the gradients in `ParameterLayout` order, then the
/// trailing slots. Slot 0 holds the step's loss sum scaled like the gradients (so the reduced value
/// is the global batch's mean loss); slots 1…`stopSlotCount` are stop requests, 1 on a rank that
/// asks to stop (a signal, one slot per kind) and 0 elsewhere, so the reduced value counts the
/// ranks that asked. Reducing them together lets every rank take its decisions (a non-finite loss
/// or gradient, a stop) from the same reduced bytes, with no extra collective. This type is the
/// only owner of that layout.
public final class GradientBuffer {
    /// Stop-request slots after the loss slot (the kinds are the caller's: `StopSignal`).
    public static let stopSlotCount = 3
    /// Slots after the gradients: `[0]` the scaled loss, then the stop requests.
    public static let trailingSlotCount = 1 + stopSlotCount

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

    /// Stop-request slot `index` (`0..<stopSlotCount`): this rank's 0 or 1 before the reduction,
    /// the number of ranks that asked after it (a small integer, exact in a Float sum).
    public subscript(stopRequest index: Int) -> Float {
        get {
            precondition((0..<Self.stopSlotCount).contains(index), "stop slot \(index)")
            return storage[parameterCount + 1 + index]
        }
        set {
            precondition((0..<Self.stopSlotCount).contains(index), "stop slot \(index)")
            storage[parameterCount + 1 + index] = newValue
        }
    }

}
