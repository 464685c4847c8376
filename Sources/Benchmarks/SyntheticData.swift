import Datasets
import Determinism
import Training

extension TrainingData {
    /// Fashion-MNIST-shaped random data (28 × 28 pixels, 10 classes) for benchmarks and tests that
    /// need no dataset on disk: `trainingCount` and `testCount` samples, pixels and labels from
    /// `SeededGenerator(seed:)` (so every rank builds the same bytes).
    public static func synthetic(trainingCount: Int, testCount: Int, seed: UInt64 = 1) -> TrainingData {
        var generator = SeededGenerator(seed: seed)
        func images(_ count: Int) -> LabeledSamples {
            let pixels = (0..<(count * 784)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            let labels = (0..<count).map { _ in UInt8(generator.next() % 10) }
            return LabeledSamples(rows: 28, columns: 28, classCount: 10, pixels: pixels, labels: labels)
        }
        return TrainingData(training: images(trainingCount), test: images(testCount))
    }
}
