import Foundation

/// What the node can give a job, read before anything is allocated: the smallest of the
/// kernel's estimate of memory available without swapping (`MemAvailable` in `/proc/meminfo`),
/// the cgroup's limit less its usage (cgroup v2 `memory.max` − `memory.current`, or v1
/// `memory.limit_in_bytes` − `memory.usage_in_bytes`), and, per rank, the address-space limit
/// (`RLIMIT_AS`, `ulimit -v`) less the address space the process already holds (`VmSize` in
/// `/proc/self/status`: libraries, MPI's and OpenBLAS's reservations, thread stacks). A job is
/// admitted when its ranks on this node need at most `usableFraction` of that.
public struct MemoryAdmission: Sendable, Equatable {
    /// The share of the available memory a job may plan to use: the rest is the margin for
    /// libraries, MPI buffers, the page cache and estimates that run short.
    public static let usableFraction = 0.9

    /// Address space a process reserves beyond what it allocates, measured here (`VmPeak` of
    /// runs from 15 MB to 1.6 GB of estimated allocations): `VmPeak` ≈ 0.53 GB + 1.23 × the
    /// estimate, of which about 0.3 GB is already held when the check runs. So the check against
    /// `ulimit -v` counts what is held, `laterReservedBytes` more (OpenBLAS's buffers, thread
    /// stacks and malloc arenas, reserved on first use) and the estimate × `addressSpaceFactor`.
    public static let laterReservedBytes = 256e6
    public static let addressSpaceFactor = 1.25

    /// Bytes the node can give, and where that figure comes from ("MemAvailable", "cgroup limit").
    public let nodeBytes: Double
    public let nodeSource: String
    /// The per-process address-space limit in bytes, or nil when unlimited.
    public let processLimitBytes: Double?
    /// The address space the process held when it was measured (counted against the limit).
    public let processUsedBytes: Double
    /// Ranks of this job on this node (`OMPI_COMM_WORLD_LOCAL_SIZE`, `SLURM_NTASKS_PER_NODE`, else 1).
    public let ranksOnNode: Int

    public init(nodeBytes: Double, nodeSource: String, processLimitBytes: Double?, processUsedBytes: Double = 0, ranksOnNode: Int) {
        self.nodeBytes = nodeBytes
        self.nodeSource = nodeSource
        self.processLimitBytes = processLimitBytes
        self.processUsedBytes = processUsedBytes
        self.ranksOnNode = max(ranksOnNode, 1)
    }

    /// This node and process, as they are now.
    public static func current(environment: [String: String] = ProcessInfo.processInfo.environment) -> MemoryAdmission {
        var candidates: [(Double, String)] = [(Double(ProcessInfo.processInfo.physicalMemory), "physical memory")]
        if let available = meminfo("MemAvailable") { candidates.append((available, "MemAvailable")) }
        if let limit = cgroupLimit() { candidates.append((limit, "the cgroup's memory limit")) }
        let (bytes, source) = candidates.min { $0.0 < $1.0 }!
        var limit = rlimit()
        let processLimit = getrlimit(Int32(RLIMIT_AS.rawValue), &limit) == 0 && limit.rlim_cur != rlim_t.max
            ? Double(limit.rlim_cur) : nil
        let ranks = ["OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "SLURM_NTASKS_PER_NODE"]
            .lazy.compactMap { environment[$0].flatMap { Int($0.split(separator: "(").first ?? "") } }.first ?? 1
        return MemoryAdmission(
            nodeBytes: bytes, nodeSource: source, processLimitBytes: processLimit,
            processUsedBytes: processLimit == nil ? 0 : status("VmSize") ?? 0, ranksOnNode: ranks)
    }

    /// Nil when `bytesPerRank` fits, else why not, with the numbers.
    public func refusal(bytesPerRank: Double) -> String? {
        func gigabytes(_ bytes: Double) -> String { String(format: "%.1f GB", bytes / 1e9) }
        let addressSpace = processUsedBytes + Self.laterReservedBytes + Self.addressSpaceFactor * bytesPerRank
        if let processLimitBytes, addressSpace > processLimitBytes {
            func precise(_ bytes: Double) -> String { String(format: "%.2f GB", bytes / 1e9) }
            return "it needs about \(precise(addressSpace)) of address space per rank (\(precise(bytesPerRank)) of "
                + "buffers, with the libraries' and the allocator's reservations); the address-space limit (ulimit -v) is "
                + "\(precise(processLimitBytes)) per process"
        }
        let total = bytesPerRank * Double(ranksOnNode)
        guard total > Self.usableFraction * nodeBytes else { return nil }
        return "it needs about \(gigabytes(bytesPerRank)) per rank × \(ranksOnNode) rank\(ranksOnNode == 1 ? "" : "s") on "
            + "this node; \(gigabytes(nodeBytes)) available (\(nodeSource)), of which "
            + "\(Int(Self.usableFraction * 100)) % may be planned"
    }

    private static func meminfo(_ key: String) -> Double? { kilobytes(key, in: "/proc/meminfo") }

    private static func status(_ key: String) -> Double? { kilobytes(key, in: "/proc/self/status") }

    /// `KEY:   123 kB` of a /proc file, in bytes.
    private static func kilobytes(_ key: String, in path: String) -> Double? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(key + ":") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if fields.count >= 2, let kilobytes = Double(fields[1]) { return kilobytes * 1024 }
        }
        return nil
    }

    private static func cgroupLimit() -> Double? {
        func number(_ path: String) -> Double? {
            (try? String(contentsOfFile: path, encoding: .utf8)).flatMap { Double($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
        if let limit = number("/sys/fs/cgroup/memory.max") {  // "max" (no limit) does not parse
            return limit - (number("/sys/fs/cgroup/memory.current") ?? 0)
        }
        if let limit = number("/sys/fs/cgroup/memory/memory.limit_in_bytes"), limit < 1e18 {
            return limit - (number("/sys/fs/cgroup/memory/memory.usage_in_bytes") ?? 0)
        }
        return nil
    }
}
