import Foundation

/// A group of `worldSize` ranks that live in one process, one thread each: every collective of
/// `Communicator`, computed exactly (sums in rank order, so every rank receives the same bits).
///
/// For tests of collective logic (agreement, verification, outcome agreement) at several world
/// sizes without `mpirun`. Not for training speed: every collective copies its bytes.
///
/// ```swift
/// let results = InProcessGroup.run(worldSize: 3) { communicator in
///     try communicator.allreduce([Double(communicator.rank)], operation: .sum)
/// }   // [.success([3.0]), .success([3.0]), .success([3.0])]
/// ```
public enum InProcessGroup {
    /// Runs `body` once per rank, each on its own thread with that rank's communicator, and
    /// returns each rank's outcome (index = rank) once every thread has finished.
    /// - Parameter timeout: seconds a collective waits for the other ranks before it throws
    ///   `InProcessGroupError.timedOut` (a rank that skipped a collective would otherwise hang the test).
    public static func run<Value>(
        worldSize: Int, timeout: Double = 30, _ body: @escaping @Sendable (InProcessCommunicator) throws -> Value
    ) -> [Result<Value, any Error>] {
        precondition(worldSize >= 1, "world size \(worldSize)")
        let exchange = Exchange(worldSize: worldSize, timeout: timeout)
        let results = ResultSlots<Value>(count: worldSize)
        let done = DispatchGroup()
        for rank in 0..<worldSize {
            done.enter()
            let thread = Thread {
                let communicator = InProcessCommunicator(rank: rank, exchange: exchange)
                results.set(rank, Result { try body(communicator) })
                done.leave()
            }
            thread.stackSize = 8 << 20
            thread.start()
        }
        done.wait()
        return results.values
    }
}

/// A collective of an `InProcessGroup` that did not complete.
public enum InProcessGroupError: Error, Equatable, CustomStringConvertible {
    /// Not every rank joined the collective within the group's timeout.
    case timedOut(rank: Int, seconds: Double)
    /// The ranks called collectives with different byte counts where the counts must match.
    case countMismatch(rank: Int, counts: [Int])

    public var description: String {
        switch self {
        case let .timedOut(rank, seconds): "rank \(rank): a collective waited \(seconds) s for the other ranks"
        case let .countMismatch(rank, counts): "rank \(rank): a collective got byte counts \(counts) from the ranks"
        }
    }
}

/// One rank of an `InProcessGroup`.
public final class InProcessCommunicator: Communicator, @unchecked Sendable {
    public let rank: Int
    public var worldSize: Int { exchange.worldSize }
    fileprivate let exchange: Exchange

    fileprivate init(rank: Int, exchange: Exchange) {
        self.rank = rank
        self.exchange = exchange
    }

    public func allreduce(_ buffer: UnsafeMutableBufferPointer<Float>, operation: ReductionOperation) throws {
        try reduce(buffer, operation)
    }

    public func allreduce(_ buffer: UnsafeMutableBufferPointer<Double>, operation: ReductionOperation) throws {
        try reduce(buffer, operation)
    }

    public func allreduce(_ buffer: UnsafeMutableBufferPointer<Int64>, operation: ReductionOperation) throws {
        try reduce(buffer, operation)
    }

    public func sumByReduceScatterAllgather(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        try reduce(buffer, .sum)
    }

    /// The ranks of a group are one node: the sum in rank order.
    public func sumHierarchically(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        try reduce(buffer, .sum)
    }

    /// Completes at once: the sum is computed when it starts (every rank must start it, in the
    /// same order, as with MPI).
    public func startSumAllreduce(_ buffer: UnsafeMutableBufferPointer<Float>) throws -> PendingCollective {
        try reduce(buffer, .sum)
        return CompletedCollective()
    }

    public func startAllreduce(
        _ buffer: UnsafeMutableBufferPointer<Int64>, operation: ReductionOperation
    ) throws -> PendingCollective {
        try reduce(buffer, operation)
        return CompletedCollective()
    }

    public func startAllreduce(
        _ buffer: UnsafeMutableBufferPointer<Int32>, operation: ReductionOperation
    ) throws -> PendingCollective {
        try reduce(buffer, operation)
        return CompletedCollective()
    }

    /// Completes at once, with the ring's order of `MPICommunicator` for this rank's block.
    public func startSumReduceScatter(
        _ buffer: UnsafeMutableBufferPointer<Float>, blockCounts: [Int64], scratch: UnsafeMutableBufferPointer<Float>,
        tag: Int
    ) throws -> PendingCollective {
        checkBlocks(blockCounts, of: buffer)
        let all = try exchange.exchange(rank: rank, Array(UnsafeRawBufferPointer(buffer)))
        try checkCounts(all)
        let start = Int(blockCounts[..<rank].reduce(0, +)), count = Int(blockCounts[rank])
        let order = (1...worldSize).map { (rank + $0) % worldSize }  // rank + 1, …, rank
        for index in start..<(start + count) {
            var sum = Self.float(all[order[0]], index)
            for other in order.dropFirst() { sum = sum + Self.float(all[other], index) }
            buffer[index] = sum
        }
        return CompletedCollective()
    }

    public func allgather(inPlace buffer: UnsafeMutableBufferPointer<Float>, blockCounts: [Int64]) throws {
        checkBlocks(blockCounts, of: buffer)
        let all = try exchange.exchange(rank: rank, Array(UnsafeRawBufferPointer(buffer)))
        try checkCounts(all)
        var start = 0
        for (owner, count) in blockCounts.enumerated() {
            for index in start..<(start + Int(count)) { buffer[index] = Self.float(all[owner], index) }
            start += Int(count)
        }
    }

