import CVectorKernels

/// Whether the convolution's and the pooling's row loops run the AVX-512 kernels of
/// `CVectorKernels` (`lockstep_vector.h`) instead of their Swift loops, which are compiled for the
/// x86-64 baseline so that one binary runs on every x86-64 CPU.
///
/// Both give the same bits: each element goes through the same moves, additions and comparisons
/// in the same order (`VectorKernelsTests` runs both on the same inputs).
public enum VectorKernels {
    /// True when the CPU and the operating system support AVX-512F.
    public static let available = lockstep_vector_avx512() != 0

    /// The kernels in use: `available`, unless a test turned them off to run the Swift loops.
    /// Set only from tests, between kernel calls.
    nonisolated(unsafe) public static var enabled = available
}
