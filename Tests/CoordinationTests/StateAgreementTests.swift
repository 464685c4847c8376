import Collectives
import Coordination
import XCTest

/// Rank 0's state as the source of truth, at 1-4 ranks: equal copies pass untouched; a rank whose
/// copy differs is named (with the piece), and every rank ends with rank 0's bytes.
final class StateAgreementTests: XCTestCase {
    /// Runs the agreement on two pieces ("parameters", "optimizer.momentum_buffer") of 5 floats;
    /// `differs(rank)` makes that rank's parameters differ in one element. Returns each rank's
    /// parameters after the agreement.
    private static func agree(_ communicator: InProcessCommunicator, differs: (Int) -> Bool) throws -> [Float] {
        var parameters: [Float] = [1, 2, 3, 4, 5]
        var momentum: [Float] = [0.5, 0.25, 0, -1, 8]
        if differs(communicator.rank) { parameters[3] = Float(communicator.rank) * 100 }
        try parameters.withUnsafeMutableBytes { p in
            try momentum.withUnsafeMutableBytes { m in
                try StateAgreement(communicator: communicator).agree(
                    on: [.init(name: "parameters", bytes: p), .init(name: "optimizer.momentum_buffer", bytes: m)],
                    step: 7, context: "test")
            }
        }
        return parameters
    }

    func testEqualCopiesAgree() throws {
        try eachWorldSize({ try Self.agree($0) { _ in false } }) { size, results in
            for result in results { XCTAssertEqual(try result.get(), [1, 2, 3, 4, 5], "world of \(size)") }
        }
    }

    func testARankWhoseCopyDiffersIsNamedAndEveryRankEndsWithRankZerosBytes() throws {
        try eachWorldSize(sizes: [2, 3, 4], { communicator in
            do {
                _ = try Self.agree(communicator) { $0 == 1 }
                return (nil as LockstepViolation?, [Float]())
            } catch let violation as LockstepViolation {
                return (violation, [])
            }
        }) { size, results in
            let expected = LockstepViolation(
                step: 7, context: "test", differingParts: ["parameters"],
                rankGroups: [Array(0..<size).filter { $0 != 1 }, [1]])
            for result in results { XCTAssertEqual(try result.get().0, expected, "world of \(size)") }
        }
    }

    func testTheAgreedBytesAreRankZerosEvenWhenTheCheckFails() throws {
        try eachWorldSize(sizes: [2, 3, 4], { communicator -> [Float] in
            var parameters: [Float] = [Float(communicator.rank), 1]
            try? parameters.withUnsafeMutableBytes {
                try StateAgreement(communicator: communicator).agree(
                    on: [.init(name: "parameters", bytes: $0)], step: 0, context: "test")
            }
            return parameters
        }) { _, results in
            for result in results { XCTAssertEqual(try result.get(), [0, 1]) }
        }
    }

    func testAnEncodedValueThatDiffersOnOneRankIsNamed() throws {
        try eachWorldSize(sizes: [1, 2, 3, 4], { communicator in
            let encoded = Array((communicator.rank == 2 ? "{\"step\":4}" : "{\"step\":3}").utf8)
            try StateAgreement(communicator: communicator).agree(onEncoded: encoded, name: "schedule state", step: 3, context: "start")
        }) { size, results in
            for result in results {
                if size <= 2 {
                    XCTAssertNil(result.error)
                } else {
                    XCTAssertEqual(
                        (result.error as? LockstepViolation)?.description,
                        "lockstep violation at step 3 (start): schedule state differ: ranks \((0..<size).filter { $0 != 2 }.map(String.init).joined(separator: ",")) vs ranks 2")
                }
            }
        }
    }
}
