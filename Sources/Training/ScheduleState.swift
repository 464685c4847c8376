import Foundation
import Schedules

/// The counters and the schedule, as the ranks compare them (`RunState.encodedScheduleState`) and
/// as a checkpoint stores them (metadata `schedule_state`, snake_case keys).
struct ScheduleState: Codable, Equatable {
    let globalStep: Int64
    let optimizerStep: Int64
    let skippedSteps: Int64
    let schedule: ExponentialSchedule

    enum CodingKeys: String, CodingKey {
        case globalStep = "global_step"
        case optimizerStep = "optimizer_step"
        case skippedSteps = "skipped_steps"
        case schedule
    }

    /// JSON with sorted keys: equal states give equal bytes.
    func encoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array(try encoder.encode(self))
    }
}
