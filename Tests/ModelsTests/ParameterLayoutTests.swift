import Models
import XCTest

final class ParameterLayoutTests: XCTestCase {
    func testFashionMNISTLayout() {
        let layout = ParameterLayout(layerSizes: [784, 512, 256, 10])
        // 784·512 + 512 + 512·256 + 256 + 256·10 + 10
        XCTAssertEqual(layout.parameterCount, 535_818)
        XCTAssertEqual(layout.tensors.map(\.name),
                       ["layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias", "layers.2.weight", "layers.2.bias"])
        XCTAssertEqual(layout.tensors.map(\.shape), [[512, 784], [512], [256, 512], [256], [10, 256], [10]])
        // layers.1.weight starts after 784·512 + 512 = 401,920 and spans 512·256 = 131,072.
        XCTAssertEqual(layout.layers[1].weightRange, 401_920..<532_992)
        XCTAssertEqual(layout.layers[1].biasRange, 532_992..<533_248)
        XCTAssertEqual(layout.shapeDescription, "784-512-256-10")
        // Tensors tile the buffer without gaps.
        XCTAssertEqual(layout.tensors.map(\.range.count).reduce(0, +), layout.parameterCount)
        // FLOPs per sample: forward 2·(784·512 + 512·256 + 256·10) = 1,070,080; weight gradients
        // the same; input gradients of layers 1 and 2: 2·(512·256 + 256·10) = 267,264.
        XCTAssertEqual(layout.trainingFLOPsPerSample, 2 * 1_070_080 + 267_264)
    }
}
