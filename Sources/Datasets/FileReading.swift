#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Whole-file reads through POSIX `open`/`fstat`/`read`, so that each failure maps onto its own
/// `DatasetError` (missing vs unreadable) and large files are read in a few big `read` calls.
enum FileReading {
    /// True when something exists at `path` (of any type, readable or not).
    static func exists(_ path: String) -> Bool {
        var status = stat()
        return lstat(path, &status) == 0
    }

    /// The contents of the regular file at `path` (opened and checked by `openRegularFile`).
    /// - Throws: `DatasetError.missingFile` (nothing there), `.unreadableFile` (permission, not a
    ///   regular file, I/O error), `.fileTooLarge` (more than `limit` bytes).
    static func contents(of path: String, limit: Int) throws(DatasetError) -> [UInt8] {
        let (descriptor, size) = try openRegularFile(path, limit: limit)
        defer { close(descriptor) }

        var readError: Int32 = 0
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, initializedCount in
            var offset = 0
            while offset < size {
                let result = read(descriptor, buffer.baseAddress! + offset, size - offset)
                if result > 0 {
                    offset += result
                } else if result == 0 {
                    break  // the file shrank since fstat: keep what is there, the format checks judge it
                } else if errno != EINTR {
                    readError = errno
                    break
                }
            }
            initializedCount = offset
        }
        if readError != 0 { throw .unreadableFile(path: path, reason: errorMessage(readError)) }
        return bytes
    }

    private static func errorMessage(_ code: Int32) -> String {
        String(cString: strerror(code)).lowercased()
    }
}

extension FileReading {
    /// Checks that `path` is a readable regular file of at most `limit` bytes, as `contents`
    /// does, without reading it (for files that a library opens itself).
    static func checkRegularFile(_ path: String, limit: Int) throws(DatasetError) {
        close(try openRegularFile(path, limit: limit).descriptor)
    }

    /// Opens `path` for reading and checks it: missing, unreadable, not a regular file, more than
    /// `limit` bytes. The caller closes the descriptor.
    ///
    /// `O_NONBLOCK` makes opening a named pipe return at once (refused as not a regular file)
    /// instead of blocking the rank until a writer appears; it does not affect regular files.
    private static func openRegularFile(_ path: String, limit: Int) throws(DatasetError) -> (descriptor: Int32, size: Int) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        if descriptor < 0 {
            let code = errno
            if code == ENOENT || code == ENOTDIR { throw .missingFile(path: path, alternative: nil) }
            throw .unreadableFile(path: path, reason: errorMessage(code))
        }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            let code = errno
            close(descriptor)
            throw .unreadableFile(path: path, reason: errorMessage(code))
        }
        guard status.st_mode & S_IFMT == S_IFREG else {
            close(descriptor)
            throw .unreadableFile(path: path, reason: status.st_mode & S_IFMT == S_IFDIR ? "it is a directory" : "it is not a regular file")
        }
        let size = Int(status.st_size)
        guard size <= limit else {
            close(descriptor)
            throw .fileTooLarge(path: path, byteCount: size, limit: limit)
        }
        return (descriptor, size)
    }
}

extension FileReading {
    /// True when `path` is a directory (following symbolic links).
    static func isDirectory(_ path: String) -> Bool {
        var status = stat()
        return stat(path, &status) == 0 && status.st_mode & S_IFMT == S_IFDIR
    }
}
