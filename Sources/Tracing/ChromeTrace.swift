/// The Chrome trace-event format (the JSON object form that Perfetto, `chrome://tracing` and
/// Speedscope open): one process per rank, named `rank R on HOST`, its threads named, and each
/// span a complete event (`"ph": "X"`) with `ts` and `dur` in microseconds and the global step
/// as `args.step`. Format: "Trace Event Format", Google, https://docs.google.com/document/d/1CvAClvFfyA5R-PhYUmn5OOQtYMH4h6I0nSsKchNAySU
///
/// Timestamps are the ranks' monotonic clocks moved onto rank 0's by each rank's measured
/// offset (`RankTrace.clockOffset`), counted from the earliest span of the run, and written
/// with three decimals (whole nanoseconds), so a span recorded inside another stays inside it.
public enum ChromeTrace {
    /// One rank's timeline, as gathered.
    public struct RankTrace: Sendable {
        public var rank: Int
        public var host: String
        public var names: [String]
        public var threadNames: [UInt32: String]
        public var spans: [Timeline.Span]
        /// Nanoseconds to subtract from this rank's clock to get rank 0's.
        public var clockOffset: Int64
        public var droppedCount: Int

        public init(
            rank: Int, host: String, names: [String], threadNames: [UInt32: String], spans: [Timeline.Span],
            clockOffset: Int64, droppedCount: Int
        ) {
            self.rank = rank
            self.host = host
            self.names = names
            self.threadNames = threadNames
            self.spans = spans
            self.clockOffset = clockOffset
            self.droppedCount = droppedCount
        }
    }

    /// The trace-event JSON of `ranks`; `notes` go into `otherData` as strings.
    public static func json(_ ranks: [RankTrace], notes: [(String, String)] = []) -> String {
        let origin = ranks.flatMap { rank in rank.spans.map { Int64(bitPattern: $0.start) - rank.clockOffset } }.min() ?? 0
        var out = "{\"displayTimeUnit\":\"ms\",\"otherData\":{"
        out += notes.map { "\(quoted($0.0)):\(quoted($0.1))" }.joined(separator: ",")
        out += "},\"traceEvents\":[\n"
        var first = true
        func emit(_ event: String) {
            if !first { out += ",\n" }
            first = false
            out += event
        }
        for rank in ranks {
            let pid = rank.rank
            emit("{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":\(pid),\"tid\":0,\"args\":{\"name\":\(quoted("rank \(rank.rank) on \(rank.host)"))}}")
            emit("{\"ph\":\"M\",\"name\":\"process_sort_index\",\"pid\":\(pid),\"tid\":0,\"args\":{\"sort_index\":\(pid)}}")
            for (thread, name) in rank.threadNames.sorted(by: { $0.key < $1.key }) {
                emit("{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":\(pid),\"tid\":\(thread),\"args\":{\"name\":\(quoted(name))}}")
                emit("{\"ph\":\"M\",\"name\":\"thread_sort_index\",\"pid\":\(pid),\"tid\":\(thread),\"args\":{\"sort_index\":\(thread)}}")
            }
            let names = rank.names.map(quoted)
            for span in rank.spans {
                let start = Int64(bitPattern: span.start) - rank.clockOffset - origin
                let duration = Int64(bitPattern: span.end &- span.start)
                let name = Int(span.name) < names.count ? names[Int(span.name)] : "\"?\""
                emit("{\"ph\":\"X\",\"name\":\(name),\"pid\":\(pid),\"tid\":\(span.thread),\"ts\":\(microseconds(start)),\"dur\":\(microseconds(duration)),\"args\":{\"step\":\(span.step)}}")
            }
        }
        out += "\n]}\n"
        return out
    }

    /// `nanoseconds` as microseconds with three decimals, exactly (no floating point).
    public static func microseconds(_ nanoseconds: Int64) -> String {
        let sign = nanoseconds < 0 ? "-" : "", magnitude = nanoseconds.magnitude
        let fraction = String(magnitude % 1000)
        return "\(sign)\(magnitude / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)"
    }

    /// `text` as a JSON string (RFC 8259 §7).
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
