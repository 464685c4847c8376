/// How stored features become the model's `Float` input (`--normalize`).
///
/// - `unit` (the default): bytes `b` become `Float(b) / 255` in [0, 1] (correctly rounded, as
///   numpy's `x.astype(np.float32) / 255.0` and torchvision's `ToTensor()`); `Float` features are
///   taken as they are.
/// - `none`: bytes become `Float(b)` (0…255); `Float` features as they are.
/// - `standard`: the `unit` value `v`, then `(v − mean[c]) / std[c]` in `Float` for its channel
///   `c` (a channel of an image, each feature of a vector), with the mean and the population
///   standard deviation (numpy's `std`, `ddof=0`) of the training split, computed once in
///   `Double` (`statistics(of:)`). A channel whose deviation is 0 keeps `std = 1`: it is
///   constant, and only shifted.
public struct Normalization: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Equatable, Codable, CaseIterable {
        case unit, standard, none
    }

    public let kind: Kind
    /// Per channel, with `standard`; empty otherwise.
    public let mean: [Float]
    /// Per channel, with `standard`; empty otherwise.
    public let standardDeviation: [Float]

    public init(kind: Kind, mean: [Float] = [], standardDeviation: [Float] = []) {
        precondition(kind == .standard ? mean.count == standardDeviation.count && !mean.isEmpty
                                       : mean.isEmpty && standardDeviation.isEmpty,
                     "normalisation \(kind) with \(mean.count) means and \(standardDeviation.count) deviations")
        self.kind = kind
        self.mean = mean
        self.standardDeviation = standardDeviation
    }

    public static let unit = Normalization(kind: .unit)

    enum CodingKeys: String, CodingKey {
        case kind, mean, standardDeviation = "std"
    }

    /// The `standard` normalisation of `samples` (their `unit` values): per channel, the mean and
    /// then the population standard deviation around it (two passes, summed in `Double` in sample
    /// order, so a large mean does not cancel the deviation's digits).
    public static func statistics(of samples: LabeledSamples) -> Normalization {
        let channels = samples.channelCount, width = samples.featureCount
        let perChannel = width / channels  // an image's plane, or 1 for a vector
        /// `Σ f(v)` per channel over every sample.
        func perChannelSums(_ value: (Int) -> Double, _ f: (Double, Int) -> Double) -> [Double] {
            var sums = [Double](repeating: 0, count: channels)
            for n in 0..<samples.count {
                for c in 0..<channels {
                    var s = 0.0
                    for i in 0..<perChannel { s += f(value(n * width + c * perChannel + i), c) }
                    sums[c] += s
                }
            }
            return sums
        }
        let count = Double(samples.count * perChannel)
        func moments(_ value: (Int) -> Double) -> (mean: [Double], deviation: [Double]) {
            let mean = perChannelSums(value) { v, _ in v }.map { $0 / count }
            let squares = perChannelSums(value) { v, c in (v - mean[c]) * (v - mean[c]) }
            return (mean, squares.map { ($0 / count).squareRoot() })
        }
        let (mean, deviation) = samples.features.withElements { elements in
            switch elements {
            case .bytes(let b): moments { Double(Float(b[$0]) / 255) }
            case .floats(let f): moments { Double(f[$0]) }
            }
        }
        return Normalization(kind: .standard, mean: mean.map(Float.init),
                             standardDeviation: deviation.map { $0 > 0 ? Float($0) : 1 })
    }
}
