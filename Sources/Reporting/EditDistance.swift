import Foundation

/// Levenshtein distance, to suggest the valid name nearest to a mistyped one (a config key, a
/// layer name).
public enum EditDistance {
    /// The number of single-character insertions, deletions and substitutions turning `a` into `b`.
    public static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in stride(from: 1, through: b.count, by: 1) {
                let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
                current[j] = min(previous[j] + 1, current[j - 1] + 1, substitution)
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }

    /// The candidate nearest to `word` (the first of equals, so callers pass them in a sensible
    /// order); `_` and `-` count as the same character, since TOML users often write `global_batch`.
    /// A candidate made of the initials of `word`'s parts wins (`learning-rate` → `lr`).
    public static func nearest(to word: String, among candidates: [String]) -> String? {
        let normalized = word.replacingOccurrences(of: "_", with: "-").lowercased()
        let parts = normalized.split(separator: "-")
        if parts.count > 1, let initials = candidates.first(where: { $0 == String(parts.compactMap(\.first)) }) {
            return initials
        }
        return candidates.min { distance(normalized, $0) < distance(normalized, $1) }
    }
}
