import Foundation

/// Writing an output file failed: a run directory, the metrics, a checkpoint directory.
public struct OutputError: ReportableError, Equatable {
    public let path: String
    public let action: String
    public let reason: String
    /// What to do, when the general advice does not fit.
    public let advice: String?

    public init(path: String, action: String, reason: String, hint: String? = nil) {
        self.path = path
        self.action = action
        self.reason = reason
        advice = hint
    }

    public var exitStatus: ExitStatus { .io }
    public var description: String { "cannot \(action) \(path): \(reason)" }
    public var hint: String? { advice ?? "choose a folder you can write to, or free space on its disk" }

    /// Creates the folder `path` and its parents.
    /// - Parameter action: what the message says was tried, e.g. "create the run directory".
    /// - Throws: `OutputError` with a reason a person can act on (Foundation's own message on
    ///   Linux is a bare "The file doesn't exist." or "NSCocoaErrorDomain error 512").
    public static func createDirectories(atPath path: String, action: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            let why = reason(creating: path, error)
            throw OutputError(
                path: path, action: action, reason: why,
                hint: why.hasSuffix("is a file, not a folder") ? "choose a path without that file in it, or move the file" : nil)
        }
    }

    /// Creates the folder `path` (and its parents) and proves that it takes new files by writing
    /// and removing a probe, so that a run fails at its start, not when it first writes there.
    /// - Parameters:
    ///   - creating: what the message says was tried when the folder cannot be created ("create the
    ///     checkpoint directory").
    ///   - action: what it says when the folder takes no file ("write checkpoints to").
    /// - Throws: `OutputError` naming the folder and the reason.
    public static func requireWritableFolder(atPath path: String, creating: String, action: String) throws {
        try createDirectories(atPath: path, action: creating)
        let probe = (path as NSString).appendingPathComponent(".lockstep-write-test-\(getpid())")
        guard FileManager.default.createFile(atPath: probe, contents: Data([0])) else {
            throw OutputError(path: path, action: action, reason: String(cString: strerror(errno)))
        }
        try? FileManager.default.removeItem(atPath: probe)
    }

    /// Why `path` could not be created, judged from its nearest existing ancestor.
    private static func reason(creating path: String, _ error: Error) -> String {
        var ancestor = (path as NSString).deletingLastPathComponent
        while !ancestor.isEmpty, ancestor != "/", !FileManager.default.fileExists(atPath: ancestor) {
            ancestor = (ancestor as NSString).deletingLastPathComponent
        }
        let parent = ancestor.isEmpty ? "." : ancestor
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue {
            return "\(path) is a file, not a folder"
        }
        if FileManager.default.fileExists(atPath: parent, isDirectory: &isDirectory), !isDirectory.boolValue {
            return "\(parent) is a file, not a folder"
        }
        if !FileManager.default.isWritableFile(atPath: parent) { return "no permission to write in \(parent)" }
        return "\(parent) does not accept new folders (\((error as NSError).localizedDescription))"
    }
}
