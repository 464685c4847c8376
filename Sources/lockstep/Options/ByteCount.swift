import ArgumentParser

/// A size in bytes on the command line: a whole number, optionally with a binary suffix
/// `K` (KiB), `M` (MiB) or `G` (GiB): `4096`, `4K`, `64M`.
struct ByteCount: ExpressibleByArgument, Equatable, CustomStringConvertible {
    let bytes: Int

    init(_ bytes: Int) { self.bytes = bytes }

    init?(argument: String) {
        let multipliers: [Character: Int] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30]
        var digits = Substring(argument.uppercased())
        var multiplier = 1
        if let last = digits.last, let suffix = multipliers[last] {
            multiplier = suffix
            digits = digits.dropLast()
        }
        guard let value = Int(digits), value >= 0 else { return nil }
        let (bytes, overflow) = value.multipliedReportingOverflow(by: multiplier)
        guard !overflow else { return nil }
        self.bytes = bytes
    }

    var description: String {
        for (suffix, size) in [("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)] where bytes >= size && bytes % size == 0 {
            return "\(bytes / size)\(suffix)"
        }
        return String(bytes)
    }

    var defaultValueDescription: String { description }
}
