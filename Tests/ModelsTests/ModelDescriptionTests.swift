import Models
import Reporting
import XCTest

/// Reading layer lists and checking their shapes before anything is allocated.
final class ModelDescriptionTests: XCTestCase {
    private let image = TensorShape.image(channels: 1, height: 28, width: 28)

    private func parse(_ text: String) throws -> ModelDescription { try ModelDescription.parse(text) }

    /// The message a layer list gets, from parsing or from checking its shapes on 1×28×28 with 10 classes.
    private func error(_ text: String, input: TensorShape? = nil, classes: Int = 10) -> String? {
        do {
            _ = try ModelDescription.parse(text).resolve(input: input ?? image, classes: classes)
            return nil
        } catch {
            return error.description + (error.hint.map { "\nhint: \($0)" } ?? "")
        }
    }

    func testTheIssuesExampleReadsAndResolves() throws {
        let model = try parse("conv2d(16,5) relu maxpool2d(2) flatten linear(10)")
        XCTAssertEqual(model.layers, [
            .conv2d(outputs: 16, kernelHeight: 5, kernelWidth: 5, stride: 1, padding: 0), .relu,
            .maxPool2d(window: 2, stride: 2), .flatten, .linear(outputs: 10),
        ])
        let layers = try model.resolve(input: image, classes: 10)
        XCTAssertEqual(layers.map(\.output), [
            .image(channels: 16, height: 24, width: 24), .image(channels: 16, height: 24, width: 24),
            .image(channels: 16, height: 12, width: 12), .vector(features: 2304), .vector(features: 10),
        ])
        XCTAssertEqual(layers[0].weightShape, [16, 1, 5, 5])
        XCTAssertEqual(layers[4].weightShape, [10, 2304])
        XCTAssertEqual(layers.filter(\.spec.hasParameters).map(\.weightName), ["0.weight", "4.weight"])
    }

    /// The `cnn` preset has the issue's 421,642 parameters on 1×28×28 with 10 classes:
    /// 32·9 + 32 + 64·32·9 + 64 + 128·3136 + 128 + 10·128 + 10 (PyTorch's count for the same
    /// `nn.Sequential`); the `mlp` preset is today's 784-512-256-10 (535,818).
    func testPresetsHaveTheirParameterCounts() throws {
        let cnn = try ModelDescription.cnn(classes: 10).resolve(input: image, classes: 10)
        XCTAssertEqual(cnn.reduce(0) { $0 + $1.parameterCount }, 421_642)
        XCTAssertEqual(ModelDescription.cnn(classes: 10).description,
                       "conv2d(32,3,padding=1) relu maxpool2d(2) conv2d(64,3,padding=1) relu maxpool2d(2) flatten linear(128) relu linear(10)")
        let mlp = try ModelDescription.mlp(hidden: [512, 256], classes: 10).resolve(input: image, classes: 10)
        XCTAssertEqual(mlp.reduce(0) { $0 + $1.parameterCount }, 535_818)
    }

    func testSpellingsReadToTheSameLayersAndTheCanonicalTextReadsBack() throws {
        let a = try parse("Conv2D(8, 2x3, stride=2, padding=1), GELU; avgpool2d(3,stride=1) flatten dropout(0.25) linear(outputs=10)")
        let b = try parse("conv2d(8,kernel=2×3,padding=1,stride=2) gelu avgpool2d(kernel=3, stride=1) flatten dropout(p=0.25) linear(10)")
        XCTAssertEqual(a, b)
        XCTAssertEqual(a.description, "conv2d(8,2x3,stride=2,padding=1) gelu avgpool2d(3,stride=1) flatten dropout(0.25) linear(10)")
        XCTAssertEqual(try parse(a.description), a)
    }

    // MARK: - Every error, with its exact message

