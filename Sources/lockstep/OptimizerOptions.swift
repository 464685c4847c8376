import ArgumentParser
import Optimizers
import Training

/// The optimizer flags of `lockstep train`, embedded with `@OptionGroup(title: "Optimizer")`.
/// It maps flags onto `OptimizerConfiguration` plus the clipping and LR-scaling settings; no math.
///
/// Hyperparameters that only one optimizer family reads are optional
/// here so that giving one where it has no effect is refused, even at its default value.
struct OptimizerOptions: ParsableArguments {
    typealias Default = OptimizerConfiguration.Default

    @Option(
        name: .customLong("optimizer"),
        help: ArgumentHelp("Update rule: sgd, adam or adamw (torch.optim.SGD, Adam, AdamW semantics).", valueName: "name"))
    var kind: OptimizerKind = Default.kind

    @Option(help: ArgumentHelp(
        "SGD momentum factor μ in [0, 1), unitless (default \(Default.momentum); PyTorch's is 0): buf = μ·buf + (1 − dampening)·g, and buf = g on the first update.",
        valueName: "μ"))
    var momentum: Double?

    @Option(help: ArgumentHelp(
        "SGD dampening τ in [0, 1], unitless (default \(Default.dampening)): updates after the first add (1 − τ)·g to the momentum buffer.",
        valueName: "τ"))
    var dampening: Double?

    @Flag(inversion: .prefixedNo, help: "SGD Nesterov momentum (PyTorch nesterov=True): step along g + μ·buf instead of buf; needs --momentum > 0 and --dampening 0.")
    var nesterov = Default.nesterov

    @Option(help: ArgumentHelp(
        "Weight decay λ ≥ 0, per update (default \(Default.weightDecay); \(ModelRecipe.cnn.weightDecay!) with --model cnn): sgd and adam add λ·p to the gradient (L2, PyTorch weight_decay); adamw multiplies p by 1 − lr·λ (decoupled; PyTorch AdamW's own default is 0.01).",
        valueName: "λ"))
    var weightDecay: Double?

    @Option(help: ArgumentHelp(
        "Adam/AdamW first-moment decay β1 in [0, 1) (default \(Default.beta1); PyTorch betas[0]).", valueName: "β1"))
    var beta1: Double?

    @Option(help: ArgumentHelp(
        "Adam/AdamW second-moment decay β2 in [0, 1) (default \(Default.beta2); PyTorch betas[1]).", valueName: "β2"))
    var beta2: Double?

    @Option(
        name: .customLong("eps"),
        help: ArgumentHelp(
            "Adam/AdamW ε > 0, added to the bias-corrected √v in the denominator (default \(Default.epsilon); PyTorch eps).",
            valueName: "ε"))
    var epsilon: Double?

    @Flag(inversion: .prefixedNo, help: "Adam/AdamW AMSGrad (PyTorch amsgrad=True): divide by the running maximum of the second moment.")
    var amsgrad = Default.amsgrad

    @Option(
        name: .customLong("clip-grad-norm"),
        help: ArgumentHelp(
            "Clip the averaged gradient to this global L2 norm before every update (torch.nn.utils.clip_grad_norm_: scale by max/(norm + 1e-6) when below 1; the norm is logged). Off by default.",
            valueName: "max-norm"))
    var clipGradientNorm: Double?

    /// The optimizer flags the user gave (an optional that is set, a flag that is on).
    private var givenFlags: [OptimizerFlag] {
        [
            (OptimizerFlag.momentum, momentum != nil), (.dampening, dampening != nil), (.nesterov, nesterov),
            (.weightDecay, weightDecay != nil), (.beta1, beta1 != nil), (.beta2, beta2 != nil),
            (.epsilon, epsilon != nil), (.amsgrad, amsgrad),
        ].filter(\.1).map(\.0)
    }

    /// The validated optimizer configuration.
    ///
    /// - Throws: `OptimizerConfigurationError` naming the flag: one the chosen optimizer does not
    ///   read, or a value out of range.
    /// - Parameter recipe: the model preset's settings, for the flags not given.
    func configuration(recipe: ModelRecipe = .none) throws -> OptimizerConfiguration {
        try OptimizerConfiguration.requireApplicable(givenFlags, to: kind)
        let configuration = OptimizerConfiguration(
            kind: kind,
            momentum: momentum ?? Default.momentum,
            dampening: dampening ?? Default.dampening,
            nesterov: nesterov,
            weightDecay: weightDecay ?? recipe.weightDecay ?? Default.weightDecay,
            beta1: beta1 ?? Default.beta1,
            beta2: beta2 ?? Default.beta2,
            epsilon: epsilon ?? Default.epsilon,
            amsgrad: amsgrad)
        try configuration.validate()
        return configuration
    }

    /// Runs at parse time, so a bad value is reported with the usage line and exit status 64.
    func validate() throws {
        do {
            _ = try configuration()
        } catch let error as OptimizerConfigurationError {
            throw ValidationError(error.description + (error.hint.map { "\nHint: \($0)" } ?? ""))
        }
        if let clipGradientNorm, !(clipGradientNorm > 0 && clipGradientNorm.isFinite) {
            throw ValidationError("--clip-grad-norm must be a finite number > 0, found \(clipGradientNorm)")
        }
    }
}

extension OptimizerKind: ExpressibleByArgument {}
