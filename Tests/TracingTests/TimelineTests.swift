import Foundation
import XCTest

@testable import Tracing

/// The ring of spans and the trace-event JSON built from it.
final class TimelineTests: XCTestCase {
    func testTheRingKeepsTheNewestSpansOldestFirstAndCountsTheDropped() {
        let timeline = Timeline(capacity: 3)
        let name = timeline.name("step")
        for step in 0..<5 {
            timeline.step = Int64(step)
            timeline.record(name, from: UInt64(step * 10), to: UInt64(step * 10 + 5))
        }
        XCTAssertEqual(timeline.spans.map(\.step), [2, 3, 4])
        XCTAssertEqual(timeline.spans.map(\.start), [20, 30, 40])
        XCTAssertEqual(timeline.droppedCount, 2)
        XCTAssertEqual(timeline.recordedCount, 5)
    }

    func testNamesAreRegisteredOnce() {
        let timeline = Timeline(capacity: 1)
        XCTAssertEqual(timeline.name("forward"), timeline.name("forward"))
        XCTAssertNotEqual(timeline.name("forward").id, timeline.name("backward").id)
        XCTAssertEqual(timeline.names, ["forward", "backward"])
    }

    func testTheClockMovesForward() {
        let first = Timeline.now(), second = Timeline.now()
        XCTAssertGreaterThanOrEqual(second, first)
        XCTAssertGreaterThan(first, 0)
    }

    func testMicrosecondsAreExactToTheNanosecond() {
        XCTAssertEqual(ChromeTrace.microseconds(0), "0.000")
        XCTAssertEqual(ChromeTrace.microseconds(7), "0.007")
        XCTAssertEqual(ChromeTrace.microseconds(1_234_567), "1234.567")
        XCTAssertEqual(ChromeTrace.microseconds(-1_050), "-1.050")
        XCTAssertEqual(ChromeTrace.microseconds(9_007_199_254_740_993), "9007199254740.993")  // beyond Double's 2^53
    }

    func testStringsAreEscapedAsJSON() throws {
        let text = "a \"b\" \\ c\n\t\u{1}é"
        let decoded = try JSONSerialization.jsonObject(with: Data("[\(ChromeTrace.quoted(text))]".utf8)) as? [String]
        XCTAssertEqual(decoded, [text])
    }

    /// Two ranks, rank 1's clock 1 ms ahead of rank 0's: the JSON parses, names every process and
    /// thread, and puts rank 1's spans on rank 0's clock, counted from the earliest span.
    func testTheJSONHasEveryRankOnRankZerosClock() throws {
        let span = { (start: UInt64, end: UInt64, thread: UInt32) in
            Timeline.Span(start: start, end: end, step: 7, name: 0, thread: thread)
        }
        let ranks = [
            ChromeTrace.RankTrace(
                rank: 0, host: "h0", names: ["step"], threadNames: [0: "training"],
                spans: [span(5_000, 9_500, 0)], clockOffset: 0, droppedCount: 0),
            ChromeTrace.RankTrace(
                rank: 1, host: "h\"1", names: ["allreduce"], threadNames: [0: "training", 1: "bucket 0"],
                spans: [span(1_006_000, 1_007_250, 1)], clockOffset: 1_000_000, droppedCount: 0),
        ]
        let object = try JSONSerialization.jsonObject(
            with: Data(ChromeTrace.json(ranks, notes: [("clock", "aligned")]).utf8)) as! [String: Any]
        XCTAssertEqual((object["otherData"] as? [String: String])?["clock"], "aligned")
        let events = object["traceEvents"] as! [[String: Any]]
        let complete = events.filter { $0["ph"] as? String == "X" }
        XCTAssertEqual(complete.map { $0["name"] as? String }, ["step", "allreduce"])
        XCTAssertEqual(complete.map { $0["ts"] as? Double }, [0, 1])  // µs from rank 0's first span
        XCTAssertEqual(complete.map { $0["dur"] as? Double }, [4.5, 1.25])
        XCTAssertEqual(complete.map { $0["pid"] as? Int }, [0, 1])
        XCTAssertEqual(complete.map { $0["tid"] as? Int }, [0, 1])
        XCTAssertEqual(complete.map { ($0["args"] as? [String: Int])?["step"] }, [7, 7])
        let processNames = events.filter { $0["name"] as? String == "process_name" }
            .map { ($0["args"] as? [String: String])?["name"] }
        XCTAssertEqual(processNames, ["rank 0 on h0", "rank 1 on h\"1"])
        let threadNames = events.filter { $0["name"] as? String == "thread_name" }.map { ($0["args"] as? [String: String])?["name"] }
        XCTAssertEqual(threadNames, ["training", "training", "bucket 0"])
    }
}
