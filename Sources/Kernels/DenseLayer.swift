// Dense (fully connected) layer kernels over row-major Float buffers.
//
// Legend: B batch rows, I input features, O output features.
//   X [B, I] input activations      W [O, I] weights (PyTorch's `nn.Linear` layout)
//   b [O]    bias                   Z [B, O] output (pre- or post-activation)
//   dZ [B, O] gradient of the loss with respect to the layer's pre-activation output
// Every GEMM reads its operands in place (transposes are BLAS flags, never copies).

/// The activation fused into `denseForward`.
public enum Activation: Sendable {
    case identity
    /// max(0, z); NaN propagates (so a non-finite value is not silently hidden).
    case relu
}

/// Forward: `Z = X · Wᵀ + b`, then the activation, fused into one pass over `Z` after the GEMM.
@inline(__always)
public func denseForward(
    input x: UnsafePointer<Float>, weights w: UnsafePointer<Float>, bias: UnsafePointer<Float>,
    output z: UnsafeMutablePointer<Float>, batchSize: Int, inputCount: Int, outputCount: Int,
    activation: Activation
) {
    // Z[B,O] = X[B,I] · W[O,I]ᵀ
    sgemm(transposeA: false, transposeB: true, m: batchSize, n: outputCount, k: inputCount,
          alpha: 1, a: x, lda: inputCount, b: w, ldb: inputCount, beta: 0, c: z, ldc: outputCount)
    switch activation {
    case .identity: addBias(z, bias, rows: batchSize, columns: outputCount)
    case .relu: addBiasReLU(z, bias, rows: batchSize, columns: outputCount)
    }
}

/// Rows `outputRows` of the weight gradient: `dW[o, :] = Σ_b dZ[b, o] · X[b, :]` for `o` in
/// `outputRows` (overwritten; other rows untouched). `dw` points at the whole `[O, I]` gradient.
///
/// Lets a caller finish a layer's weight gradient block by block (and start reducing finished
/// rows while it computes the rest). Each element is the same length-B dot product whatever the
/// blocks, and OpenBLAS accumulates it in the same order: the result does not depend on the split
/// (tested bitwise on the model's shapes).
@inline(__always)
public func denseWeightGradient(
    outputGradient dz: UnsafePointer<Float>, input x: UnsafePointer<Float>, weightGradient dw: UnsafeMutablePointer<Float>,
    batchSize: Int, inputCount: Int, outputCount: Int, outputRows: Range<Int>
) {
    precondition(outputRows.lowerBound >= 0 && outputRows.upperBound <= outputCount,
                 "output rows \(outputRows) of \(outputCount)")
    let o0 = outputRows.lowerBound
    // dW[o0..<o1, I] = dZ[B, o0..<o1]ᵀ · X[B, I]
    sgemm(transposeA: true, transposeB: false, m: outputRows.count, n: inputCount, k: batchSize,
          alpha: 1, a: dz + o0, lda: outputCount, b: x, ldb: inputCount, beta: 0, c: dw + o0 * inputCount,
          ldc: inputCount)
}

/// The bias gradient `db = Σ_rows dZ` `[O]` (overwritten), rows summed in order.
@inline(__always)
public func denseBiasGradient(
    outputGradient dz: UnsafePointer<Float>, biasGradient db: UnsafeMutablePointer<Float>, batchSize: Int,
    outputCount: Int
) {
    sumRows(dz, into: db, rows: batchSize, columns: outputCount)
}

/// Input gradient: `dX = dZ · W` `[B, I]`; with `reluOutput` (the layer input's post-ReLU values
/// `[B, I]`) the ReLU derivative is fused in: `dX ⊙ (X > 0)`, giving the previous layer's `dZ`.
@inline(__always)
public func denseInputGradient(
    outputGradient dz: UnsafePointer<Float>, weights w: UnsafePointer<Float>,
    inputGradient dx: UnsafeMutablePointer<Float>, reluOutput: UnsafePointer<Float>?,
    batchSize: Int, inputCount: Int, outputCount: Int
) {
    // dX[B,I] = dZ[B,O] · W[O,I]
    sgemm(transposeA: false, transposeB: false, m: batchSize, n: inputCount, k: outputCount,
          alpha: 1, a: dz, lda: outputCount, b: w, ldb: inputCount, beta: 0, c: dx, ldc: inputCount)
    if let reluOutput { maskByPositive(dx, reluOutput, count: batchSize * inputCount) }
}

// MARK: - Elementwise passes

/// `z[r, c] += bias[c]`.
@inline(__always)
func addBias(_ z: UnsafeMutablePointer<Float>, _ bias: UnsafePointer<Float>, rows: Int, columns: Int) {
    for r in 0..<rows {
        let row = z + r * columns
        for c in 0..<columns { row[c] += bias[c] }
    }
}

/// `z[r, c] = relu(z[r, c] + bias[c])`, NaN-propagating.
@inline(__always)
func addBiasReLU(_ z: UnsafeMutablePointer<Float>, _ bias: UnsafePointer<Float>, rows: Int, columns: Int) {
    for r in 0..<rows {
        let row = z + r * columns
        for c in 0..<columns {
            let v = row[c] + bias[c]
            row[c] = v < 0 ? 0 : v
        }
    }
}

/// `out[c] = Σ_r m[r, c]`, rows summed in order (deterministic).
@inline(__always)
func sumRows(_ m: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, rows: Int, columns: Int) {
    out.update(repeating: 0, count: columns)
    for r in 0..<rows {
        let row = m + r * columns
        for c in 0..<columns { out[c] += row[c] }
    }
}

/// `g[i] = a[i] > 0 ? g[i] : 0` (the ReLU derivative, from the activation's output; NaN in `a`
/// gives 0). Sixteen lanes at a time with SIMD types: the compiler keeps a scalar loop with
/// branches for the plain select (it cannot rule out that `g` and `a` overlap).
@inline(__always)
func maskByPositive(_ g: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, count: Int) {
    typealias Lanes = SIMD16<Float>
    let width = Lanes.scalarCount
    let vectorCount = count / width
    let gRaw = UnsafeMutableRawPointer(g), aRaw = UnsafeRawPointer(a)
    for v in 0..<vectorCount {
        let offset = v * width * MemoryLayout<Float>.stride
        let gv = gRaw.loadUnaligned(fromByteOffset: offset, as: Lanes.self)
        let av = aRaw.loadUnaligned(fromByteOffset: offset, as: Lanes.self)
        gRaw.storeBytes(of: gv.replacing(with: 0, where: .!(av .> 0)), toByteOffset: offset, as: Lanes.self)
    }
    for i in (vectorCount * width)..<count { g[i] = a[i] > 0 ? g[i] : 0 }
}
