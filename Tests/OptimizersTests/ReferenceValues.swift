// Reference values for the first three updates of each optimizer on one tiny problem.
//
// Source: the PyTorch update equations (torch.optim.SGD / Adam / AdamW, as written in their
// documentation and in `_single_tensor_sgd` / `_single_tensor_adam`) evaluated with mpmath at 50
// significant digits by the Python script at the end of this file, from inputs that are exactly
// representable in Float. Cross-checked once against torch 2.13.0+cpu (not a test dependency):
// torch in float64 agrees with every value to ≤ 2.3e-16 relative, torch in float32 to ≤ 7.2e-8.

/// The problem: three parameters and a fixed gradient sequence (independent of the parameters, so
/// only weight decay couples them). Zero and tiny gradients are there on purpose: step 3 element 1
/// has g = 0 and step 2 element 2 has g² ≪ v, so that v decreases and AMSGrad's maximum matters.
enum TinyProblem {
    static let initialParameters: [Float] = [1, -2, 0.5]
    static let gradients: [[Float]] = [
        [0.5, -0.25, 0.375],
        [-0.125, 0.75, 0.0078125],
        [0.25, 0, -0.5],
    ]
}

/// Parameters after updates 1, 2, 3 and the state buffers after update 3, by PyTorch state name.
struct ExpectedRun {
    let parameters: [[Double]]
    let state: [String: [Double]]
}

enum ReferenceValues {
    /// SGD, lr 0.1, momentum 0: p ← p − lr·g
    static let sgdPlain = ExpectedRun(
        parameters: [
            [0.95, -1.975, 0.4625],
            [0.9625, -2.05, 0.46171875],
            [0.9375, -2.05, 0.51171875],
        ],
        state: [:])
    /// SGD, lr 0.1, μ 0.9: b₁ = g₁, then b ← μ·b + g; p ← p − lr·b
    static let sgdMomentum = ExpectedRun(
        parameters: [
            [0.95, -1.975, 0.4625],
            [0.9175, -2.0275, 0.42796875],
            [0.86325, -2.07475, 0.446890625],
        ],
        state: [
            "momentum_buffer": [0.5425, 0.4725, -0.18921875],
        ])
    /// SGD, lr 0.1, μ 0.9, Nesterov: b as sgdMomentum; p ← p − lr·(g + μ·b)
    static let sgdNesterov = ExpectedRun(
        parameters: [
            [0.905, -1.9525, 0.42875],
            [0.88825, -2.07475, 0.396890625],
            [0.814425, -2.117275, 0.4639203125],
        ],
        state: [
            "momentum_buffer": [0.5425, 0.4725, -0.18921875],
        ])
    /// SGD, lr 0.1, μ 0.9, τ 0.5: b₁ = g₁ (not 0.5·g₁), then b ← μ·b + (1 − τ)·g
    static let sgdDampening = ExpectedRun(
        parameters: [
            [0.95, -1.975, 0.4625],
            [0.91125, -1.99, 0.428359375],
            [0.863875, -2.0035, 0.4226328125],
        ],
        state: [
            "momentum_buffer": [0.47375, 0.135, 0.057265625],
        ])
    /// SGD, lr 0.1, μ 0.9, λ 0.1: d = g + λ·p, then as sgdMomentum with d
    static let sgdWeightDecay = ExpectedRun(
        parameters: [
            [0.94, -1.955, 0.4575],
            [0.8891, -1.96995, 0.41389375],
            [0.809399, -1.9637055, 0.4205091875],
        ],
        state: [
            "momentum_buffer": [0.79701, -0.062445, -0.066154375],
        ])
    /// Adam, lr 0.01, β (0.9, 0.999), ε 1e-8: m ← β1·m + (1−β1)·g, v ← β2·v + (1−β2)·g², p ← p − (lr/(1−β1^t))·m/(√v/√(1−β2^t) + ε)
    static let adam = ExpectedRun(
        parameters: [
            [0.9900000002, -1.9900000004, 0.49000000026666666],
            [0.98530531861677053, -1.9949418986445852, 0.48314580069027076],
            [0.97925057781468432, -1.9987620002954354, 0.48508035399081326],
        ],
        state: [
            "exp_avg": [0.05425, 0.04725, -0.018921875],
            "exp_avg_sq": [0.000327609625, 0.0006243125625, 0.00039040486474609375],
        ])
    /// Adam, lr 0.01, β (0.3, 0.9): as adam (exercises torch's other lerp branch, weight 1 − β1 ≥ 0.5)
    static let adamLowBeta = ExpectedRun(
        parameters: [
            [0.9900000002, -1.9900000004, 0.49000000026666666],
            [0.98945961546648157, -1.9990987058806439, 0.48641501838253841],
            [0.98368668502417084, -2.0023124848353194, 0.49552195939922972],
        ],
        state: [
            "exp_avg": [0.18025, 0.14175, -0.324734375],
            "exp_avg_sq": [0.02790625, 0.0556875, 0.0363961181640625],
        ])
    /// Adam, lr 0.01, λ 0.1 (coupled): d = g + λ·p, then as adam with d
    static let adamWeightDecay = ExpectedRun(
        parameters: [
            [0.99000000016666666, -1.9900000002222222, 0.49000000023529411],
            [0.98362802417075118, -1.9915274746468745, 0.48237210317787678],
            [0.97616075881599723, -1.990941226987345, 0.48295064069067799],
        ],
        state: [
            "exp_avg": [0.081096280243207512, -0.0067752747484687452, -0.0056381539661035852],
            "exp_avg_sq": [0.00048131232610701232, 0.00054505441829826918, 0.00038757798126521941],
        ])
    /// AdamW, lr 0.01, λ 0.1 (decoupled): p ← p·(1 − lr·λ), then as adam with g
    static let adamW = ExpectedRun(
        parameters: [
            [0.9890000002, -1.9880000004, 0.48950000026666666],
            [0.98331631861657053, -1.9909538986441852, 0.48215630069000409],
            [0.97627826149586775, -1.9927830463963912, 0.48360869768985659],
        ],
        state: [
            "exp_avg": [0.05425, 0.04725, -0.018921875],
            "exp_avg_sq": [0.000327609625, 0.0006243125625, 0.00039040486474609375],
        ])
    /// Adam, lr 0.01, AMSGrad: v̂ ← max(v̂, v); denominator √v̂/√(1−β2^t) + ε (differs from adam at step 2 element 2, step 3 element 1)
    static let adamAMSGrad = ExpectedRun(
        parameters: [
            [0.9900000002, -1.9900000004, 0.49000000026666666],
            [0.98530531861677053, -1.9949418986445852, 0.48314774060800427],
            [0.97925057781468432, -1.9987600897669002, 0.48508229390854677],
        ],
        state: [
            "exp_avg": [0.05425, 0.04725, -0.018921875],
            "exp_avg_sq": [0.000327609625, 0.0006243125625, 0.00039040486474609375],
            "max_exp_avg_sq": [0.000327609625, 0.0006249375, 0.00039040486474609375],
        ])
}

