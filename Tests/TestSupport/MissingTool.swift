import Foundation
import XCTest

/// The error for a test whose external tool (python3 with a package, matplotlib, the simulated
/// cluster) is missing: a skip on a developer's machine, but a failure under CI (`CI=true`, set
/// by `.ci/run`), where `scripts/test.sh` installed every tool and a skip would let CI go green
/// without running the test.
public func missingTool(_ message: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> any Error {
    environment["CI"] == "true" ? MissingToolUnderCI(message: message) : XCTSkip(message)
}

/// A tool missing under CI.
public struct MissingToolUnderCI: Error, CustomStringConvertible {
    public let message: String
    public var description: String { "missing under CI (CI=true), where scripts/test.sh installs it: \(message)" }
}
