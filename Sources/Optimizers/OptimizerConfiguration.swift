// MARK: - Kind

/// The update rule, named and behaving as in PyTorch: `torch.optim.SGD`, `torch.optim.Adam`,
/// `torch.optim.AdamW` (see `StochasticGradientDescent` and `Adam` for the exact equations).
public enum OptimizerKind: String, Codable, Sendable, CaseIterable {
    case sgd, adam, adamw

    /// The command-line flags (hyperparameters) this update rule reads. Every other optimizer flag
    /// is refused for it (`OptimizerConfigurationError.notApplicable`) rather than silently ignored.
    public var applicableFlags: [OptimizerFlag] {
        switch self {
        case .sgd: [.momentum, .dampening, .nesterov, .weightDecay]
        case .adam, .adamw: [.beta1, .beta2, .epsilon, .weightDecay, .amsgrad]
        }
    }
}

/// An optimizer hyperparameter, named by its command-line flag.
public enum OptimizerFlag: String, Sendable, CaseIterable, CustomStringConvertible {
    case momentum = "--momentum"
    case dampening = "--dampening"
    case nesterov = "--nesterov"
    case weightDecay = "--weight-decay"
    case beta1 = "--beta1"
    case beta2 = "--beta2"
    case epsilon = "--eps"
    case amsgrad = "--amsgrad"

    public var description: String { rawValue }
}

// MARK: - Configuration

/// Every optimizer hyperparameter except the learning rate (which comes from the schedule, in
/// `Double`, at every step). Field names and meanings follow PyTorch's constructor arguments;
/// fields that the chosen `kind` does not read must keep their defaults (`validate()` checks).
///
/// Decoding accepts missing keys and gives them their defaults, so a configuration file needs to
/// name only what it changes; encoding always writes every field.
public struct OptimizerConfiguration: Codable, Equatable, Sendable {
    /// The defaults, in one place (the command line's help text quotes them).
    public enum Default {
        public static let kind = OptimizerKind.sgd
        /// μ. Note: PyTorch's SGD defaults to 0 (plain SGD); ours to 0.9.
        public static let momentum = 0.9
        public static let dampening = 0.0
        public static let nesterov = false
        /// Note: PyTorch's AdamW defaults to 1e-2; ours is 0 for every optimizer.
        public static let weightDecay = 0.0
        public static let beta1 = 0.9
        public static let beta2 = 0.999
        public static let epsilon = 1e-8
        public static let amsgrad = false
    }

    public var kind: OptimizerKind
    /// SGD only. The momentum factor μ in [0, 1); 0 means plain SGD with no momentum buffer.
    public var momentum: Double
    /// SGD only. The dampening τ in [0, 1]: later steps add (1 − τ)·g to the momentum buffer.
    public var dampening: Double
    /// SGD only. Nesterov momentum (Sutskever et al. 2013, as PyTorch writes it); needs μ > 0, τ = 0.
    public var nesterov: Bool
    /// λ ≥ 0, per update. SGD and Adam add λ·p to the gradient (L2 penalty, "coupled"); AdamW
    /// multiplies p by (1 − lr·λ) before the update (Loshchilov & Hutter 2019, "decoupled").
    public var weightDecay: Double
    /// Adam/AdamW only. Decay rate of the first moment, in [0, 1).
    public var beta1: Double
    /// Adam/AdamW only. Decay rate of the second moment, in [0, 1).
    public var beta2: Double
    /// Adam/AdamW only. Added to the bias-corrected √v in the denominator; finite and > 0.
    public var epsilon: Double
    /// Adam/AdamW only. AMSGrad (Reddi et al. 2018): the denominator uses the running maximum of v.
    public var amsgrad: Bool

    public init(
        kind: OptimizerKind = Default.kind,
        momentum: Double = Default.momentum,
        dampening: Double = Default.dampening,
        nesterov: Bool = Default.nesterov,
        weightDecay: Double = Default.weightDecay,
        beta1: Double = Default.beta1,
        beta2: Double = Default.beta2,
        epsilon: Double = Default.epsilon,
        amsgrad: Bool = Default.amsgrad
    ) {
        self.kind = kind
        self.momentum = momentum
        self.dampening = dampening
        self.nesterov = nesterov
        self.weightDecay = weightDecay
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.amsgrad = amsgrad
    }

    private enum CodingKeys: String, CodingKey {
        case kind, momentum, dampening, nesterov, weightDecay, beta1, beta2, epsilon, amsgrad
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            kind: try container.decodeIfPresent(OptimizerKind.self, forKey: .kind) ?? Default.kind,
            momentum: try container.decodeIfPresent(Double.self, forKey: .momentum) ?? Default.momentum,
            dampening: try container.decodeIfPresent(Double.self, forKey: .dampening) ?? Default.dampening,
            nesterov: try container.decodeIfPresent(Bool.self, forKey: .nesterov) ?? Default.nesterov,
            weightDecay: try container.decodeIfPresent(Double.self, forKey: .weightDecay) ?? Default.weightDecay,
            beta1: try container.decodeIfPresent(Double.self, forKey: .beta1) ?? Default.beta1,
            beta2: try container.decodeIfPresent(Double.self, forKey: .beta2) ?? Default.beta2,
            epsilon: try container.decodeIfPresent(Double.self, forKey: .epsilon) ?? Default.epsilon,
            amsgrad: try container.decodeIfPresent(Bool.self, forKey: .amsgrad) ?? Default.amsgrad)
    }
}

extension OptimizerConfiguration {
    /// How many parameter-sized state buffers this optimizer keeps: SGD's momentum buffer (none
    /// without momentum), Adam's two moments (three with AMSGrad).
    public var stateBufferCount: Int {
        switch kind {
        case .sgd: momentum == 0 ? 0 : 1
        case .adam, .adamw: amsgrad ? 3 : 2
        }
    }
}
