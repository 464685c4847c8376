#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The few system calls checkpoints need, with `errno` turned into `CheckpointError`s.
/// Plain POSIX rather than `FileManager` because atomic replacement needs `fsync` of the file and of
/// its directory, and errors must carry the exact `errno`.
enum POSIXFile {
    /// The whole regular file at `path` (at most `limit` bytes).
    static func readAll(path: String, limit: Int) throws -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            let code = errno
            throw code == ENOENT ? CheckpointError.fileNotFound(file: path) : CheckpointError.cannotOpen(file: path, code: code)
        }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw CheckpointError.readFailed(file: path, code: errno) }
        guard (status.st_mode & S_IFMT) == S_IFREG else { throw CheckpointError.notARegularFile(file: path) }
        let size = Int(status.st_size)
        guard size <= limit else { throw CheckpointError.fileTooLarge(file: path, byteCount: size, limit: limit) }
        var failure: Int32 = 0
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            while initialized < size {
                let count = read(descriptor, buffer.baseAddress! + initialized, size - initialized)
                if count > 0 {
                    initialized += count
                } else if count == 0 {
                    break  // the file shrank since fstat: decode what is there (it will be refused)
                } else if errno != EINTR {
                    failure = errno
                    break
                }
            }
        }
        guard failure == 0 else { throw CheckpointError.readFailed(file: path, code: failure) }
        return bytes
    }

    /// Writes all of `bytes` to `descriptor`; returns `errno` on failure (a write that makes no
    /// progress counts as `EIO`).
    static func writeAll(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer) -> Int32? {
        var offset = 0
        while offset < bytes.count {
            let count = write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if count > 0 {
                offset += count
            } else if count == 0 {
                return EIO
            } else if errno != EINTR {
                return errno
            }
        }
        return nil
    }

    /// `fsync`s the directory at `path`, so a rename inside it survives a power loss.
    /// Returns `errno` on failure; `EINVAL` (file systems that cannot sync directories) is not one.
    static func syncDirectory(_ path: String) -> (operation: String, code: Int32)? {
        let descriptor = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { return ("open directory", errno) }
        defer { close(descriptor) }
        if fsync(descriptor) != 0 && errno != EINVAL { return ("fsync directory", errno) }
        return nil
    }

    /// Creates the directory at `path` and any missing parents (`mkdir -p`); returns `errno` on
    /// failure (`ENOTDIR` when something in the way is not a directory).
    static func makeDirectories(_ path: String) -> Int32? {
        if mkdir(path, 0o755) == 0 { return nil }
        let code = errno
        switch code {
        case EEXIST:
            return isDirectory(path) ? nil : ENOTDIR
        case ENOENT:
            var parent = path
            while parent.count > 1 && parent.hasSuffix("/") { parent.removeLast() }
            guard let slash = parent.lastIndex(of: "/") else { return code }
            parent = String(parent[..<slash])
            guard !parent.isEmpty, parent != path else { return code }
            if let failure = makeDirectories(parent) { return failure }
            if mkdir(path, 0o755) == 0 || (errno == EEXIST && isDirectory(path)) { return nil }
            return errno
        default:
            return code
        }
    }

    static func isDirectory(_ path: String) -> Bool {
        var status = stat()
        return stat(path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFDIR
    }
}
