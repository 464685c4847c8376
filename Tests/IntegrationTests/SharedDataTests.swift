import Foundation
import TestSupport
import XCTest

/// One copy of the data per node: at 1, 2 and 4 ranks (`--oversubscribe`) the memory of the node
/// (the proportional set size of its ranks, summed) grows by much less than one copy of the data
/// set per added rank, against a full copy per rank with `--data-copies rank`; and training is
/// bitwise the same either way.
final class SharedDataTests: XCTestCase {
    /// The whole training set (47 MB of pixels) and 1,000 test images, 20 steps.
    static let arguments = ["train", "--epochs", "1", "--limit-test", "1000", "--stop-after-steps", "20", "--progress", "none", "--no-plots"]
    static let dataBytes = 60_000 * 784 + 1_000 * 784

    var directory: URL!

    override func setUpWithError() throws { directory = try ProcessRunner.temporaryDirectory("shared-data") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    /// The node's memory in bytes and the params hash of one run.
    private func run(ranks: Int, copies: String) throws -> (bytes: Double, hash: String) {
        let result = try ProcessRunner.mpirun(
            ranks: ranks, Self.arguments + ["--data-copies", copies, "--run-dir", directory.appendingPathComponent("\(copies)-\(ranks)").path],
            timeout: 300)
        XCTAssertEqual(result.exitCode, 0, result.combinedOutput)
        let line = try XCTUnwrap(result.standardOutput.split(separator: "\n").first { $0.contains("memory per node") }, result.standardOutput)
        let megabytes = try XCTUnwrap(line.components(separatedBy: "memory per node ").last?.split(separator: " ").first.flatMap { Double($0) })
        XCTAssertTrue(line.contains("of its \(ranks) rank"), String(line))
        if ranks > 1 {
            XCTAssertTrue(result.standardOutput.contains(copies == "node" ? "one copy per node, shared by its \(ranks) ranks" : "one copy per rank"),
                          result.standardOutput)
        }
        return (megabytes * 1e6, try XCTUnwrap(verifiedParameterHash(in: result.standardOutput)))
    }

    func testTheNodeHoldsOneCopyAndTrainsTheSameBits() throws {
        let one = try run(ranks: 1, copies: "node")
        var report = ["1 rank: \(Int(one.bytes / 1e6)) MB"]
        for ranks in [2, 4] {
            let shared = try run(ranks: ranks, copies: "node")
            let private_ = try run(ranks: ranks, copies: "rank")
            XCTAssertEqual(shared.hash, private_.hash, "\(ranks) ranks")
            let sharedGrowth = (shared.bytes - one.bytes) / Double(ranks - 1)
            let privateGrowth = (private_.bytes - one.bytes) / Double(ranks - 1)
            report.append("\(ranks) ranks: \(Int(shared.bytes / 1e6)) MB shared (+\(Int(sharedGrowth / 1e6)) MB per added rank), "
                          + "\(Int(private_.bytes / 1e6)) MB with a copy per rank (+\(Int(privateGrowth / 1e6)) MB)")
            // Each added rank costs its model, buffers and libraries, but not the data set again.
            XCTAssertLessThan(sharedGrowth, 0.6 * Double(Self.dataBytes), report.joined(separator: "; "))
            XCTAssertGreaterThan(privateGrowth - sharedGrowth, 0.8 * Double(Self.dataBytes), report.joined(separator: "; "))
        }
        print("memory per node: " + report.joined(separator: "; "))
    }
}
