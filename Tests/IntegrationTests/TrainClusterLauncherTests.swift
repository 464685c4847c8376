import Foundation
import TestSupport
import XCTest

/// `scripts/train_cluster.sh` without a cluster: the mpirun command it builds (`LOCKSTEP_DRY_RUN`)
/// and its refusals of bad hostfiles and rank counts. The real launches are in `ClusterTests`.
final class TrainClusterLauncherTests: XCTestCase {
    private static let script = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("scripts/train_cluster.sh").path

    private var directory: URL!

    override func setUpWithError() throws {
        directory = try ProcessRunner.temporaryDirectory("train-cluster")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    private func hostfile(_ text: String) throws -> String {
        let path = directory.appendingPathComponent("hostfile").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Runs the launcher with `LOCKSTEP_DRY_RUN=1` and a stand-in binary.
    private func launcher(_ arguments: [String], environment: [String: String] = [:]) throws -> ProcessResult {
        let base = ["LOCKSTEP_DRY_RUN": "1", "LOCKSTEP_BINARY": "/bin/true", "NP": ""]
        return try ProcessRunner.run(
            Self.script, arguments, environment: base.merging(environment) { $1 }, timeout: 30)
    }

    /// The words of the printed command (none of the tests' words need quoting).
    private func words(_ result: ProcessResult) -> [String] {
        result.standardOutput.split(whereSeparator: \.isWhitespace).map(String.init)
    }

    private func assertContains(
        _ words: [String], _ sequence: [String], file: StaticString = #filePath, line: UInt = #line
    ) {
        let found = words.indices.contains { start in
            start + sequence.count <= words.count && Array(words[start..<start + sequence.count]) == sequence
        }
        XCTAssertTrue(found, "\(sequence.joined(separator: " ")) not in: \(words.joined(separator: " "))", file: file, line: line)
    }

    // MARK: - The command

    func testRanksFromSlotsAndTheTCPClusterSettings() throws {
        let path = try hostfile("node01 slots=4   # first node\n\n# a comment\nnode02 max_slots=8 slots=2\n")
        let result = try launcher([path, "--epochs", "3", "--hidden", "64,32"])
        XCTAssertEqual(result.exitCode, 0, result.combinedOutput)
        let words = words(result)
        XCTAssertEqual(words.first, "mpirun")
        assertContains(words, ["-np", "6", "--hostfile", path])
        assertContains(words, ["--mca", "pml", "ob1", "--mca", "btl", "tcp,self,vader"])
        assertContains(words, ["--mca", "oob_tcp_keepalive_time", "2"])
        assertContains(words, ["--mca", "oob_tcp_keepalive_intvl", "1"])
        assertContains(words, ["--mca", "oob_tcp_keepalive_probes", "3"])
        assertContains(words, ["-x", "SWIFT_BACKTRACE"])
        // The binary, then `train`, then the caller's arguments, last.
        XCTAssertEqual(Array(words.suffix(6)), ["/bin/true", "train", "--epochs", "3", "--hidden", "64,32"])
        // ssh by default, every interface unless told, root flags only for root.
        XCTAssertFalse(words.contains("plm_rsh_agent"), result.standardOutput)
        XCTAssertFalse(words.contains("btl_tcp_if_include"), result.standardOutput)
        XCTAssertEqual(words.contains("OMPI_ALLOW_RUN_AS_ROOT"), getuid() == 0, result.standardOutput)
    }

    func testNetworkAgentAndRankCountFromTheEnvironment() throws {
        let path = try hostfile("node01 slots=4\n")
        let result = try launcher(
            [path], environment: ["NP": "3", "LOCKSTEP_NET": "10.0.0.0/24", "LOCKSTEP_RSH_AGENT": "rsh"])
        XCTAssertEqual(result.exitCode, 0, result.combinedOutput)
        let words = words(result)
        assertContains(words, ["-np", "3"])
        assertContains(words, ["--mca", "btl_tcp_if_include", "10.0.0.0/24", "--mca", "oob_tcp_if_include", "10.0.0.0/24"])
        assertContains(words, ["--mca", "plm_rsh_agent", "rsh"])
    }

    func testVariablesAreForwardedOnlyWhenSet() throws {
        let path = try hostfile("node01 slots=1\n")
        let unset = try launcher(
            [path], environment: ["OPENBLAS_CORETYPE": "", "LOCKSTEP_FORWARD": "LOCKSTEP_TEST_UNSET"])
        XCTAssertEqual(unset.exitCode, 0, unset.combinedOutput)
        XCTAssertFalse(words(unset).contains("OPENBLAS_CORETYPE"), unset.standardOutput)
        XCTAssertFalse(words(unset).contains("LOCKSTEP_TEST_UNSET"), unset.standardOutput)
        let set = try launcher(
            [path],
            environment: ["OPENBLAS_CORETYPE": "SkylakeX", "LOCKSTEP_FORWARD": "OMP_NUM_THREADS", "OMP_NUM_THREADS": "1"])
        assertContains(words(set), ["-x", "OPENBLAS_CORETYPE"])
        assertContains(words(set), ["-x", "OMP_NUM_THREADS"])
    }

    func testForwardingSomethingThatIsNotAVariableNameIsRefused() throws {
        let path = try hostfile("node01 slots=1\n")
        let result = try launcher([path], environment: ["LOCKSTEP_FORWARD": "GOOD BAD=1"])
        XCTAssertEqual(result.exitCode, 64, result.combinedOutput)
        XCTAssertEqual(result.standardError, "error: LOCKSTEP_FORWARD: 'BAD=1' is not a variable name\n")
    }

    // MARK: - Refusals

    func testHostLineWithoutSlotsIsRefusedByLine() throws {
        let path = try hostfile("# nodes\nnode01 slots=2\nnode02\n")
        let result = try launcher([path])
        XCTAssertEqual(result.exitCode, 64, result.combinedOutput)
        XCTAssertEqual(
            result.standardError,
            "error: \(path): line 3 (node02) has no slots=N\nhint: give every host slots=N, or set NP\n")
        // NP makes the slots unnecessary.
        XCTAssertEqual(try launcher([path], environment: ["NP": "2"]).exitCode, 0)
    }

    func testHostfileWithoutHostsIsRefused() throws {
        let path = try hostfile("# only a comment\n")
        let result = try launcher([path])
        XCTAssertEqual(result.exitCode, 64, result.combinedOutput)
        XCTAssertEqual(result.standardError, "error: \(path) lists no hosts\n"
            + "hint: add one line 'NAME slots=N' per node (hostfiles/cluster.example shows them commented out)\n")
    }

    func testMissingHostfileIsRefused() throws {
        let path = directory.appendingPathComponent("absent").path
        let result = try launcher([path])
        XCTAssertEqual(result.exitCode, 66, result.combinedOutput)
        XCTAssertEqual(
            result.standardError,
            "error: hostfile '\(path)' is not a readable file\nhint: copy hostfiles/cluster.example and list your nodes\n")
    }

    func testBadRankCountAndBinaryAreRefused() throws {
        let path = try hostfile("node01 slots=1\n")
        let zero = try launcher([path], environment: ["NP": "0"])
        XCTAssertEqual(zero.exitCode, 64, zero.combinedOutput)
        XCTAssertEqual(zero.standardError, "error: NP must be a positive integer, found '0'\n")
        let binary = directory.appendingPathComponent("no-lockstep").path
        let missing = try launcher([path], environment: ["LOCKSTEP_BINARY": binary])
        XCTAssertEqual(missing.exitCode, 66, missing.combinedOutput)
        XCTAssertEqual(missing.standardError, "error: LOCKSTEP_BINARY '\(binary)' is not an executable file\n")
    }
}
