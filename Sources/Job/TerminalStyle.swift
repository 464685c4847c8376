import Foundation
@preconcurrency import Rainbow

/// Colours and styles for text meant for a person at a terminal, through Rainbow.
///
/// Whether a stream gets colours is decided per stream (standard output and standard error may
/// differ): `FORCE_COLOR` (non-empty, not `0`) always; `NO_COLOR` never (https://no-color.org);
/// otherwise when the stream is a terminal and `TERM` is not `dumb`.
public struct TerminalStyle: Sendable {
    public let isEnabled: Bool

    public init(isEnabled: Bool) {
        self.isEnabled = isEnabled
        if isEnabled {
            // Rainbow checks standard output itself; the decision here is per stream.
            Rainbow.outputTarget = .console
            Rainbow.enabled = true
        }
    }

    /// The style for the stream with file descriptor `descriptor`.
    public init(descriptor: Int32, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.init(isEnabled: Self.colorsWanted(isTerminal: isatty(descriptor) == 1, environment: environment))
    }

    public static func colorsWanted(isTerminal: Bool, environment: [String: String]) -> Bool {
        func isSet(_ name: String) -> Bool { environment[name].map { !$0.isEmpty && $0 != "0" } ?? false }
        if isSet("FORCE_COLOR") { return true }
        if isSet("NO_COLOR") { return false }
        return isTerminal && environment["TERM"] != "dumb"
    }

    public func error(_ text: String) -> String { isEnabled ? text.red.bold : text }
    public func hint(_ text: String) -> String { isEnabled ? text.yellow : text }
    public func accent(_ text: String) -> String { isEnabled ? text.cyan : text }
    public func dim(_ text: String) -> String { isEnabled ? text.dim : text }
}
