import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A test-only fault injected into `CheckpointWriter.write`, to prove that an interrupted or
/// failed write leaves the previous checkpoint intact.
public enum CheckpointWriteFault: Sendable, Equatable {
    /// No fault: the normal write.
    case none
    /// Writes the first `byteCount` bytes of the temporary file, then kills the process with
    /// `SIGKILL` (exactly what `kill -9` does mid-write: no cleanup, no rename). A count at
    /// least the file size crashes after the whole file is written, before the rename.
    case crashAfterBytes(Int)
    /// Writes the first `byteCount` bytes, then fails as if `write` had returned `errno` `code`
    /// (e.g. `ENOSPC`), going through the ordinary failure path.
    case failAfterBytes(Int, code: Int32)

    /// Parses `crash-after-bytes:N` or `fail-after-bytes:N` (failing with `ENOSPC`), the spelling
    /// for an environment variable or hidden flag that integration tests set; nil otherwise.
    public init?(specification: String) {
        let parts = specification.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let count = Int(parts[1]), count >= 0 else { return nil }
        switch parts[0] {
        case "crash-after-bytes": self = .crashAfterBytes(count)
        case "fail-after-bytes": self = .failAfterBytes(count, code: ENOSPC)
        default: return nil
        }
    }
}

/// Writes checkpoint files atomically: a reader (or a resumed run) sees either the complete
/// previous file or the complete new one, whenever the writer dies.
///
/// Sequence (the classic write-temporary-then-rename protocol): write all bytes to a temporary
/// file in the same directory (`.NAME.tmp-PID`: a leading dot and a suffix, so it can never be
/// mistaken for a checkpoint), `fsync` it, close it, `rename` it over `NAME`, `fsync` the
/// directory so the rename itself is durable. On any failure the temporary file is removed and
/// a `CheckpointError.writeFailed` names the operation, the path and `strerror(errno)`. A failure
/// of the final directory `fsync` is reported too, although the new file is then in place.
public enum CheckpointWriter {
    /// Writes `checkpoint` to `url` (layout: `CheckpointFormat`). The directory must exist.
    /// - Throws: `CheckpointError.writeFailed` (exit status `.io`).
    /// - Precondition: tensor names are unique and no metadata key is reserved.
    public static func write(_ checkpoint: Checkpoint, to url: URL, fault: CheckpointWriteFault = .none) throws {
        let bytes = CheckpointEncoder.encode(checkpoint)
        try bytes.withUnsafeBytes { try writeAtomically($0, to: url, fault: fault) }
    }

    /// The temporary name for a file named `fileName`, unique per process.
    public static func temporaryFileName(for fileName: String) -> String {
        ".\(fileName).tmp-\(getpid())"
    }

    static func writeAtomically(_ bytes: UnsafeRawBufferPointer, to url: URL, fault: CheckpointWriteFault) throws {
        let path = url.path
        let directory = url.deletingLastPathComponent().path
        let temporaryPath = url.deletingLastPathComponent().appendingPathComponent(temporaryFileName(for: url.lastPathComponent)).path

        let descriptor = open(temporaryPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw CheckpointError.writeFailed(file: temporaryPath, operation: "create", code: errno)
        }
        var isOpen = true
        func failure(_ operation: String, _ code: Int32, file: String = temporaryPath) -> CheckpointError {
            if isOpen { close(descriptor) }
            unlink(temporaryPath)
            return CheckpointError.writeFailed(file: file, operation: operation, code: code)
        }

        switch fault {
        case .none:
            if let code = POSIXFile.writeAll(descriptor, bytes) { throw failure("write", code) }
        case let .crashAfterBytes(byteCount):
            _ = POSIXFile.writeAll(descriptor, UnsafeRawBufferPointer(rebasing: bytes.prefix(byteCount)))
            kill(getpid(), SIGKILL)
            _exit(137)  // not reached: SIGKILL cannot be caught
        case let .failAfterBytes(byteCount, code):
            let realFailure = POSIXFile.writeAll(descriptor, UnsafeRawBufferPointer(rebasing: bytes.prefix(byteCount)))
            throw failure("write", realFailure ?? code)
        }
        if fsync(descriptor) != 0 { throw failure("fsync", errno) }
        isOpen = false
        if close(descriptor) != 0 { throw failure("close", errno) }
        if rename(temporaryPath, path) != 0 { throw failure("rename", errno, file: "\(temporaryPath) to \(path)") }
        if let (operation, code) = POSIXFile.syncDirectory(directory) {
            // The new file is in place; only its durability across a power loss is in doubt.
            throw CheckpointError.writeFailed(file: directory, operation: operation, code: code)
        }
    }
}
