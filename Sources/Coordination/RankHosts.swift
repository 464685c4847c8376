import Collectives
import Foundation

/// The host each rank runs on, as `gethostname(2)` names it, gathered once so that messages about
/// a rank can say where it is (`rank 3 on h2`).
public enum RankHosts {
    /// Every rank's host name (index = rank). Collective.
    public static func gather(_ communicator: Communicator) throws -> [String] {
        try communicator.allgather(bytes: Array(localName().utf8)).map { String(decoding: $0, as: UTF8.self) }
    }

    /// This process's host name, or `?` when `gethostname` fails.
    public static func localName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "?" }
        let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return bytes.isEmpty ? "?" : String(decoding: bytes, as: UTF8.self)
    }
}
