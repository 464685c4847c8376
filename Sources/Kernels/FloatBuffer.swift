import Determinism
import Reporting

/// An owned, 64-byte-aligned, fixed-size buffer of `Float`s: the storage for parameters,
/// gradients, optimizer moments and activations.
///
/// One allocation per role, made once (llm.c style): the training step never allocates. Offsets
/// into a buffer are owned by whoever lays it out (`ParameterLayout` for the model's buffers).
/// Contents are zeroed on creation. A buffer can also be a view of part of another buffer
/// (`init(viewing:range:)`), which it keeps alive.
public final class FloatBuffer {
    /// The number of `Float` elements.
    public let count: Int
    /// The first element; valid for `count` elements until the buffer is deallocated.
    public let baseAddress: UnsafeMutablePointer<Float>
    /// The buffer this one views, or nil when it owns its memory or borrows it.
    private let owner: FloatBuffer?
    /// False for a view or borrowed memory: `deinit` leaves the memory alone.
    private let ownsMemory: Bool

    /// The alignment of `baseAddress` in bytes (a cache line, and enough for AVX-512 loads).
    public static let alignment = 64

    public init(count: Int) {
        precondition(count >= 0, "FloatBuffer(count: \(count))")
        self.count = count
        let raw = AlignedAllocation.allocate(
            byteCount: max(count, 1) * MemoryLayout<Float>.stride, alignment: Self.alignment, what: "a buffer of \(count) Float")
        baseAddress = raw.initializeMemory(as: Float.self, repeating: 0, count: max(count, 1))
        owner = nil
        ownsMemory = true
    }

    /// A buffer over `count` Floats at `base` that someone else allocated and keeps alive longer
    /// than this buffer (a node-shared MPI window, freed at `MPI_Finalize`). Not zeroed, not freed.
    /// - Precondition: `base` is aligned to `alignment`.
    public init(borrowing base: UnsafeMutablePointer<Float>, count: Int) {
        precondition(count >= 0 && Int(bitPattern: base) % Self.alignment == 0, "borrowed buffer of \(count) at \(base)")
        self.count = count
        baseAddress = base
        owner = nil
        ownsMemory = false
    }

    /// A view of elements `range` of `buffer`, sharing its memory (writes go to `buffer`).
    public init(viewing buffer: FloatBuffer, range: Range<Int>) {
        precondition(range.lowerBound >= 0 && range.upperBound <= buffer.count, "view \(range) of \(buffer.count)")
        count = range.count
        baseAddress = buffer.baseAddress + range.lowerBound
        owner = buffer
        ownsMemory = false
    }

    /// A copy of `values`.
    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { baseAddress.update(from: $0.baseAddress!, count: values.count) }
    }

    deinit {
        guard ownsMemory else { return }
        baseAddress.deinitialize(count: max(count, 1))
        free(baseAddress)
    }

    /// The whole buffer as a mutable buffer pointer.
    public var buffer: UnsafeMutableBufferPointer<Float> { .init(start: baseAddress, count: count) }

    /// Elements `range` as a mutable buffer pointer.
    public func slice(_ range: Range<Int>) -> UnsafeMutableBufferPointer<Float> {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "slice \(range) of \(count)")
        return .init(start: baseAddress + range.lowerBound, count: range.count)
    }

    public subscript(index: Int) -> Float {
        get { baseAddress[index] }
        set { baseAddress[index] = newValue }
    }

    /// The size in bytes.
    public var byteCount: Int { count * MemoryLayout<Float>.stride }

    /// A copy of the contents as an array (allocates; not for the training step).
    public var array: [Float] { Array(buffer) }

    /// True when every element has the same bit pattern as in `other`.
    public func isBitwiseEqual(to other: FloatBuffer) -> Bool {
        count == other.count && memcmp(baseAddress, other.baseAddress, byteCount) == 0
    }

    /// Hashes the raw bytes (see `StateHash`).
    public func hash(into hasher: inout StateHash) {
        hasher.combine(bytes: UnsafeRawBufferPointer(start: baseAddress, count: byteCount))
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
