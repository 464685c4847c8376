import Collectives
import Tensors

/// Sums the ranks' gradient buffers in place, in the configured `ReductionMode`.
///
/// The buffer holds the flat gradients followed by `trailingSlots` extra Floats (the step's scaled
/// loss), so one collective per step carries both and every rank takes its decisions (non-finite
/// loss or gradient) from the same reduced bytes.
final class GradientReduction {
    private let communicator: Communicator
    private let mode: ReductionMode
    /// `[parameterCount + trailingSlots]`: gradients, then the trailer.
    let buffer: FloatBuffer

    init(communicator: Communicator, mode: ReductionMode, buffer: FloatBuffer) {
        self.communicator = communicator
        self.mode = mode
        self.buffer = buffer
    }

    /// Sums `buffer` across ranks. Collective.
    func reduce() throws {
        switch mode {
        case .allreduce: try communicator.allreduce(buffer.buffer, operation: .sum)
        case .reduceScatterAllgather: try communicator.sumByReduceScatterAllgather(buffer.buffer)
        }
    }
}
