import Foundation
import Kernels
import Reporting
import Schedules

extension Trainer {
    /// Hashes of the state every rank must share: parameters, each optimizer buffer, and the
    /// counters with the LR's bit pattern.
    func stateParts() -> [LockstepVerifier.Part] {
        var parts = [LockstepVerifier.Part(name: "parameters", hash: LockstepVerifier.hash(model.parameters))]
        for (name, buffer) in optimizer.stateBuffers {
            parts.append(.init(name: "optimizer.\(name)", hash: LockstepVerifier.hash(buffer)))
        }
        parts.append(.init(
            name: "counters (global step, optimizer step, skipped steps, lr)",
            hash: LockstepVerifier.hash(words: [
                UInt64(bitPattern: globalStep), UInt64(bitPattern: optimizer.stepCount),
                UInt64(bitPattern: skippedSteps), schedule.lr(at: globalStep).bitPattern,
            ])))
        return parts
    }

    /// Compares the state across ranks; returns the parameters' hash. Collective.
    @discardableResult
    func verifyState(context: String) throws -> (combined: UInt64, parameters: UInt64) {
        watchdog.enter(.verification, step: globalStep)
        let parts = stateParts()
        let combined = try LockstepVerifier(communicator: communicator).verify(parts, step: globalStep, context: context)
        return (combined, parts[0].hash)
    }

    /// The counters and the effective schedule (what checkpoints store as `schedule_state`).
    var scheduleState: ScheduleState {
        ScheduleState(
            global_step: globalStep, optimizer_step: optimizer.stepCount, skipped_steps: skippedSteps, schedule: schedule)
    }

    /// The counters and the schedule, encoded exactly (integers, and the schedule's parameters as
    /// JSON numbers that round-trip to the same `Double`s: never a Float learning rate).
    func encodedScheduleState() throws -> [UInt8] {
        try scheduleState.encoded()
    }

    /// Rank 0 broadcasts the parameters, the optimizer buffers and the schedule state; every rank
    /// checks that what it holds equals what it received. Collective.
    func agreeOnState(context: String) throws {
        watchdog.enter(.startup, step: globalStep)
        let agreement = StateAgreement(communicator: communicator)
        var pieces = [StateAgreement.Piece(name: "parameters", bytes: UnsafeMutableRawBufferPointer(model.parameters.buffer))]
        for (name, buffer) in optimizer.stateBuffers {
            pieces.append(.init(name: "optimizer.\(name)", bytes: UnsafeMutableRawBufferPointer(buffer.buffer)))
        }
        try agreement.agree(on: pieces, step: globalStep, context: context)
        try agreement.agree(onEncoded: encodedScheduleState(), name: "schedule state", step: globalStep, context: context)
    }
}

/// The counters and the schedule (`encodedScheduleState`), as the ranks compare them and as a
/// checkpoint stores them (metadata `schedule_state`).
struct ScheduleState: Codable, Equatable {
    let global_step: Int64
    let optimizer_step: Int64
    let skipped_steps: Int64
    let schedule: ExponentialSchedule

    /// JSON with sorted keys: equal states give equal bytes.
    func encoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array(try encoder.encode(self))
    }
}
