import Coordination
import Tracing

/// The lockstep checks of the loop (DESIGN.md §1.1), over `RunState`'s parts.
extension Trainer {
    /// Compares the state across ranks; returns the parameters' hash. Collective.
    @discardableResult
    func verifyState(context: String) throws -> (combined: UInt64, parameters: UInt64) {
        watchdog.enter(.verification, step: state.globalStep)
        let spanStart = Timeline.now()
        defer { recordSpan(\.verification, from: spanStart) }
        let parts = state.stateParts()
        let combined = try LockstepVerifier(communicator: communicator).verify(parts, step: state.globalStep, context: context)
        return (combined, parts[0].hash)
    }

    /// Rank 0 broadcasts the parameters, the optimizer buffers and the schedule state; every rank
    /// checks that what it holds equals what it received. Collective.
    func agreeOnState(context: String) throws {
        watchdog.enter(.startup, step: state.globalStep)
        let agreement = StateAgreement(communicator: communicator)
        try agreement.agree(on: state.statePieces, step: state.globalStep, context: context)
        try agreement.agree(
            onEncoded: state.scheduleState.encoded(), name: "schedule state", step: state.globalStep, context: context)
    }
}
