import Reporting

/// A bad optimizer setting, named by its command-line flag (also when it came from a file).
public enum OptimizerConfigurationError: ReportableError, Equatable {
    /// `flag` has `value`, outside `expected` (in words, e.g. "in [0, 1)").
    case outOfRange(flag: String, value: Double, expected: String)
    /// `--nesterov` with momentum 0 or a non-zero dampening (PyTorch refuses the same).
    case nesterovNeedsUndampedMomentum(momentum: Double, dampening: Double)
    /// A non-zero `--dampening` with momentum 0, where it would have no effect.
    case dampeningWithoutMomentum(dampening: Double)
    /// `flag` was given (or differs from its default) for an optimizer that does not read it.
    case notApplicable(flag: OptimizerFlag, optimizer: OptimizerKind)

    public var exitStatus: ExitStatus { .usage }

    public var description: String {
        switch self {
        case .outOfRange(let flag, let value, let expected):
            "\(flag) must be \(expected), found \(value)"
        case .nesterovNeedsUndampedMomentum(let momentum, let dampening):
            "--nesterov needs --momentum > 0 and --dampening 0, found momentum \(momentum) and dampening \(dampening)"
        case .dampeningWithoutMomentum(let dampening):
            "--dampening \(dampening) has no effect with --momentum 0"
        case .notApplicable(let flag, let optimizer):
            "\(flag) does not apply to --optimizer \(optimizer.rawValue); it applies to "
                + OptimizerKind.allCases.filter { $0.applicableFlags.contains(flag) }
                .map(\.rawValue).joined(separator: ", ")
        }
    }

    public var hint: String? {
        switch self {
        case .outOfRange: nil
        case .nesterovNeedsUndampedMomentum:
            "Nesterov momentum is defined for an undamped momentum buffer; drop --nesterov or --dampening"
        case .dampeningWithoutMomentum:
            "give --momentum > 0 to use a momentum buffer, or drop --dampening"
        case .notApplicable(let flag, let optimizer):
            "remove \(flag); --optimizer \(optimizer.rawValue) reads "
                + optimizer.applicableFlags.map(\.rawValue).joined(separator: " ")
        }
    }
}

// MARK: - Validation

extension OptimizerConfiguration {
    /// Checks every field the way `torch.optim` does, and more strictly where PyTorch accepts
    /// nonsense (momentum ≥ 1, ε = 0, non-finite values, settings the optimizer ignores).
    ///
    /// - Throws: `OptimizerConfigurationError`, for the first problem found: a field that `kind`
    ///   does not read but that differs from its default (`notApplicable`), then ranges.
    public func validate() throws {
        if let flag = OptimizerFlag.allCases.first(where: { !kind.applicableFlags.contains($0) && !isDefault($0) }) {
            throw OptimizerConfigurationError.notApplicable(flag: flag, optimizer: kind)
        }
        try Self.require(weightDecay >= 0 && weightDecay.isFinite, .weightDecay, weightDecay, "a finite number >= 0")
        // Subnormal hyperparameters would compute in subnormals (or flush to 0 under FTZ): refused.
        for (flag, value) in [(OptimizerFlag.weightDecay, weightDecay), (.momentum, momentum), (.dampening, dampening),
                              (.beta1, beta1), (.beta2, beta2), (.epsilon, epsilon)] where value != 0 && value.isSubnormal {
            throw OptimizerConfigurationError.outOfRange(
                flag: flag.rawValue, value: value, expected: "0 or at least \(Double.leastNormalMagnitude) (not subnormal)")
        }
        switch kind {
        case .sgd:
            try Self.require(momentum >= 0 && momentum < 1, .momentum, momentum, "in [0, 1)")
            try Self.require(dampening >= 0 && dampening <= 1, .dampening, dampening, "in [0, 1]")
            if nesterov && (momentum == 0 || dampening != 0) {
                throw OptimizerConfigurationError.nesterovNeedsUndampedMomentum(momentum: momentum, dampening: dampening)
            }
            if momentum == 0 && dampening != 0 {
                throw OptimizerConfigurationError.dampeningWithoutMomentum(dampening: dampening)
            }
        case .adam, .adamw:
            try Self.require(beta1 >= 0 && beta1 < 1, .beta1, beta1, "in [0, 1)")
            try Self.require(beta2 >= 0 && beta2 < 1, .beta2, beta2, "in [0, 1)")
            try Self.require(epsilon > 0 && epsilon.isFinite, .epsilon, epsilon, "a finite number > 0")
        }
    }

    /// Throws `outOfRange` unless `condition` (written so that NaN fails it).
    private static func require(_ condition: Bool, _ flag: OptimizerFlag, _ value: Double, _ expected: String) throws {
        if !condition {
            throw OptimizerConfigurationError.outOfRange(flag: flag.rawValue, value: value, expected: expected)
        }
    }

    /// True when the field behind `flag` equals its default (a NaN never does).
    private func isDefault(_ flag: OptimizerFlag) -> Bool {
        switch flag {
        case .momentum: momentum == Default.momentum
        case .dampening: dampening == Default.dampening
        case .nesterov: nesterov == Default.nesterov
        case .weightDecay: weightDecay == Default.weightDecay
        case .beta1: beta1 == Default.beta1
        case .beta2: beta2 == Default.beta2
        case .epsilon: epsilon == Default.epsilon
        case .amsgrad: amsgrad == Default.amsgrad
        }
    }

    /// Refuses command-line flags that `kind` does not read. The command line calls this with the
    /// flags the user actually gave (so `--optimizer adam --momentum 0.9` is refused even though
    /// 0.9 is the default); `validate()` can only see values that differ from their defaults.
    ///
    /// - Throws: `OptimizerConfigurationError.notApplicable` for the first such flag.
    public static func requireApplicable(_ givenFlags: [OptimizerFlag], to kind: OptimizerKind) throws {
        if let flag = givenFlags.first(where: { !kind.applicableFlags.contains($0) }) {
            throw OptimizerConfigurationError.notApplicable(flag: flag, optimizer: kind)
        }
    }
}
