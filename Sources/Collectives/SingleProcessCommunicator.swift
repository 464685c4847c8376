#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A `Communicator` for a world of one rank: every collective is the identity.
///
/// Lets a single process run the exact code path a distributed run does, without MPI.
public final class SingleProcessCommunicator: Communicator {
    public let rank = 0
    public let worldSize = 1
    private let clockOrigin = DispatchTime.now().uptimeNanoseconds

    public init() {}

    public func allreduce(_ buffer: UnsafeMutableBufferPointer<Float>, operation: ReductionOperation) throws {}
    public func allreduce(_ buffer: UnsafeMutableBufferPointer<Double>, operation: ReductionOperation) throws {}
    public func allreduce(_ buffer: UnsafeMutableBufferPointer<Int64>, operation: ReductionOperation) throws {}
    public func sumByReduceScatterAllgather(_ buffer: UnsafeMutableBufferPointer<Float>) throws {}
    public func sumHierarchically(_ buffer: UnsafeMutableBufferPointer<Float>) throws {}

    public func startSumAllreduce(_ buffer: UnsafeMutableBufferPointer<Float>) throws -> PendingCollective {
        completed  // one shared instance: starting a reduction allocates nothing
    }

    public func startAllreduce(
        _ buffer: UnsafeMutableBufferPointer<Int64>, operation: ReductionOperation
    ) throws -> PendingCollective {
        completed
    }

    public func startAllreduce(
        _ buffer: UnsafeMutableBufferPointer<Int32>, operation: ReductionOperation
    ) throws -> PendingCollective {
        completed
    }

    public func startSumReduceScatter(
        _ buffer: UnsafeMutableBufferPointer<Float>, blockCounts: [Int64], scratch: UnsafeMutableBufferPointer<Float>,
        tag: Int
    ) throws -> PendingCollective {
        completed
    }

    public func allgather(inPlace buffer: UnsafeMutableBufferPointer<Float>, blockCounts: [Int64]) throws {}

    public func gather(
        _ block: UnsafeBufferPointer<Float>, into receive: UnsafeMutableBufferPointer<Float>?, blockCounts: [Int64], root: Int
    ) throws {
        checkGather(block, into: receive, blockCounts: blockCounts, root: root)
        _ = receive?.update(fromContentsOf: block)
    }

    private let completed = CompletedCollective()

    public func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int) throws {
        precondition(root == 0, "broadcast root \(root) outside a world of size 1")
    }

    public func allgather(_ send: UnsafeRawBufferPointer, into receive: UnsafeMutableRawBufferPointer) throws {
        precondition(receive.count == send.count, "allgather: receive has \(receive.count) bytes, expected \(send.count)")
        receive.copyMemory(from: send)
    }

    public func barrier() throws {}

    public func finalize() throws {}

    public func abort(exitCode: Int32) -> Never { exit(exitCode) }

    public var abortFromAnyThread: @Sendable (Int32) -> Never { { exit($0) } }

    public func wallTime() -> Double {
        Double(DispatchTime.now().uptimeNanoseconds - clockOrigin) / 1e9
    }
}

final class CompletedCollective: PendingCollective {
    func test() throws -> Bool { true }
    func wait() throws {}
}
