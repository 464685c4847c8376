internal import CMPIShim
import Reporting

/// A failed MPI call: the operation, the MPI (or shim) error code and MPI's own description.
public struct MPIError: ReportableError, Sendable, Equatable {
    /// What was being done, e.g. "allreduce of 535818 Float".
    public let operation: String
    /// The MPI error code, or a negative `LOCKSTEP_MPI_ERR_*` code from the shim.
    public let code: Int32
    /// MPI_Error_string's text for `code`.
    public let message: String

    public init(operation: String, code: Int32, message: String) {
        self.operation = operation
        self.code = code
        self.message = message
    }

    public var description: String { "MPI \(operation) failed: \(message) (code \(code))" }

    /// True for an error MPI itself returned, false for the shim's own refusals (negative codes).
    public var isFromMPI: Bool { code > 0 }
    public var mayFollowAPeersFailure: Bool { isFromMPI }

    public var hint: String? {
        guard isFromMPI else { return nil }
        return "if another rank ended first or its host became unreachable, the launcher's report that follows names it"
    }
    public var exitStatus: ExitStatus { .mpi }

    /// Turns a shim status into a thrown error; every shim call goes through here.
    static func check(_ status: Int32, _ operation: @autoclosure () -> String) throws {
        guard status != 0 else { return }
        throw MPIError(operation: operation(), code: status, message: errorString(status))
    }

    static func errorString(_ code: Int32) -> String {
        var text = [CChar](repeating: 0, count: 512)
        lockstep_mpi_error_string(code, &text, Int32(text.count))
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// Refuses counts above MPI's `Int32` range before they reach C (the shim checks again).
@inline(__always)
func checkedCount(_ count: Int, _ operation: @autoclosure () -> String) throws -> Int64 {
    guard count <= Int(Int32.max) else {
        throw MPIError(
            operation: operation(), code: Int32(LOCKSTEP_MPI_ERR_COUNT),
            message: "count \(count) exceeds MPI's Int32 limit of \(Int32.max) elements")
    }
    return Int64(count)
}
