import Foundation

/// The allocation of the large buffers (parameters, gradients, optimizer state, activations),
/// made so that running out of memory is a clean error instead of the Swift runtime's trap.
///
/// The memory check (`MemoryAdmission`) refuses a model that does not fit before anything is
/// allocated; this is what is left when the node's memory shrinks after that check (another job)
/// or the estimate falls short: `error: out of memory: …`, exit 71 (`ExitStatus.outOfMemory`),
/// no backtrace. Under `mpirun` the other ranks are then ended by `mpirun`.
public enum AlignedAllocation {
    /// `byteCount` bytes (at least 1) aligned to `alignment` (a power of two, a multiple of the
    /// pointer size), from `posix_memalign`: release them with `free`. Never returns on failure.
    public static func allocate(byteCount: Int, alignment: Int, what: @autoclosure () -> String) -> UnsafeMutableRawPointer {
        var pointer: UnsafeMutableRawPointer?
        let code = posix_memalign(&pointer, alignment, max(byteCount, 1))
        guard code == 0, let pointer else { outOfMemory(byteCount: byteCount, what: what(), code: code) }
        return pointer
    }

    private static func outOfMemory(byteCount: Int, what: String, code: Int32) -> Never {
        let rank = ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_RANK"].map { "rank \($0): " } ?? ""
        let size = String(format: "%.1f MB", Double(byteCount) / 1e6)
        FileHandle.standardError.write(Data("""
            \(rank)error: out of memory: cannot allocate \(size) for \(what) (\(String(cString: strerror(code))))
            \(rank)hint: the node has less memory free than when the run was checked; use a smaller model or batch, fewer ranks per node, or a node with more memory

            """.utf8))
        exit(ExitStatus.outOfMemory.rawValue)
    }
}
