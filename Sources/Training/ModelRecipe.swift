/// Settings a model preset brings with it, used where the user gave none: the preset's network
/// and the training settings it was tuned with, as torchvision's and timm's recipes pair them.
///
/// `--model cnn` trains with weight decay 5e-4 (L2, PyTorch SGD `weight_decay`) and a decay of
/// γ = 0.85 per epoch: measured on Fashion-MNIST at global batch 128, SGD momentum 0.9, lr 0.1,
/// 15 epochs, one rank, the run's defaults otherwise (γ 0.95, no weight decay) end at 0.9148
/// test accuracy, overfitting from epoch 8 with the LR still at half its peak; γ 0.8 alone at
/// 0.9186, and this recipe at 0.9231 (README "Models"). `mlp` and layer lists bring nothing: their
/// defaults are the run's.
public struct ModelRecipe: Equatable, Sendable {
    /// `--weight-decay` when not given.
    public let weightDecay: Double?
    /// `--gamma` when none of `--gamma`, `--half-life`, `--final-lr` is given.
    public let gamma: Double?

    public static let none = ModelRecipe(weightDecay: nil, gamma: nil)
    public static let cnn = ModelRecipe(weightDecay: 5e-4, gamma: 0.85)

    /// The recipe of `TrainingConfiguration.model` (nil: the `mlp` preset).
    public static func forModel(_ model: String?) -> ModelRecipe {
        model?.lowercased() == "cnn" ? .cnn : .none
    }
}
