/// A fast 64-bit hash of in-memory state, for comparing ranks' buffers (not cryptographic).
///
/// Words are absorbed with `h = rotl(h ^ (w × K1), 31) × K2`: multiplication by an odd constant and
/// the rotation are bijections, so changing any single 64-bit word (in particular flipping one bit
/// of one parameter) always changes the result. Trailing bytes are zero-padded and the byte count
/// is mixed in at the end.
public struct StateHash: Sendable, Equatable {
    public private(set) var value: UInt64 = 0x9E37_79B9_7F4A_7C15
    private var byteCount: UInt64 = 0

    public init() {}

    /// Absorbs raw bytes (the host's byte order; hashes compare ranks on one job).
    public mutating func combine(bytes: UnsafeRawBufferPointer) {
        let wordCount = bytes.count / 8
        var h = value
        for index in 0..<wordCount {
            h = Self.absorb(h, bytes.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self))
        }
        let tail = bytes.count - wordCount * 8
        if tail > 0 {
            var last: UInt64 = 0
            for offset in 0..<tail { last |= UInt64(bytes[wordCount * 8 + offset]) << (8 * UInt64(offset)) }
            h = Self.absorb(h, last)
        }
        value = h
        byteCount &+= UInt64(bytes.count)
    }

    /// Absorbs one 64-bit value (a counter, a `Double`'s bit pattern).
    public mutating func combine(_ word: UInt64) {
        withUnsafeBytes(of: word.littleEndian) { combine(bytes: $0) }
    }

    /// The hash of everything absorbed so far.
    public func finalize() -> UInt64 {
        var z = value ^ byteCount
        z = (z ^ (z >> 33)) &* 0xFF51_AFD7_ED55_8CCD
        z = (z ^ (z >> 33)) &* 0xC4CE_B9FE_1A85_EC53
        return z ^ (z >> 33)
    }

    @inline(__always)
    private static func absorb(_ h: UInt64, _ word: UInt64) -> UInt64 {
        let mixed = h ^ (word &* 0x87C3_7B91_1142_53D5)
        return ((mixed << 31) | (mixed >> 33)) &* 0x4CF5_AD43_2745_937F
    }

    /// The 16-digit lowercase hexadecimal form used in logs.
    public static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
