import Foundation
import TestSupport
import XCTest

/// `--trace FILE` under real `mpirun`: the file is trace-event JSON, every rank's spans nest and
/// never overlap within a thread, every step has its passes and a reduction per bucket on every
/// rank, and the bucket reductions start before backward ends (overlap made visible).
final class TraceTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws { directory = try ProcessRunner.temporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    private func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    /// 20 steps of the default MLP (3 buckets of at most 1 MiB), 1 epoch.
    private func arguments(_ name: String, _ extra: [String] = []) -> [String] {
        ["train", "--limit-train", "2560", "--limit-test", "500", "--epochs", "1", "--run-dir", path(name),
         "--trace", path("\(name).json")] + extra
    }

    func testATwoRankTraceNestsAndShowsEveryStepsPassesAndOverlappedBuckets() throws {
        let result = try ProcessRunner.mpirun(ranks: 2, arguments("two"))
        XCTAssertEqual(result.exitCode, 0, result.combinedOutput)
        XCTAssertTrue(result.standardOutput.contains("trace \(path("two.json")): "), result.standardOutput)
        XCTAssertTrue(result.standardOutput.contains("from 2 ranks, clocks aligned to rank 0's"), result.standardOutput)
        let trace = try TraceFile(path: path("two.json"))
        XCTAssertEqual(trace.problems(buckets: 3, steps: 20, ranks: 2, overlapped: true), [])
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? ""
        XCTAssertEqual(trace.processNames, [0: "rank 0 on \(host)", 1: "rank 1 on \(host)"])
        XCTAssertEqual(trace.threadNames[0]?[0], "training")
        XCTAssertEqual(trace.threadNames[1]?[1]?.hasPrefix("bucket 0 ("), true)
        for rank in 0..<2 {
            let names = Set(trace.spans.filter { $0.pid == rank }.map(\.name))
            for name in ["data", "forward 1 linear(512) + 2 relu", "backward 5 linear(10)", "loss", "wait for reduction",
                         "optimizer", "evaluation", "checkpoint", "verification"] {
                XCTAssertTrue(names.contains(name), "rank \(rank) has no \(name) span: \(names.sorted())")
            }
        }
    }

    /// Without overlap the buckets start after backward: the overlap check sees it.
    func testWithoutOverlapTheBucketsStartAfterBackward() throws {
        let result = try ProcessRunner.mpirun(ranks: 2, arguments("plain", ["--no-overlap"]))
        XCTAssertEqual(result.exitCode, 0, result.combinedOutput)
        let trace = try TraceFile(path: path("plain.json"))
        XCTAssertEqual(trace.problems(buckets: 3, steps: 20, ranks: 2, overlapped: false), [])
        XCTAssertFalse(trace.problems(buckets: 3, steps: 20, ranks: 2, overlapped: true).isEmpty)
    }

    /// The world-size-invariant mode's exact sum shows one span per section, and a stop after a
    /// few steps still writes the trace.
    func testTheExactSumsSectionsAndAStoppedRunAreTraced() throws {
        let result = try ProcessRunner.mpirun(
            ranks: 2, arguments("exact", ["--world-size-invariant", "--micro-batch", "16", "--stop-after-steps", "7"]))
        XCTAssertEqual(result.exitCode, 0, result.combinedOutput)
        let trace = try TraceFile(path: path("exact.json"))
        XCTAssertEqual(trace.problems(buckets: 3, steps: 7, ranks: 2, overlapped: true, reduction: "exact sum"), [])
        XCTAssertEqual(trace.threadNames[0]?[1]?.hasPrefix("section 0 ("), true)
    }

