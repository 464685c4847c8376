import Models
import XCTest

final class ModelFootprintTests: XCTestCase {
    func testTheParameterCountIsTheLayouts() throws {
        for sizes in [[784, 512, 256, 10], [784, 10], [3, 1, 4, 1, 5]] {
            XCTAssertEqual(try ModelFootprint(layerSizes: sizes).parameterCount, ParameterLayout(layerSizes: sizes).parameterCount)
        }
        // 784·512 + 512 + 512·256 + 256 + 256·10 + 10, by hand.
        XCTAssertEqual(try ModelFootprint(layerSizes: [784, 512, 256, 10]).parameterCount, 535_818)
    }

    func testTrainingBytesCountEveryBuffer() throws {
        // [4, 3, 2]: 4·3 + 3 + 3·2 + 2 = 23 parameters; SGD momentum: 3 copies (parameters,
        // gradients, momentum) = 276 bytes; 10 rows × (4 + 3 + 2 + 2·4) floats = 680 bytes.
        let footprint = try ModelFootprint(layerSizes: [4, 3, 2])
        XCTAssertEqual(footprint.trainingBytes(optimizerBuffers: 1, batchSize: 10), 276 + 680)
    }

    func testSizesBeyondAnIntOrOneCollectiveAreRefusedNotTrapped() {
        XCTAssertThrowsError(try ModelFootprint(layerSizes: [1 << 40, 1 << 40])) {
            XCTAssertEqual($0 as? ModelFootprint.Overflow, .layer(inputs: 1 << 40, outputs: 1 << 40))
        }
        XCTAssertThrowsError(try ModelFootprint(layerSizes: [100_000, 100_000])) {
            XCTAssertEqual($0 as? ModelFootprint.Overflow, .layer(inputs: 100_000, outputs: 100_000))
        }
    }
}