    func testShapeErrorsNameTheLayerItsInputAndWhatItNeeded() {
        // The issue's example: 28 → (28 − 5) / 4 + 1 = 6 → ⌊6 / 3⌋ = 2.
        XCTAssertEqual(
            error("conv2d(32,5,stride=4) relu maxpool2d(3) conv2d(64,3) flatten linear(10)"),
            "layer 4 conv2d(64,3): input 32×2×2 is smaller than the 3×3 kernel (padding 0)")
        XCTAssertEqual(
            error("conv2d(8,5) maxpool2d(4) maxpool2d(4) maxpool2d(4) flatten linear(10)"),
            "layer 4 maxpool2d(4): input 8×1×1 is smaller than the 4×4 window")
        XCTAssertEqual(
            error("linear(10)"),
            "layer 1 linear(10): input 1×28×28 is an image: put flatten before linear (as nn.Linear needs nn.Flatten)")
        XCTAssertEqual(
            error("flatten conv2d(4,3) flatten linear(10)"),
            "layer 2 conv2d(4,3): input 784 is a vector: conv2d needs an image C×H×W")
        XCTAssertEqual(
            error("flatten linear(12)"),
            "the model's output is 12, but the data has 10 classes: the last layer must give 10 values\nhint: end the list with flatten (after images) and linear(10)")
        XCTAssertEqual(
            error("conv2d(10,28)"),
            "the model's output is 10×1×1, but the data has 10 classes: the last layer must give 10 values\nhint: end the list with flatten (after images) and linear(10)")
    }

    func testParseErrorsNameTheLayerAndSuggestTheNearestName() {
        XCTAssertEqual(error("conv2d(8,3) relu maxpol2d(2) flatten linear(10)"),
                       "layer 3 maxpol2d(2): unknown layer\nhint: did you mean maxpool2d? Layers: linear, conv2d, maxpool2d, avgpool2d, flatten, relu, gelu, dropout")
        let syntax = "\nhint: write layers like: conv2d(16,5) relu maxpool2d(2) flatten linear(10)"
        XCTAssertEqual(error("conv2d(16) flatten linear(10)"), "layer 1 conv2d(16): missing kernel (it takes outputs, kernel, stride, padding)" + syntax)
        XCTAssertEqual(error("conv2d(16,0) flatten linear(10)"), "layer 1 conv2d(16,0): kernel must be K or KHxKW with positive sizes, got '0'" + syntax)
        XCTAssertEqual(error("conv2d(16,3x) flatten linear(10)"), "layer 1 conv2d(16,3x): kernel must be K or KHxKW with positive sizes, got '3x'" + syntax)
        XCTAssertEqual(error("conv2d(16,3,pad=1) flatten linear(10)"), "layer 1 conv2d(16,3,pad=1): no argument 'pad' (it takes outputs, kernel, stride, padding)" + syntax)
        XCTAssertEqual(error("flatten linear(-3)"), "layer 2 linear(-3): outputs must be an integer ≥ 1, got '-3'" + syntax)
        XCTAssertEqual(error("flatten dropout(1) linear(10)"), "layer 2 dropout(1): p must be a probability in [0, 1), got '1'" + syntax)
        XCTAssertEqual(error("relu(2) flatten linear(10)"), "layer 1 relu(2): it takes no arguments" + syntax)
        XCTAssertEqual(error("flatten linear(10,5)"), "layer 2 linear(10,5): too many arguments (it takes outputs)" + syntax)
        XCTAssertEqual(error("flatten linear(10"), "the layer list 'flatten linear(10' is malformed: a '(' without its ')'" + syntax)
        XCTAssertEqual(error("  "), "the model has no layers" + syntax)
    }

    func testAbsurdSizesAreRefusedBeforeAnythingIsAllocated() {
        let hint = "\nhint: choose fewer channels or units, or smaller kernels"
        // 3,000,000 × 784 = 2,352,000,000 weights × 4 bytes.
        XCTAssertEqual(error("flatten linear(3000000) linear(10)"), """
            the model is too large: layer 2 linear(3000000)'s weight 3000000×784 would need 9.4 GB per sample or copy \
            (2352000000 floats; one MPI collective carries at most 2147483647)
            """ + hint)
        // 100,000 channels of (28 + 4000 − 3) + 1 = 4,026 squared: 1.62e12 floats.
        XCTAssertEqual(error("conv2d(100000,3,padding=2000) flatten linear(10)"), """
            the model is too large: layer 1 conv2d(100000,3,padding=2000)'s output 100000×4026×4026 would need \
            6.5 TB per sample or copy (1620867600000 floats; one MPI collective carries at most 2147483647)
            """ + hint)
        XCTAssertEqual(error("conv2d(8,3,padding=4611686018427387904) flatten linear(10)"), """
            the model is too large: layer 1 conv2d(8,3,padding=4611686018427387904)'s padding 4611686018427387904 exceeds 2147483647
            """ + hint)
        XCTAssertEqual(error("flatten linear(46000) linear(46000) linear(10)"), """
            the model is too large: more than the 2147483647 parameters one MPI collective can carry, from layer 3 linear(46000) on
            """ + hint)
    }
}
