#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What one rank did and when: spans (a name, a thread, the global step, a start and an end on
/// this process's monotonic clock, in nanoseconds) kept in a ring allocated once, so recording
/// a span allocates nothing and does no I/O (README "Timeline"). When the ring is full the
/// oldest spans give way (`droppedCount` says how many).
///
/// Names and threads are registered at set-up (`name(_:)`, `nameThread(_:_:)`); during training
/// only `now()` and `record` run. Not thread-safe: one training thread records.
/// `ChromeTrace` turns the spans of every rank into the trace-event JSON that Perfetto and
/// `chrome://tracing` open.
public final class Timeline {
    /// One finished span, 32 bytes.
    public struct Span: Equatable, Sendable {
        /// On this process's monotonic clock (`CLOCK_MONOTONIC`), in nanoseconds.
        public var start: UInt64
        public var end: UInt64
        /// The global step the span belongs to (the step in progress, or the last one taken).
        public var step: Int64
        /// An index into `names`.
        public var name: UInt32
        /// 0: the training thread; other threads are lanes such as one per gradient bucket.
        public var thread: UInt32

        public init(start: UInt64, end: UInt64, step: Int64, name: UInt32, thread: UInt32) {
            self.start = start
            self.end = end
            self.step = step
            self.name = name
            self.thread = thread
        }
    }

    /// A registered span name.
    public struct Name: Hashable, Sendable {
        public let id: UInt32
        /// A placeholder until a name is registered (`name(_:)` gives real ones).
        public static let unregistered = Name(id: 0)
    }

    /// The ring: span `i` (counting from the first ever recorded) is at `i % capacity`.
    private let ring: UnsafeMutableBufferPointer<Span>
    /// Spans recorded since the start, kept or not.
    public private(set) var recordedCount = 0
    /// The registered names (index = `Name.id`).
    public private(set) var names: [String] = []
    private var nameIDs: [String: UInt32] = [:]
    /// Names of the threads other than 0 ("training"), by thread number.
    public private(set) var threadNames: [UInt32: String] = [0: "training"]
    /// The global step in progress; spans record it.
    public var step: Int64 = 0

    /// The largest ring: 2^26 spans (2 GiB).
    public static let maximumCapacity = 1 << 26

    /// A ring of `capacity` spans (32 bytes each), allocated now.
    public init(capacity: Int) {
        precondition(capacity > 0 && capacity <= Self.maximumCapacity, "timeline capacity \(capacity)")
        ring = .allocate(capacity: capacity)
    }

    deinit { ring.deallocate() }

    public var capacity: Int { ring.count }
    /// Spans that gave way to newer ones.
    public var droppedCount: Int { max(0, recordedCount - ring.count) }

    /// The name `text`, registered on first use. Allocates: call at set-up.
    public func name(_ text: String) -> Name {
        if let id = nameIDs[text] { return Name(id: id) }
        let id = UInt32(names.count)
        names.append(text)
        nameIDs[text] = id
        return Name(id: id)
    }

    /// Calls thread `thread` `text` in the trace (thread 0 is "training").
    public func nameThread(_ thread: UInt32, _ text: String) { threadNames[thread] = text }

    /// Now on the monotonic clock, in nanoseconds.
    @inline(__always)
    public static func now() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) &* 1_000_000_000 &+ UInt64(time.tv_nsec)
    }

    /// Records a span of `name` on `thread` from `start` to `end` (`now()` by default), at the
    /// current `step`. Allocates nothing.
    @inline(__always)
    public func record(_ name: Name, from start: UInt64, to end: UInt64 = Timeline.now(), thread: UInt32 = 0) {
        ring[recordedCount % ring.count] = Span(start: start, end: end, step: step, name: name.id, thread: thread)
        recordedCount += 1
    }

    /// The spans kept, oldest first (in the order they ended).
    public var spans: [Span] {
        let kept = min(recordedCount, ring.count), first = recordedCount - kept
        return (first..<recordedCount).map { ring[$0 % ring.count] }
    }
}
