import Foundation

/// Chooses the OpenBLAS kernel ("core") for this process.
///
/// Debian's OpenBLAS 0.3.21 is built with DYNAMIC_ARCH and picks its kernel when the library loads,
/// from the CPU model. On CPUs it does not know (newer AMD EPYC among them) it falls back to the
/// generic `Prescott` kernel: about 30 GFLOP/s per core for sgemm, against about 140 with the
/// `SkylakeX` kernel on the same AVX-512 machine. The environment variable `OPENBLAS_CORETYPE`
/// overrides the choice but is read only at library load, so the process must re-execute itself
/// with it set (before `MPI_Init`) for the choice to take effect.
public struct BLASCoreSelection: Equatable, Sendable {
    /// What the user asked for with `--blas-core`.
    public enum Request: Equatable, Sendable {
        /// Use the best kernel for this CPU when OpenBLAS fell back to a generic one and the user
        /// has not set `OPENBLAS_CORETYPE`.
        case auto
        /// Keep whatever the library chose (or `OPENBLAS_CORETYPE` says).
        case library
        /// Force this kernel, e.g. "SkylakeX", "Haswell", "Prescott".
        case named(String)

        /// Parses `auto`, `library` or a kernel name.
        public init(_ text: String) {
            switch text.lowercased() {
            case "auto": self = .auto
            case "library": self = .library
            default: self = .named(text)
            }
        }
    }

    /// What to do about it.
    public enum Decision: Equatable, Sendable {
        /// Keep the running kernel.
        case keep
        /// Re-execute this process with `OPENBLAS_CORETYPE` set to this name.
        case reexecute(core: String)
    }

    /// Environment variable that marks a process as already re-executed (prevents loops).
    public static let reexecutedMarker = "LOCKSTEP_BLAS_REEXECUTED"

    /// The x86-64 kernels an OpenBLAS DYNAMIC_ARCH build accepts in `OPENBLAS_CORETYPE` (0.3.21's
    /// `gotoblas_corename` list); any other name is ignored by the library.
    public static let knownCores: [String] = [
        "Katmai", "Coppermine", "Northwood", "Prescott", "Banias", "Atom", "Core2", "Penryn", "Dunnington",
        "Nehalem", "Sandybridge", "Haswell", "SkylakeX", "Cooperlake", "SapphireRapids", "Opteron",
        "Opteron_SSE3", "Barcelona", "Bobcat", "Bulldozer", "Piledriver", "Steamroller", "Excavator", "Zen",
    ]

    /// True for `auto`, `library` and the names in `knownCores` (any letter case).
    public static func isValidRequest(_ text: String) -> Bool {
        ["auto", "library"].contains(text.lowercased())
            || knownCores.contains { $0.caseInsensitiveCompare(text) == .orderedSame }
    }

    /// OpenBLAS kernels without AVX2 FMA kernels: what DYNAMIC_ARCH falls back to on unknown CPUs.
    public static let genericCores: Set<String> = [
        "prescott", "katmai", "coppermine", "northwood", "banias", "core2", "penryn", "dunnington",
        "nehalem", "atom", "opteron", "opteron_sse3", "barcelona",
    ]

    /// The best kernel this CPU can run, from its `/proc/cpuinfo` flags, or nil.
    public static func bestCore(cpuFlags: Set<String>) -> String? {
        if ["avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd"].allSatisfy(cpuFlags.contains) {
            return "SkylakeX"
        }
        if ["avx2", "fma"].allSatisfy(cpuFlags.contains) { return "Haswell" }
        return nil
    }

    /// Decides whether to re-execute. Pure: all inputs are parameters.
    /// - Parameters:
    ///   - request: the `--blas-core` value.
    ///   - runningCore: `BLASRuntime.coreName` of this process.
    ///   - environment: the process environment (`OPENBLAS_CORETYPE`, the re-execution marker).
    ///   - cpuFlags: the CPU's feature flags.
    public static func decide(
        request: Request, runningCore: String, environment: [String: String], cpuFlags: Set<String>
    ) -> Decision {
        if environment[reexecutedMarker] != nil { return .keep }
        switch request {
        case .library:
            return .keep
        case .named(let name):
            return name.caseInsensitiveCompare(runningCore) == .orderedSame ? .keep : .reexecute(core: name)
        case .auto:
            if let userChoice = environment["OPENBLAS_CORETYPE"], !userChoice.isEmpty { return .keep }
            guard genericCores.contains(runningCore.lowercased()), let best = bestCore(cpuFlags: cpuFlags) else {
                return .keep
            }
            return .reexecute(core: best)
        }
    }

    /// The CPU feature flags of the first processor in `/proc/cpuinfo` (empty where unavailable).
    public static func cpuFlags(cpuinfo path: String = "/proc/cpuinfo") -> Set<String> {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        for line in text.split(separator: "\n") where line.hasPrefix("flags") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
        }
        return []
    }
}
