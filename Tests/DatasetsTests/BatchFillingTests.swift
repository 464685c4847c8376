import Datasets
import TestSupport
import XCTest

/// `fillBatch`: gathering samples and normalising pixels exactly as `Float(pixel) / 255`.
final class BatchFillingTests: XCTestCase {
    func testNormalisationIsExact() {
        let data = LabeledSamples(rows: 1, columns: 4, classCount: 10, pixels: [0, 255, 128, 1], labels: [7])
        let features = fill(data, indices: [0]).features
        XCTAssertEqual(features[0], 0)
        XCTAssertEqual(features[1], 1.0)  // exactly 1, not 0.99999994
        // numpy: (np.array([128, 1], np.uint8).astype(np.float32) / 255.0) -> float.hex gives
        // 0x1.0101020000000p-1 (0.501960813999176) and 0x1.0101020000000p-8 (0.003921568859368563).
        XCTAssertEqual(features[2], 0x1.010102p-1)
        XCTAssertEqual(features[3], 0x1.010102p-8)
    }

    /// Every byte value against an independent reference: the quotient in `Double`, rounded to
    /// `Float`. Double rounding is innocuous for division when 53 ≥ 2·24 + 2 (Figueroa, "When is
    /// double rounding innocuous?", SIGNUM 1995), so this equals the correctly rounded `Float`
    /// quotient. Multiplying by `1/255` instead differs for 126 of the 256 bytes, e.g. byte 3:
    /// numpy gives 0x1.818182p-7 for `float32(3) / 255` but 0x1.818184p-7 for `float32(3) * float32(1/255)`.
    func testEveryByteValueIsTheCorrectlyRoundedQuotient() {
        let bytes = (0...255).map { UInt8($0) }
        let data = LabeledSamples(rows: 16, columns: 16, classCount: 10, pixels: bytes, labels: [0])
        let features = fill(data, indices: [0]).features
        for byte in 0...255 {
            XCTAssertEqual(features[byte], Float(Double(byte) / 255), "byte \(byte)")
        }
        XCTAssertEqual(features[3], 0x1.818182p-7)
        XCTAssertNotEqual(features[3], Float(3) * (Float(1) / 255))
    }

    func testGathersInTheOrderOfTheIndices() {
        let data = LabeledSamples(
            rows: 1, columns: 2, classCount: 10, pixels: [0, 51, 102, 153, 204, 255], labels: [4, 5, 6])
        let (features, labels) = fill(data, indices: [2, 0, 2])
        XCTAssertEqual(labels, [6, 4, 6])
        XCTAssertEqual(features, [0.8, 1.0, 0.0, 0.2, 0.8, 1.0])  // 204/255 = 0.8, 51/255 = 0.2 in Float
    }

    /// Real test images against numpy: `x = images.astype(np.float32) / 255.0`, then
    /// `x[i].astype(np.float64).sum()` and `float(x[i, 350])`.
    func testRealImagesMatchNumpy() throws {
        let data = try FashionMNIST.load(.test)
        let (features, labels) = fill(data, indices: [0, 9999, 4321])
        XCTAssertEqual(labels[0], 9)
        let expected: [(sum: Double, pixel350: Float)] = [
            (131.20000365097076, 0.45098039507865906),
            (95.64706127205864, 0.33725491166114807),
            (178.91372991120443, 0.0),
        ]
        for (row, reference) in expected.enumerated() {
            let image = features[(row * 784)..<((row + 1) * 784)]
            // Summation order differs from numpy's pairwise sum: agree to rounding in Double.
            assertClose(image.reduce(0) { $0 + Double($1) }, reference.sum, relative: 1e-13, "image \(row)")
            XCTAssertEqual(image[row * 784 + 350], reference.pixel350, "image \(row)")
        }
    }

    private func fill(_ data: LabeledSamples, indices: [Int32]) -> (features: [Float], labels: [Int32]) {
        var features = [Float](repeating: -1, count: indices.count * data.featureCount)
        var labels = [Int32](repeating: -1, count: indices.count)
        indices.withUnsafeBufferPointer { indexBuffer in
            features.withUnsafeMutableBufferPointer { featureBuffer in
                labels.withUnsafeMutableBufferPointer { labelBuffer in
                    data.fillBatch(
                        indices: indexBuffer, features: featureBuffer.baseAddress!, labels: labelBuffer.baseAddress!)
                }
            }
        }
        return (features, labels)
    }
}