    public func gather(
        _ block: UnsafeBufferPointer<Float>, into receive: UnsafeMutableBufferPointer<Float>?, blockCounts: [Int64], root: Int
    ) throws {
        checkGather(block, into: receive, blockCounts: blockCounts, root: root)
        let all = try exchange.exchange(rank: rank, Array(UnsafeRawBufferPointer(block)))
        guard rank == root, let receive else { return }
        var start = 0
        for (owner, count) in blockCounts.enumerated() {
            for index in 0..<Int(count) { receive[start + index] = Self.float(all[owner], index) }
            start += Int(count)
        }
    }

    private static func float(_ bytes: [UInt8], _ index: Int) -> Float {
        bytes.withUnsafeBytes { $0.load(fromByteOffset: index * MemoryLayout<Float>.stride, as: Float.self) }
    }

    public func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int) throws {
        precondition((0..<worldSize).contains(root), "broadcast root \(root) in a world of \(worldSize)")
        let all = try exchange.exchange(rank: rank, Array(UnsafeRawBufferPointer(bytes)))
        try checkCounts(all)
        all[root].withUnsafeBytes { bytes.copyMemory(from: $0) }
    }

    public func allgather(_ send: UnsafeRawBufferPointer, into receive: UnsafeMutableRawBufferPointer) throws {
        precondition(receive.count == send.count * worldSize,
                     "allgather: receive has \(receive.count) bytes, expected \(send.count) × \(worldSize)")
        let all = try exchange.exchange(rank: rank, Array(send))
        try checkCounts(all)
        let joined = all.flatMap { $0 }
        joined.withUnsafeBytes { receive.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0.prefix(receive.count))) }
    }

    public func barrier() throws { _ = try exchange.exchange(rank: rank, []) }

    /// There is no process to end from one thread: a rank that aborts is a bug in the code under test.
    public func abort(exitCode: Int32) -> Never {
        preconditionFailure("rank \(rank) of an in-process group called abort(exitCode: \(exitCode))")
    }

    public var abortFromAnyThread: @Sendable (Int32) -> Never {
        { [rank] code in preconditionFailure("rank \(rank) of an in-process group called abort(exitCode: \(code))") }
    }

    public func wallTime() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    public func finalize() throws { try barrier() }

    // MARK: - Exact reduction in rank order

    private func reduce<Element: Numeric & Comparable>(
        _ buffer: UnsafeMutableBufferPointer<Element>, _ operation: ReductionOperation
    ) throws {
        let all = try exchange.exchange(rank: rank, Array(UnsafeRawBufferPointer(buffer)))
        try checkCounts(all)
        for index in buffer.indices {
            var value = all[0].withUnsafeBytes { $0.load(fromByteOffset: index * MemoryLayout<Element>.stride, as: Element.self) }
            for other in all.dropFirst() {
                let next = other.withUnsafeBytes { $0.load(fromByteOffset: index * MemoryLayout<Element>.stride, as: Element.self) }
                switch operation {
                case .sum: value += next
                case .max: value = Swift.max(value, next)
                case .min: value = Swift.min(value, next)
                }
            }
            buffer[index] = value
        }
    }

    private func checkCounts(_ all: [[UInt8]]) throws {
        guard Set(all.map(\.count)).count == 1 else { throw InProcessGroupError.countMismatch(rank: rank, counts: all.map(\.count)) }
    }
}

/// The meeting point of a group's ranks: each collective is one round in which every rank leaves
/// its bytes and takes everyone's. A rank that finishes a round early waits for the others to
/// take their copies before it can start the next.
private final class Exchange: @unchecked Sendable {
    let worldSize: Int
    let timeout: Double
    private let condition = NSCondition()
    private var slots: [[UInt8]?]
    private var arrived = 0
    private var taken = 0
    private var draining = false

    init(worldSize: Int, timeout: Double) {
        self.worldSize = worldSize
        self.timeout = timeout
        slots = Array(repeating: nil, count: worldSize)
    }

    /// Leaves `bytes` as `rank`'s and returns every rank's (index = rank).
    func exchange(rank: Int, _ bytes: [UInt8]) throws -> [[UInt8]] {
        condition.lock()
        defer { condition.unlock() }
        let deadline = Date(timeIntervalSinceNow: timeout)
        while draining {  // the previous round is still being read
            guard condition.wait(until: deadline) else { throw InProcessGroupError.timedOut(rank: rank, seconds: timeout) }
        }
        slots[rank] = bytes
        arrived += 1
        if arrived == worldSize {
            draining = true
            condition.broadcast()
        }
        while !draining {
            guard condition.wait(until: deadline) else { throw InProcessGroupError.timedOut(rank: rank, seconds: timeout) }
        }
        let all = slots.map { $0! }
        taken += 1
        if taken == worldSize {
            slots = Array(repeating: nil, count: worldSize)
            arrived = 0
            taken = 0
            draining = false
            condition.broadcast()
        }
        return all
    }
}

/// Each rank's outcome, written once by its thread.
private final class ResultSlots<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var slots: [Result<Value, any Error>?]

    init(count: Int) { slots = Array(repeating: nil, count: count) }

    func set(_ index: Int, _ result: Result<Value, any Error>) {
        lock.lock()
        slots[index] = result
        lock.unlock()
    }

    var values: [Result<Value, any Error>] {
        lock.lock()
        defer { lock.unlock() }
        return slots.map { $0! }
    }
}
