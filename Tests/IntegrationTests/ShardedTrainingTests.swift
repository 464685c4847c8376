import Foundation
import TestSupport
import XCTest

/// `--reduction sharded` (ZeRO stage 1) and `hierarchical` under real `mpirun` on one node: the
/// same training as the allreduce mode within the sum order's difference, bitwise identical across
/// ranks (the lockstep check passes), 1/N of the optimizer state per rank when sharded, and
/// checkpoints that are one file whatever the mode and world size. (Hierarchical across hosts:
/// `ClusterTests`.)
final class ShardedTrainingTests: XCTestCase {
    /// 784-63-32-10 has 51,833 parameters: the slices differ in size at 2, 3 and 4 ranks.
    private static let parameters = 51_833

    /// 2,496 samples = 26 global batches of 96 (divisible by 1-4 ranks), Adam with clipping (so
    /// the agreed norm and every state buffer matter).
    private func train(ranks: Int, _ reduction: String, _ extra: [String] = []) throws -> ProcessResult {
        try ProcessRunner.mpirun(
            ranks: ranks,
            ["train", "--limit-train", "2496", "--limit-test", "500", "--epochs", "2", "--global-batch", "96",
             "--hidden", "63,32", "--optimizer", "adam", "--lr", "0.002", "--clip-grad-norm", "0.5",
             "--verify-every", "5", "--no-plots", "--reduction", reduction] + extra, timeout: 120)
    }

    private func finalLosses(_ output: String) -> (train: Double, test: Double)? {
        guard let line = logLines(output).last(where: { $0.hasPrefix("epoch 2/2") }) else { return nil }
        func value(_ name: String) -> Double? {
            line.range(of: "\(name) [0-9.]+", options: .regularExpression)
                .flatMap { Double(line[$0].dropFirst(name.count + 1)) }
        }
        guard let train = value("train loss"), let test = value("test loss") else { return nil }
        return (train, test)
    }

    func testShardedAndHierarchicalTrainingMatchAllreduceAtOneToFourRanks() throws {
        for ranks in 1...4 {
            let plain = try train(ranks: ranks, "allreduce", ["--no-checkpoints"])
            XCTAssertEqual(plain.exitCode, 0, plain.combinedOutput)
            let plainHash = try XCTUnwrap(verifiedParameterHash(in: plain.standardOutput), plain.combinedOutput)
            let plainLoss = try XCTUnwrap(finalLosses(plain.standardOutput), plain.combinedOutput)
            XCTAssertTrue(plain.standardOutput.contains(
                "optimizer adam, state \(String(format: "%.2f", Double(2 * 4 * Self.parameters) / 1e6)) MB per rank\n"), plain.combinedOutput)
            for reduction in ["sharded", "hierarchical"] {
                let result = try train(ranks: ranks, reduction, ["--no-checkpoints"])
                XCTAssertEqual(result.exitCode, 0, result.combinedOutput)
                let hash = try XCTUnwrap(verifiedParameterHash(in: result.standardOutput), result.combinedOutput)
                if reduction == "sharded" {
                    // Every rank holds 1/N of Adam's two moments: the largest slice, 4 bytes each.
                    let slice = (Self.parameters + ranks - 1) / ranks
                    let megabytes = String(format: "%.2f", Double(2 * 4 * slice) / 1e6)
                    XCTAssertTrue(result.standardOutput.contains(
                        "reduction sharded, optimizer adam, state \(megabytes) MB per rank (\(slice.formatted()) of the 51,833 parameters)"),
                        result.combinedOutput)
                    // Two terms add alike in any order: at 2 ranks, the allreduce's bits.
                    if ranks == 2 { XCTAssertEqual(hash, plainHash, "sharded at 2 ranks") }
                }
                // Otherwise only the order of each element's N terms (and of the norm's partial
                // sums) differs: after 52 steps the losses agree to about 1e-7 relative, as the
                // world sizes do.
                let loss = try XCTUnwrap(finalLosses(result.standardOutput), result.combinedOutput)
                assertClose(loss.train, plainLoss.train, relative: 1e-5, "train loss, \(reduction) at \(ranks) ranks")
                assertClose(loss.test, plainLoss.test, relative: 1e-5, "test loss, \(reduction) at \(ranks) ranks")
            }
        }
    }

