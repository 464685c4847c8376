import Foundation
import TestSupport
import XCTest

/// Every OpenBLAS kernel this CPU can run, selected through `--blas-core` (re-execution with
/// OPENBLAS_CORETYPE), gives sgemm results that match the naive reference on the model's shapes.
final class BLASKernelTests: XCTestCase {
    private func diagnose(_ arguments: [String]) throws -> (ProcessResult, [String: Any]) {
        let result = try ProcessRunner.lockstep(["diagnose", "--json"] + arguments, timeout: 60)
        let object = (try? JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8))) as? [String: Any] ?? [:]
        return (result, object)
    }

    private var cpuFlags: Set<String> {
        let text = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let line = text.split(separator: "\n").first { $0.hasPrefix("flags") } ?? ""
        return Set(line.split(separator: " ").map(String.init))
    }

    func testEveryRunnableKernelMatchesTheNaiveReference() throws {
        var kernels = ["Prescott"]
        if cpuFlags.isSuperset(of: ["avx2", "fma"]) { kernels.append("Haswell") }
        if cpuFlags.isSuperset(of: ["avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd"]) { kernels.append("SkylakeX") }
        for kernel in kernels {
            let (result, report) = try diagnose(["--blas-core", kernel])
            XCTAssertEqual(result.exitCode, 0, "\(kernel): \(result.combinedOutput)")
            XCTAssertEqual(report["blas_core"] as? String, kernel, "the re-executed process runs the requested kernel")
            XCTAssertEqual(report["passed"] as? Bool, true, "\(kernel): \(result.standardOutput)")
            XCTAssertLessThan(report["sgemm_max_error"] as? Double ?? 1, 1e-4)
        }
        for request in ["auto", "library"] {
            let (result, report) = try diagnose(["--blas-core", request])
            XCTAssertEqual(result.exitCode, 0, "\(request): \(result.combinedOutput)")
            XCTAssertEqual(report["passed"] as? Bool, true)
        }
    }

    func testTheCheckFailsWhenTheToleranceCannotBeMet() throws {
        // Float sgemm never matches the Double reference to 1e-12 (the smallest tolerance accepted;
        // 0 is a usage error): the check must fail.
        let (result, report) = try diagnose(["--tolerance", "1e-12"])
        XCTAssertEqual(result.exitCode, 70, result.combinedOutput)
        XCTAssertEqual(report["passed"] as? Bool, false)
    }
}
