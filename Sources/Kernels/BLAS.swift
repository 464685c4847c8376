internal import COpenBLAS

/// Row-major single-precision matrix multiply through OpenBLAS's `cblas_sgemm`:
/// `C ← alpha · op(A) · op(B) + beta · C`, with `op(A)` `[m, k]`, `op(B)` `[k, n]`, `C` `[m, n]`.
///
/// `lda`, `ldb`, `ldc` are the row strides (in elements) of the matrices as stored, so a
/// transposed operand is read in place: no transposed copies are ever made.
@inline(__always)
public func sgemm(
    transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
    alpha: Float, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
) {
    precondition(m >= 0 && n >= 0 && k >= 0, "sgemm shape m=\(m) n=\(n) k=\(k)")
    precondition(lda >= max(1, transposeA ? m : k) && ldb >= max(1, transposeB ? k : n) && ldc >= max(1, n),
                 "sgemm strides lda=\(lda) ldb=\(ldb) ldc=\(ldc) for m=\(m) n=\(n) k=\(k)")
    cblas_sgemm(
        CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
        blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
}

/// The OpenBLAS library's run-time state: the kernel ("core") it picked and its thread count.
public enum BLASRuntime {
    /// The kernel family OpenBLAS runs, e.g. "SkylakeX", "Haswell", "Prescott".
    public static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// OpenBLAS's build configuration string (version, DYNAMIC_ARCH, threading).
    public static var configuration: String {
        guard let text = openblas_get_config() else { return "unknown" }
        return String(cString: text)
    }

    /// The number of threads each BLAS call may use.
    public static var threadCount: Int { Int(openblas_get_num_threads()) }

    /// Sets the number of threads each BLAS call may use (at least 1).
    public static func setThreadCount(_ count: Int) {
        precondition(count >= 1, "BLAS thread count \(count)")
        openblas_set_num_threads(Int32(count))
    }
}