// The generator (Python 3, mpmath 1.3), printed values pasted above with 17 significant digits:
//
//     # Reference values for OptimizersTests: the PyTorch update equations evaluated with mpmath at 50
//     # significant digits from exactly representable inputs (independent of the Swift code and of Float).
//     from mpmath import mp, mpf, sqrt
//     mp.dps = 50
//
//     P0 = [mpf(1), mpf(-2), mpf("0.5")]
//     G = [[mpf("0.5"), mpf("-0.25"), mpf("0.375")],
//          [mpf("-0.125"), mpf("0.75"), mpf("0.0078125")],
//          [mpf("0.25"), mpf(0), mpf("-0.5")]]
//
//     def sgd(lr, momentum=0, dampening=0, nesterov=False, wd=0):
//         lr, momentum, dampening, wd = mpf(lr), mpf(momentum), mpf(dampening), mpf(wd)
//         p = list(P0); buf = None; out = []
//         for t, g in enumerate(G, start=1):
//             d = [g[i] + wd * p[i] for i in range(3)]
//             if momentum != 0:
//                 if buf is None:
//                     buf = list(d)                                  # torch: buf = clone(d) on the first step
//                 else:
//                     buf = [momentum * buf[i] + (1 - dampening) * d[i] for i in range(3)]
//                 d = [d[i] + momentum * buf[i] for i in range(3)] if nesterov else list(buf)
//             p = [p[i] - lr * d[i] for i in range(3)]
//             out.append(p)
//         return out, {"momentum_buffer": buf} if buf is not None else {}
//
//     def adam(lr, beta1="0.9", beta2="0.999", eps="1e-8", wd=0, decoupled=False, amsgrad=False):
//         lr, b1, b2, eps, wd = mpf(lr), mpf(beta1), mpf(beta2), mpf(eps), mpf(wd)
//         p = list(P0); m = [mpf(0)] * 3; v = [mpf(0)] * 3; vmax = [mpf(0)] * 3; out = []
//         for t, g in enumerate(G, start=1):
//             if decoupled:
//                 p = [p[i] * (1 - lr * wd) for i in range(3)]
//                 d = list(g)
//             else:
//                 d = [g[i] + wd * p[i] for i in range(3)]
//             m = [b1 * m[i] + (1 - b1) * d[i] for i in range(3)]
//             v = [b2 * v[i] + (1 - b2) * d[i] ** 2 for i in range(3)]
//             bc1 = 1 - b1 ** t; bc2 = 1 - b2 ** t
//             if amsgrad:
//                 vmax = [max(vmax[i], v[i]) for i in range(3)]
//             second = vmax if amsgrad else v
//             p = [p[i] - (lr / bc1) * m[i] / (sqrt(second[i]) / sqrt(bc2) + eps) for i in range(3)]
//             out.append(p)
//         state = {"exp_avg": m, "exp_avg_sq": v}
//         if amsgrad: state["max_exp_avg_sq"] = vmax
//         return out, state
//
//     cases = [
//         ("sgdPlain", sgd("0.1")),
//         ("sgdMomentum", sgd("0.1", momentum="0.9")),
//         ("sgdNesterov", sgd("0.1", momentum="0.9", nesterov=True)),
//         ("sgdDampening", sgd("0.1", momentum="0.9", dampening="0.5")),
//         ("sgdWeightDecay", sgd("0.1", momentum="0.9", wd="0.1")),
//         ("adam", adam("0.01")),
//         ("adamLowBeta", adam("0.01", beta1="0.3", beta2="0.9")),
//         ("adamWeightDecay", adam("0.01", wd="0.1")),
//         ("adamW", adam("0.01", wd="0.1", decoupled=True)),
//         ("adamAMSGrad", adam("0.01", amsgrad=True)),
//     ]
//     f = lambda x: mp.nstr(x, 17, min_fixed=-30, max_fixed=30) if x != 0 else "0"
//     for name, (steps, state) in cases:
//         print(f"{name}:")
//         for t, p in enumerate(steps, start=1):
//             print(f"  step {t}: [{', '.join(f(x) for x in p)}]")
//         for k, b in state.items():
//             print(f"  {k}: [{', '.join(f(x) for x in b)}]")