    /// A run interrupted after 10 steps and resumed continues bitwise: at 3 ranks in the sharded
    /// mode (the whole state gathered into the file, each rank's uneven slice taken back), and at
    /// 2 ranks from one mode into the other (where both modes give the same bits).
    func testACheckpointIsTheSameFileInEveryModeAndResumesInTheOther() throws {
        let directory = try ProcessRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        func hash(_ result: ProcessResult) throws -> String {
            XCTAssertEqual(result.exitCode, 0, result.combinedOutput)
            return try XCTUnwrap(verifiedParameterHash(in: result.standardOutput), result.combinedOutput)
        }
        func interrupted(ranks: Int, _ first: String, then second: String, name: String) throws -> (String, Data) {
            let runDirectory = directory.appendingPathComponent(name).path
            let stopped = try train(ranks: ranks, first, ["--run-dir", runDirectory, "--stop-after-steps", "10"])
            XCTAssertEqual(stopped.exitCode, 0, stopped.combinedOutput)
            let checkpoints = directory.appendingPathComponent(name).appendingPathComponent("checkpoints")
            let file = try XCTUnwrap(FileManager.default.contentsOfDirectory(atPath: checkpoints.path).first { $0.hasSuffix(".safetensors") })
            let bytes = try Data(contentsOf: checkpoints.appendingPathComponent(file))
            return (try hash(try train(ranks: ranks, second, ["--run-dir", runDirectory, "--resume", "auto"])), bytes)
        }
        let threeRanks = try hash(try train(ranks: 3, "sharded", ["--no-checkpoints"]))
        XCTAssertEqual(try interrupted(ranks: 3, "sharded", then: "sharded", name: "three").0, threeRanks)

        let twoRanks = try hash(try train(ranks: 2, "allreduce", ["--no-checkpoints"]))
        let (fromSharded, shardedFile) = try interrupted(ranks: 2, "sharded", then: "allreduce", name: "s-to-a")
        let (fromAllreduce, plainFile) = try interrupted(ranks: 2, "allreduce", then: "sharded", name: "a-to-s")
        XCTAssertEqual(fromSharded, twoRanks)
        XCTAssertEqual(fromAllreduce, twoRanks)
        // The tensors (every optimizer buffer whole) are the same bytes; only the header's
        // configuration names the mode.
        let header = { (data: Data) in 8 + Int(data.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }) }
        XCTAssertEqual(shardedFile.dropFirst(header(shardedFile)), plainFile.dropFirst(header(plainFile)))
    }

    func testTheWorldSizeInvariantModeRefusesTheShardedReduction() throws {
        let result = try ProcessRunner.mpirun(
            ranks: 2, ["train", "--world-size-invariant", "--micro-batch", "16", "--reduction", "sharded"], timeout: 60)
        assertRefusedOnce(result, message: "error: --reduction sharded does not combine with --world-size-invariant")
        let shared = try ProcessRunner.mpirun(ranks: 2, ["train", "--shared-parameters"], timeout: 60)
        assertRefusedOnce(shared, message: "error: --shared-parameters shares the parameters of --reduction sharded")
    }

    /// `--shared-parameters`: one copy of the parameters in a node-shared window, a barrier in place
    /// of the allgather; the same bits as the sharded mode without it, at 2 and 3 ranks.
    func testSharedParametersTrainToTheSameBits() throws {
        for ranks in [2, 3] {
            let copies = try train(ranks: ranks, "sharded", ["--no-checkpoints"])
            let shared = try train(ranks: ranks, "sharded", ["--no-checkpoints", "--shared-parameters"])
            XCTAssertEqual(copies.exitCode, 0, copies.combinedOutput)
            XCTAssertEqual(shared.exitCode, 0, shared.combinedOutput)
            XCTAssertEqual(
                try XCTUnwrap(verifiedParameterHash(in: shared.standardOutput), shared.combinedOutput),
                try XCTUnwrap(verifiedParameterHash(in: copies.standardOutput), copies.combinedOutput), "\(ranks) ranks")
        }
    }
}
