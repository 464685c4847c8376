/// The unit in which every schedule parameter is expressed: `gamma` (factor per unit), `halfLife`,
/// `warmup`, `hold`, `staircase` and the schedule's total length (DESIGN.md §4).
public enum ScheduleUnit: String, Codable, Sendable, CaseIterable {
    /// One pass over the training set: `stepsPerEpoch` optimizer updates. The default.
    case epoch
    /// One optimizer update.
    case step

    /// "epoch" or "epochs", "step" or "steps", for messages.
    public func name(count: Double) -> String {
        count == 1 ? rawValue : rawValue + "s"
    }

    func name(count: Int) -> String {
        name(count: Double(count))
    }
}
