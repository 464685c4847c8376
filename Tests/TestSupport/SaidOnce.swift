import XCTest

/// Checks a job that every rank refused alike: it ended with `status`, rank 0 alone said
/// `message` (once on standard error, without a `rank N:` prefix), and Open MPI printed no abort
/// banner.
public func assertRefusedOnce(
    _ result: ProcessResult, status: Int32 = 64, message: String, file: StaticString = #filePath, line: UInt = #line
) {
    XCTAssertEqual(result.exitCode, status, result.combinedOutput, file: file, line: line)
    XCTAssertEqual(result.standardError.components(separatedBy: message).count - 1, 1, result.combinedOutput, file: file, line: line)
    XCTAssertNil(result.combinedOutput.range(of: #"rank \d+: "#, options: .regularExpression), result.combinedOutput, file: file, line: line)
    XCTAssertFalse(result.combinedOutput.contains("MPI_ABORT"), result.combinedOutput, file: file, line: line)
}
