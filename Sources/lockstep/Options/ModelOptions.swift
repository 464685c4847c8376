import ArgumentParser
import Models
import Training

/// `lockstep train`: the network and its initialisation.
struct ModelOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "The model: mlp (the default: --hidden's widths), cnn (conv2d(32,3,padding=1) relu maxpool2d(2) conv2d(64,3,padding=1) relu maxpool2d(2) flatten linear(128) relu linear(10)), or a layer list in quotes, e.g. \"conv2d(16,5) relu maxpool2d(2) flatten linear(10)\" (README \"Models\").",
        valueName: "mlp|cnn|layers"))
    var model: String = "mlp"

    @Option(help: ArgumentHelp("Hidden layer widths of --model mlp in units (neurons), comma-separated, input side first; ReLU between layers; none for a linear model.", valueName: "w1,w2,…"))
    var hidden: LayerWidths = LayerWidths(TrainingConfiguration.defaults.hiddenSizes)

    @Option(help: ArgumentHelp("Seed for the initial weights (He normal) and every epoch's data order.", valueName: "n"))
    var seed: UInt64 = TrainingConfiguration.defaults.seed

    func validate() throws {
        if model.lowercased() != "mlp", hidden.widths != TrainingConfiguration.defaults.hiddenSizes {
            throw ValidationError(
                "--hidden sets the widths of --model mlp; --model \(model) has its own layers\nhint: drop --hidden, or give the widths in the layer list")
        }
    }

    /// `--model` as the configuration stores it: nil for `mlp`, the canonical layer list for a
    /// list (so that spellings of one model compare equal), `cnn` as given. A list that does not
    /// parse is kept as given: building the model refuses it later, once for the whole job
    /// (every rank finds the same error, and rank 0 reports it).
    func configurationModel() -> String? {
        switch model.lowercased() {
        case "mlp": return nil
        case "cnn": return "cnn"
        default: return (try? ModelDescription.parse(model))?.description ?? model
        }
    }
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
