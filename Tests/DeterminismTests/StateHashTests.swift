import Determinism
import XCTest

final class StateHashTests: XCTestCase {
    private func hash(_ values: [Float]) -> UInt64 {
        var hasher = StateHash()
        values.withUnsafeBytes { hasher.combine(bytes: $0) }
        return hasher.finalize()
    }

    func testEverySingleBitFlipChangesTheHash() {
        let values: [Float] = (0..<37).map { Float($0) * 0.25 - 3 }  // odd count: exercises the tail
        let reference = hash(values)
        for index in values.indices {
            for bit in 0..<32 {
                var flipped = values
                flipped[index] = Float(bitPattern: flipped[index].bitPattern ^ (1 << UInt32(bit)))
                XCTAssertNotEqual(hash(flipped), reference, "flip of bit \(bit) in element \(index)")
            }
        }
    }

    func testLengthAndOrderMatter() {
        XCTAssertNotEqual(hash([1, 2]), hash([2, 1]))
        XCTAssertNotEqual(hash([0]), hash([0, 0]))
        XCTAssertEqual(hash([1, 2, 3]), hash([1, 2, 3]))
    }

    func testHexIsSixteenDigits() {
        XCTAssertEqual(StateHash.hex(0xAB), "00000000000000ab")
        XCTAssertEqual(StateHash.hex(UInt64.max), "ffffffffffffffff")
    }
}