    /// The checker finds what it looks for: spans that overlap on one thread, a missing bucket,
    /// a child sticking out of its parent.
    func testTheCheckerFindsBrokenTraces() throws {
        func span(_ name: String, _ start: Int64, _ end: Int64, tid: Int = 0, step: Int = 0) -> TraceFile.Span {
            .init(name: name, pid: 0, tid: tid, start: start, end: end, step: step)
        }
        let good = [
            span("step", 0, 100), span("forward", 10, 40), span("backward", 40, 90), span("allreduce", 50, 95, tid: 1),
        ]
        XCTAssertEqual(TraceFile(spans: good).problems(buckets: 1, steps: 1, ranks: 1, overlapped: true), [])
        let sticking = good + [span("backward 1 linear(4)", 80, 91)]
        XCTAssertEqual(
            TraceFile(spans: sticking).problems(buckets: 1, steps: 1, ranks: 1, overlapped: true),
            ["rank 0 thread 0: backward 1 linear(4) [80, 91] overlaps backward [40, 90] without nesting"])
        XCTAssertEqual(
            TraceFile(spans: Array(good.prefix(3))).problems(buckets: 1, steps: 1, ranks: 1, overlapped: true),
            ["rank 0 step 0: 0 allreduce spans on bucket thread 1",
             "rank 0 step 0: no bucket reduction starts before backward ends (90)"])
        let late = Array(good.prefix(3)) + [span("allreduce", 91, 95, tid: 1)]
        XCTAssertEqual(
            TraceFile(spans: late).problems(buckets: 1, steps: 1, ranks: 1, overlapped: true),
            ["rank 0 step 0: no bucket reduction starts before backward ends (90)"])
    }

    func testBadTraceSettingsAreRefusedBeforeTraining() throws {
        var result = try ProcessRunner.lockstep(arguments("zero", ["--trace-spans", "0"]))
        XCTAssertEqual(result.exitCode, 64, result.combinedOutput)
        XCTAssertTrue(result.standardError.contains("--trace-spans must be from 1 to 67,108,864 (2 GiB of spans), got 0"), result.standardError)
        try Data("x".utf8).write(to: directory.appendingPathComponent("file"))
        result = try ProcessRunner.lockstep(
            ["train", "--limit-train", "2560", "--limit-test", "500", "--epochs", "1", "--run-dir", path("blocked"),
             "--trace", path("file/trace.json")])
        XCTAssertEqual(result.exitCode, 74, result.combinedOutput)
        XCTAssertTrue(result.standardError.contains("file"), result.standardError)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("blocked")), "a run that cannot start leaves nothing behind")
        result = try ProcessRunner.lockstep(
            ["train", "--limit-train", "2560", "--limit-test", "500", "--epochs", "1", "--run-dir", path("folder"),
             "--trace", directory.path])
        XCTAssertEqual(result.exitCode, 74, result.combinedOutput)
        XCTAssertTrue(result.standardError.contains("it is a folder"), result.standardError)
        XCTAssertTrue(result.standardError.contains("hint: --trace takes a file's name, for example \(directory.path)/trace.json"), result.standardError)
    }

    /// `scripts/plot_trace.py` draws a trace into a folder it creates, and refuses a missing file
    /// with the missing-input status.
    func testThePlotScriptDrawsATraceAndRefusesAMissingOne() throws {
        let hasMatplotlib = try ProcessRunner.run("/usr/bin/env", ["python3", "-c", "import matplotlib"], timeout: 60).exitCode == 0
        if !hasMatplotlib { throw missingTool("python3 cannot import matplotlib (scripts/setup_plotting.sh installs it)") }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/plot_trace.py").path
        let training = try ProcessRunner.lockstep(arguments("one"))
        XCTAssertEqual(training.exitCode, 0, training.combinedOutput)
        let figure = path("new/folder/trace.png")
        var result = try ProcessRunner.run("/usr/bin/env", ["python3", script, path("one.json"), "-o", figure, "--steps", "2"])
        XCTAssertEqual(result.exitCode, 0, result.combinedOutput)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: figure)).prefix(4), Data([0x89, 0x50, 0x4E, 0x47]))  // a PNG
        result = try ProcessRunner.run("/usr/bin/env", ["python3", script, path("missing.json")])
        XCTAssertEqual(result.exitCode, 66, result.combinedOutput)
        XCTAssertTrue(result.standardError.contains("no such readable file"), result.standardError)
    }
}

