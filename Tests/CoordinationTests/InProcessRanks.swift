import Collectives
import XCTest

/// Runs `body` on every rank of an in-process group of each world size and returns each rank's
/// outcome; fails the test when a rank timed out (a collective some rank never joined).
func eachWorldSize<Value>(
    sizes: [Int] = [1, 2, 3, 4], file: StaticString = #filePath, line: UInt = #line,
    _ body: @escaping @Sendable (InProcessCommunicator) throws -> Value,
    check: (_ worldSize: Int, _ results: [Result<Value, any Error>]) throws -> Void
) rethrows {
    for size in sizes {
        let results = InProcessGroup.run(worldSize: size, timeout: 20, body)
        for case .failure(let error as InProcessGroupError) in results {
            XCTFail("world of \(size): \(error)", file: file, line: line)
        }
        try check(size, results)
    }
}

extension Result {
    /// The error, or nil on success.
    var error: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
