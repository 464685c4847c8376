import ArgumentParser
import Training

/// `lockstep train`: the network and its initialisation.
struct ModelOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Hidden layer widths in units (neurons), comma-separated, input side first; ReLU between layers; none for a linear model.", valueName: "w1,w2,…"))
    var hidden: LayerWidths = LayerWidths(TrainingConfiguration.defaults.hiddenSizes)

    @Option(help: ArgumentHelp("Seed for the initial weights (He normal) and every epoch's data order.", valueName: "n"))
    var seed: UInt64 = TrainingConfiguration.defaults.seed
}

/// A comma-separated list of positive layer widths, e.g. `512,256`; empty for no hidden layer.
struct LayerWidths: ExpressibleByArgument, Equatable, CustomStringConvertible {
    var widths: [Int]

    init(_ widths: [Int]) { self.widths = widths }

    init?(argument: String) {
        if argument.isEmpty || argument == "none" {
            widths = []
            return
        }
        let parts = argument.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.allSatisfy({ ($0 ?? 0) > 0 }) else { return nil }
        widths = parts.map { $0! }
    }

    var description: String { widths.isEmpty ? "none" : widths.map(String.init).joined(separator: ",") }
    var defaultValueDescription: String { description }
}