/// A trace-event file read back, with the checks the tests make.
struct TraceFile {
    struct Span: Equatable {
        var name: String
        var pid: Int
        var tid: Int
        /// Nanoseconds (the file's microseconds have three decimals).
        var start: Int64
        var end: Int64
        var step: Int
    }

    var spans: [Span]
    var processNames: [Int: String] = [:]
    /// pid → tid → name.
    var threadNames: [Int: [Int: String]] = [:]

    init(spans: [Span]) { self.spans = spans }

    /// Reads `path`, failing on anything that is not the trace-event format's JSON object form.
    init(path: String) throws {
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path)))
        guard let events = (object as? [String: Any])?["traceEvents"] as? [[String: Any]] else {
            throw Malformed(reason: "no traceEvents array")
        }
        spans = []
        for event in events {
            guard let phase = event["ph"] as? String, let name = event["name"] as? String,
                  let pid = event["pid"] as? Int, let tid = event["tid"] as? Int
            else { throw Malformed(reason: "an event without ph, name, pid or tid: \(event)") }
            switch phase {
            case "X":
                guard let ts = event["ts"] as? Double, let dur = event["dur"] as? Double, dur >= 0,
                      let step = (event["args"] as? [String: Any])?["step"] as? Int
                else { throw Malformed(reason: "a complete event without ts, dur ≥ 0 or args.step: \(event)") }
                let start = Int64((ts * 1000).rounded())
                spans.append(Span(name: name, pid: pid, tid: tid, start: start, end: start + Int64((dur * 1000).rounded()), step: step))
            case "M":
                let value = (event["args"] as? [String: Any])?["name"] as? String
                if name == "process_name" { processNames[pid] = value }
                if name == "thread_name" { threadNames[pid, default: [:]][tid] = value }
            default:
                throw Malformed(reason: "an event of phase \(phase)")
            }
        }
    }

    struct Malformed: Error, CustomStringConvertible {
        var reason: String
        var description: String { "not a trace-event file: \(reason)" }
    }

    /// What is wrong with the trace, as lines (none: all is well):
    /// - on each rank's thread, spans either nest or follow each other;
    /// - each of `steps` steps (0 ..< steps) has a `step`, a `forward` and a `backward` on every
    ///   rank, and one `reduction` span on each bucket thread 1 … `buckets`;
    /// - with `overlapped`, in every step some bucket reduction starts before backward ends.
    func problems(buckets: Int, steps: Int, ranks: Int, overlapped: Bool, reduction: String = "allreduce") -> [String] {
        var problems: [String] = []
        for (key, thread) in Dictionary(grouping: spans, by: { [$0.pid, $0.tid] }).sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) {
            var open: [Span] = []
            for span in thread.sorted(by: { ($0.start, -$0.end) < ($1.start, -$1.end) }) {
                while let top = open.last, top.end <= span.start { open.removeLast() }
                if let top = open.last, span.end > top.end {
                    problems.append("rank \(key[0]) thread \(key[1]): \(span.name) [\(span.start), \(span.end)] overlaps \(top.name) [\(top.start), \(top.end)] without nesting")
                }
                open.append(span)
            }
        }
        for rank in 0..<ranks {
            let mine = Dictionary(grouping: spans.filter { $0.pid == rank }, by: \.step)
            for step in 0..<steps {
                let here = mine[step] ?? []
                for name in ["step", "forward", "backward"] where !here.contains(where: { $0.name == name && $0.tid == 0 }) {
                    problems.append("rank \(rank) step \(step): no \(name) span")
                }
                for bucket in 1...buckets {
                    let count = here.filter { $0.tid == bucket && $0.name == reduction }.count
                    if count != 1 { problems.append("rank \(rank) step \(step): \(count) \(reduction) spans on bucket thread \(bucket)") }
                }
                if overlapped, let backward = here.last(where: { $0.name == "backward" && $0.tid == 0 }),
                   !here.contains(where: { $0.tid > 0 && $0.start < backward.end }) {
                    problems.append("rank \(rank) step \(step): no bucket reduction starts before backward ends (\(backward.end))")
                }
            }
        }
        return problems
    }
}
