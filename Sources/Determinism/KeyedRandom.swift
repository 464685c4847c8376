/// Random numbers as a pure function of a key: no state carried from call to call, so any rank
/// computes the same number for the same key, in any order (what dropout needs for a mask that
/// does not depend on which rank sees a sample, or on the world size).
///
/// A key is a few 64-bit words folded through SplitMix64's finaliser (Steele, Lea & Flood 2014),
/// each word added to the running hash times the golden-ratio increment before mixing; a counter
/// (an element index) is one more word. Statistically sound for masks and noise, not cryptographic.
public struct KeyedRandom: Sendable, Equatable {
    /// The folded key.
    public let key: UInt64

    public init(_ words: UInt64...) { self.init(words: words) }

    public init(words: [UInt64]) {
        var hash = Self.start
        for word in words { hash = Self.fold(hash, word) }
        key = hash
    }

    /// The same key as `init(words: [a, b, c, d, e])`, without an array (for loops that must not
    /// allocate, such as dropout's, once per sample and step).
    @inline(__always)
    public init(words a: UInt64, _ b: UInt64, _ c: UInt64, _ d: UInt64, _ e: UInt64) {
        key = Self.fold(Self.fold(Self.fold(Self.fold(Self.fold(Self.start, a), b), c), d), e)
    }

    /// √2's fraction: a non-zero start.
    private static let start: UInt64 = 0x6A09_E667_F3BC_C908

    @inline(__always)
    private static func fold(_ hash: UInt64, _ word: UInt64) -> UInt64 {
        SplitMix64.mix(hash &+ word &* 0x9E37_79B9_7F4A_7C15)
    }

    /// 64 random bits for `counter` under this key.
    @inline(__always)
    public func bits(_ counter: UInt64) -> UInt64 {
        SplitMix64.mix(key &+ (counter &+ 1) &* 0x9E37_79B9_7F4A_7C15)
    }

    /// A uniform `Float` in [0, 1) for `counter`: the top 24 bits over 2²⁴ (every value exact).
    @inline(__always)
    public func unitFloat(_ counter: UInt64) -> Float {
        Float(bits(counter) >> 40) * 0x1p-24
    }
}
