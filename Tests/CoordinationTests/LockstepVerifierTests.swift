import Collectives
import Coordination
import Determinism
import XCTest

/// Verification at 1-4 ranks: equal states give the same combined hash on every rank; a flipped
/// bit on any rank is caught, naming the part and grouping the ranks by their hashes.
final class LockstepVerifierTests: XCTestCase {
    private static func parts(flipOn flipped: Int?, rank: Int) -> [LockstepVerifier.Part] {
        var parameters: [Float] = [0.5, -1.25, 3]
        if rank == flipped { parameters[1] = Float(bitPattern: parameters[1].bitPattern ^ 1) }
        return [
            .init(name: "parameters", hash: parameters.withUnsafeBytes { LockstepVerifier.hash(bytes: $0) }),
            .init(name: "counters", hash: LockstepVerifier.hash(words: [12, 12, 0, 0.1.bitPattern])),
        ]
    }

    func testEqualStatesVerifyWithTheSameCombinedHashEverywhere() throws {
        try eachWorldSize({ communicator in
            try LockstepVerifier(communicator: communicator).verify(
                Self.parts(flipOn: nil, rank: communicator.rank), step: 12, context: "final check")
        }) { size, results in
            let hashes = results.compactMap { try? $0.get() }
            XCTAssertEqual(hashes.count, size)
            XCTAssertEqual(Set(hashes).count, 1, "world of \(size)")
            let local = Self.parts(flipOn: nil, rank: 0).map(\.hash)
            XCTAssertEqual(hashes.first, LockstepVerifier.hash(words: local), "the hash of the parts' hashes")
        }
    }

    func testOneFlippedBitOnAnyRankIsCaughtOnEveryRank() throws {
        for size in [2, 3, 4] {
            for flipped in 0..<size {
                let results = InProcessGroup.run(worldSize: size, timeout: 20) { communicator in
                    try LockstepVerifier(communicator: communicator).verify(
                        Self.parts(flipOn: flipped, rank: communicator.rank), step: 40, context: "periodic check")
                }
                let others = (0..<size).filter { $0 != flipped }
                let expected = LockstepViolation(
                    step: 40, context: "periodic check", differingParts: ["parameters"],
                    rankGroups: flipped == 0 ? [[0], others] : [others, [flipped]])
                for result in results { XCTAssertEqual(result.error as? LockstepViolation, expected, "\(flipped) of \(size)") }
            }
        }
    }

    func testTheHashOfBytesIsTheStateHashOfThoseBytes() throws {
        let bytes: [UInt8] = [1, 2, 3, 4, 5]
        var hasher = StateHash()
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
        XCTAssertEqual(bytes.withUnsafeBytes { LockstepVerifier.hash(bytes: $0) }, hasher.finalize())
        XCTAssertNotEqual(LockstepVerifier.hash(words: [1]), LockstepVerifier.hash(words: [2]))
    }
}
