import Foundation

/// How `ReadmeCommandTests` runs a README command: as written, except for the few changes listed
/// here, each with its reason. Pure functions of the command and of what earlier commands left in
/// the working directory, so the rules have fast tests of their own.
enum ReadmeRehearsal {
    /// What to do with one command.
    enum Plan: Equatable {
        /// Run this text (bash, or python3 for a python block).
        case run(String)
        /// Not run, for this reason.
        case skip(String)
    }

    /// Commands that are not run, with why: (a piece of the command, the reason).
    static let skipped: [(match: String, reason: String)] = [
        ("scripts/test.sh", "the test suite itself, which runs this test"),
        ("swift build", "a nested SwiftPM build would wait for the lock of the build running this test; "
            + "the binary under test stands in for .build/release/lockstep"),
        ("hostfiles/cluster ", "needs the real nodes of hostfiles/cluster; the same launcher runs on simulated hosts "
            + "under \"Trying it on one machine\""),
        ("sbatch --job-name big ", "needs a real Slurm cluster; the same job script runs on the simulated Slurm "
            + "under \"Trying it on simulated hosts\""),
    ]

    /// Added to a training command that shows no output and has no `--limit-train` of its own:
    /// README's "Tutorial" says this is how to make any run short.
    static let shortTraining = "--limit-train 2560 --limit-test 1000"

    /// Added to `scripts/bench_scaling.sh` (with `REPEATS=1` in the environment): one short sweep.
    static let shortBench = "--steps 20 --repetitions 1"

    /// README's example run directories (`runs/20261129-141502`): each stands for the run
    /// directory the command before made, as a reader uses the one their own run printed.
    static var exampleRunDirectory: Regex<(Substring, Substring?)> { #/runs/20\d{6}-\d{6}(-\d+)?/# }

    /// A checkpoint file name with its step.
    static var checkpointPath: Regex<Substring> { #/[^\s"']*ckpt-step-\d{12}\.safetensors/# }

    /// The plan for `command`. `latestRunDirectory` is the last `run directory …` an earlier
    /// command printed; `checkpoint(path)` is the checkpoint to use for README's `path`: the same,
    /// or when README's step does not exist (the runs before were shortened), the newest in its
    /// folder.
    static func plan(
        _ command: ReadmeScript.Command, latestRunDirectory: String?, checkpoint: (String) -> String
    ) -> Plan {
        if let skip = skipped.first(where: { command.text.contains($0.match) }) { return .skip(skip.reason) }
        if command.text.contains("…") { return .skip("a sketch: … stands for what the reader fills in") }
        var text = command.text
        if let latestRunDirectory {
            text = text.replacing(exampleRunDirectory) { _ in latestRunDirectory }
        }
        text = text.replacing(checkpointPath) { match in checkpoint(String(match.output)) }
        guard command.language == "sh" else { return .run(text) }  // a python program or a file, as written
        if command.expectedOutput.isEmpty, isTraining(text), !text.contains("--limit-train"), !text.contains("--help") {
            text = appending(shortTraining, to: text)
        }
        if text.contains("scripts/bench_scaling.sh") { text = appending(shortBench, to: text) }
        return .run(text)
    }

    /// Whether `text` trains: `lockstep train`, `scripts/train.sh` or `scripts/train_cluster.sh`.
    static func isTraining(_ text: String) -> Bool {
        text.contains(#/lockstep train\b/#) || text.contains("scripts/train.sh") || text.contains("scripts/train_cluster.sh")
    }

    /// `words` added to the end of `command`, before a trailing `# comment`.
    static func appending(_ words: String, to command: String) -> String {
        let (code, comment) = splitComment(command)
        var trimmed = code
        while trimmed.last == " " { trimmed.removeLast() }
        return trimmed + " " + words + (comment.isEmpty ? "" : "   " + comment)
    }

    /// The command and its trailing comment (`# …` after a space, outside quotes).
    static func splitComment(_ command: String) -> (code: String, comment: String) {
        var quote: Character?
        var previous: Character = " "
        for index in command.indices {
            let character = command[index]
            if let open = quote {
                if character == open { quote = nil }
            } else if character == "\"" || character == "'" {
                quote = character
            } else if character == "#", previous == " " {
                return (String(command[..<index]), String(command[index...]))
            }
            previous = character
        }
        return (command, "")
    }
}
