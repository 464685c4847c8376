import ArgumentParser
import Foundation
import Schedules
import Training

/// `lockstep schedule table|analyze`: print or analyse a learning-rate schedule without training
/// (no MPI needed). The schedule flags are the same as `lockstep train`'s.
struct ScheduleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedule",
        abstract: "Print or analyse a learning-rate schedule (the same flags as train).",
        subcommands: [Table.self, Analyze.self])

    /// `--steps-per-epoch`, which every subcommand needs to build the schedule.
    /// What `train` derives from the run: the steps per epoch, and the global batch that
    /// `--lr-scaling` scales to; the schedule built from them is the one `train` uses.
    struct StepsPerEpochOption: ParsableArguments {
        @Option(name: .customLong("steps-per-epoch"), help: ArgumentHelp(
            "Optimizer updates per epoch (train derives it from the data and batch size).", valueName: "steps"))
        var stepsPerEpoch: Int = 1

        @Option(name: .customLong("global-batch"), help: ArgumentHelp(
            "Samples per update over all ranks, as in train: what --lr-scaling scales to.", valueName: "samples"))
        var globalBatch: Int = TrainingConfiguration.defaults.globalBatchSize

        func validate() throws {
            guard (1...1_000_000).contains(globalBatch) else {
                throw ValidationError("--global-batch must be in 1…1000000, got \(globalBatch)")
            }
            guard (1...1_000_000_000).contains(stepsPerEpoch) else {
                throw ValidationError("--steps-per-epoch must be in 1…1000000000, got \(stepsPerEpoch)")
            }
        }

        /// `--total` in 1…10⁹ units, and at most 2⁵³ steps (where step counts stay exact in a Double).
        func validateTotal(_ total: Int?) throws {
            guard let total else { return }
            guard (1...1_000_000_000).contains(total) else { throw ValidationError("--total must be in 1…1000000000 units, got \(total)") }
            let (steps, overflow) = total.multipliedReportingOverflow(by: stepsPerEpoch)
            guard !overflow, steps <= 1 << 53 else {
                throw ValidationError("--total \(total) × --steps-per-epoch \(stepsPerEpoch) steps is more than 2^53")
            }
        }

        func schedule(_ options: ScheduleOptions, totalUnits: Int?) throws -> ExponentialSchedule {
            try ValidationError.wrapping {
                try ExponentialSchedule(
                    options.scaledConfiguration(globalBatch: globalBatch), stepsPerEpoch: stepsPerEpoch,
                    totalUnits: totalUnits)
            }
        }
    }
}

// MARK: - table

extension ScheduleCommand {
    struct Table: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the LR of the first N units (or steps, with --unit step or --smooth).",
            discussion: """
                With --json, one object per line: {"step": k, "epoch": e, "lr": x}, where k is the \
                0-based optimizer step (update k uses that lr), e its epoch, and x round-trips exactly \
                to the Double the trainer uses.
                """)

        @OptionGroup(title: "Learning-rate schedule") var schedule: ScheduleOptions
        @OptionGroup var shape: StepsPerEpochOption

        @Option(help: ArgumentHelp(
            "Number of rows: one per unit, or one per step with --unit step or --smooth.", valueName: "rows"))
        var count: Int

        @Option(help: ArgumentHelp(
            "The schedule's length T in units (needed by --final-lr; train uses --epochs).", valueName: "units"))
        var total: Int?

        @Flag(help: "Print JSON Lines instead of a table.")
        var json = false

        func validate() throws {
            guard (0...1_000_000).contains(count) else { throw ValidationError("--count must be in 0…1000000 rows, got \(count)") }
            if count.multipliedReportingOverflow(by: shape.stepsPerEpoch).overflow {
                throw ValidationError("--count \(count) × --steps-per-epoch \(shape.stepsPerEpoch) steps is too large")
            }
            try shape.validateTotal(total)
            _ = try shape.schedule(schedule, totalUnits: total)
        }

        func run() throws {
            let schedule = try shape.schedule(schedule, totalUnits: total)
            if self.schedule.smooth, shape.stepsPerEpoch == 1 {
                FileHandle.standardError.write(Data(("warning: --smooth with --steps-per-epoch 1 (the default) gives the same rows "
                    + "as without it; pass the steps per epoch of your run (train prints it: \"469 steps/epoch\")\n").utf8))
            }
            let samples = schedule.samples(count: count)
            if json {
                for sample in samples {
                    // Double.description is the shortest string that round-trips to the same Double.
                    print("{\"step\": \(sample.step), \"epoch\": \(sample.epoch), \"lr\": \(sample.learningRate)}")
                }
            } else {
                print(pad("step", 10) + pad("epoch", 8) + "  lr")
                for sample in samples {
                    print(pad("\(sample.step)", 10) + pad("\(sample.epoch)", 8) + "  \(Analyze.number(sample.learningRate))")
                }
            }
        }

        private func pad(_ text: String, _ width: Int) -> String {
            String(repeating: " ", count: max(0, width - text.count)) + text
        }
    }
}

// MARK: - analyze

extension ScheduleCommand {
    struct Analyze: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Decay figures of a schedule over T units, with warnings about too little or too much decay.")

        @OptionGroup(title: "Learning-rate schedule") var schedule: ScheduleOptions
        @OptionGroup var shape: StepsPerEpochOption

        @Option(help: ArgumentHelp("The schedule's length T in units; the last trained unit is T-1.", valueName: "units"))
        var total: Int

        @Flag(help: "Print one JSON object instead of text.")
        var json = false

        func validate() throws {
            try shape.validateTotal(total)
            _ = try shape.schedule(schedule, totalUnits: total)
        }

        func run() throws {
            let analysis = ScheduleAnalysis(try shape.schedule(schedule, totalUnits: total))
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try encoder.encode(analysis), as: UTF8.self))
            } else {
                print(Self.text(analysis), terminator: "")
            }
        }

        /// The analysis for people: one figure per line, then the warnings.
        /// For people: 6 significant digits (`0.0773781`, not `0.07737809374999999`), no `-0`.
        /// `--json` keeps every digit.
        static func number(_ value: Double) -> String { String(format: "%.6g", value == 0 ? 0 : value) }

        static func text(_ analysis: ScheduleAnalysis) -> String {
            let unit = analysis.unit.rawValue
            var rows: [(String, String)] = [
                ("gamma (per \(unit))", number(analysis.gamma)),
                ("lambda = -ln gamma", number(analysis.decayConstant)),
                ("half-life", analysis.halfLife.map { "\(number($0)) \(analysis.unit.name(count: $0))" } ?? "never (gamma = 1)"),
                ("decay per \(unit)", "\(number(analysis.decayPercentPerUnit))%"),
                ("\(unit)s of decay to 1% of lr", analysis.unitsToOnePercent.map { number($0) } ?? "never"),
            ]
            if let factor = analysis.perStairFactor { rows.append(("per-stair factor (Keras/Optax decay_rate)", number(factor))) }
            if let gamma = analysis.perStepGamma { rows.append(("per-step gamma", number(gamma))) }
            for milestone in analysis.milestones {
                rows.append(("lr at \(unit) \(milestone.unit)", number(milestone.learningRate)))
            }
            rows.append(("halvings by \(unit) \(analysis.totalUnits - 1)", number(analysis.halvings)))
            let width = rows.map(\.0.count).max() ?? 0
            var text = rows.map { $0.0 + String(repeating: " ", count: width - $0.0.count) + "  " + $0.1 + "\n" }.joined()
            for warning in analysis.warnings { text += "warning: \(warning.message)\n" }
            return text
        }
    }
}
