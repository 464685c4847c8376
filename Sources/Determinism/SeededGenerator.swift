/// A deterministic, platform-independent random number generator: xoshiro256** seeded through
/// SplitMix64 (Blackman & Vigna, "Scrambled linear pseudorandom number generators", 2021).
///
/// Lockstep derives data order and initial weights from seeds ("derive, don't store"), so the
/// sequence must be the same on every rank, build and platform; Swift's `SystemRandomNumberGenerator`
/// is not seedable and the standard library's `random(in:)` algorithms are not specified, so the
/// helpers below (`nextIndex(below:)`, `nextUnitDouble()`, `nextGaussian()`) are defined here.
public struct SeededGenerator: RandomNumberGenerator, Sendable, Equatable, Codable {
    /// The full 256-bit state, for checkpoints.
    public private(set) var state: [UInt64]

    /// Seeds the generator from `seed` and any number of further words (e.g. an epoch), so
    /// that `SeededGenerator(seed: s, stream: e)` gives independent streams for different `e`.
    public init(seed: UInt64, stream: UInt64...) {
        var mixer = SplitMix64(state: seed)
        for word in stream { mixer.state ^= SplitMix64.mix(word &+ 0x632B_E59B_D9B4_E019) }
        state = (0..<4).map { _ in mixer.next() }
        if state.allSatisfy({ $0 == 0 }) { state[0] = 1 }  // the all-zero state is a fixed point
    }

    /// Restores a generator from `state` (four words, not all zero).
    public init?(state: [UInt64]) {
        guard state.count == 4, state.contains(where: { $0 != 0 }) else { return nil }
        self.state = state
    }

    public mutating func next() -> UInt64 {
        let result = rotl(state[1] &* 5, 7) &* 9
        let t = state[1] << 17
        state[2] ^= state[0]
        state[3] ^= state[1]
        state[1] ^= state[2]
        state[0] ^= state[3]
        state[2] ^= t
        state[3] = rotl(state[3], 45)
        return result
    }

    /// A uniform integer in `0..<bound` without modulo bias (Lemire's multiply-shift with rejection).
    public mutating func nextIndex(below bound: Int) -> Int {
        precondition(bound > 0, "nextIndex(below: \(bound))")
        let b = UInt64(bound)
        var product = next().multipliedFullWidth(by: b)
        if product.low < b {
            let threshold = (0 &- b) % b
            while product.low < threshold { product = next().multipliedFullWidth(by: b) }
        }
        return Int(product.high)
    }

    /// A uniform `Double` in [0, 1) with 53 random bits.
    public mutating func nextUnitDouble() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// A standard normal sample (Box–Muller; one sample per call, computed in `Double`).
    public mutating func nextGaussian() -> Double {
        let u1 = 1.0 - nextUnitDouble()  // (0, 1]: log is finite
        let u2 = nextUnitDouble()
        return (-2.0 * log(u1)).squareRoot() * cos(2.0 * Double.pi * u2)
    }

    private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }
}

/// SplitMix64 (Steele, Lea & Flood, 2014): expands one seed word into a well-mixed stream.
struct SplitMix64 {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return SplitMix64.mix(state)
    }

    static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
