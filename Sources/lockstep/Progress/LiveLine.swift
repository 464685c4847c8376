import Foundation
import Synchronization

/// One line of a terminal that is rewritten in place: the progress line of `--progress tty`.
///
/// Drawing writes a carriage return, the text and "erase to end of line" (`ESC [ K`, ECMA-48
/// EL), so a shorter line leaves nothing behind. Log messages step around it: `suspend` erases
/// the line, lets the message print, and draws the line again below it.
final class LiveLine: Sendable {
    private struct State {
        var text: String?
    }

    private let state = Mutex(State())
    private let write: @Sendable (String) -> Void

    /// Carriage return, then erase from the cursor to the end of the line.
    static let eraseLine = "\r\u{1B}[K"

    init(write: @escaping @Sendable (String) -> Void = { FileHandle.standardOutput.write(Data($0.utf8)) }) {
        self.write = write
    }

    /// Replaces the line with `text` (which must fit the terminal's width and hold no newline).
    func show(_ text: String) {
        state.withLock { state in
            state.text = text
            write(Self.eraseLine + text)
        }
    }

    /// Erases the line; the next output starts at the beginning of an empty line.
    func clear() {
        state.withLock { state in
            guard state.text != nil else { return }
            state.text = nil
            write(Self.eraseLine)
        }
    }

    /// Runs `body` (which prints whole lines) with the line erased, then draws it again.
    func suspend(_ body: () -> Void) {
        state.withLock { state in
            guard let text = state.text else { return body() }
            write(Self.eraseLine)
            body()
            write(Self.eraseLine + text)
        }
    }
}
