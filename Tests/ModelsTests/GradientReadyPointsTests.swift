import Models
import XCTest

/// Where backward reports gradients final (what the bucketed reduction starts from).
final class GradientReadyPointsTests: XCTestCase {
    func testTheModelsReadyPointsAreTheLayersThenFourBlocksOfTheFirstLayer() {
        let model = MLP(layout: ParameterLayout(layerSizes: [784, 512, 256, 10]), maximumBatchSize: 1)
        // Layer 2 starts at 401,408 + 512 + 131,072 + 256 = 533,248; layer 1's weight at 401,920;
        // layer 0's 512 rows of 784 in blocks of 128 rows (100,352 elements).
        XCTAssertEqual(model.gradientReadyPoints, [533_248, 401_920, 301_056, 200_704, 100_352, 0])
    }
}
