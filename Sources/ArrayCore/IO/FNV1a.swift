/// FNV-1a with 64 bits (Fowler, Noll and Vo; the offset basis 0xcbf29ce484222325 and the prime
/// 0x100000001b3, from the authors' description): a fast hash for telling whether data agree
/// across processes (data-parallel ranks compare their settings, calls and data with it). Not
/// for security: it is easy to make two inputs with one hash.
public struct FNV1a64: Sendable {
  /// The hash of what was mixed in so far.
  public var value: UInt64 { state }
  @usableFromInline var state: UInt64 = 0xcbf2_9ce4_8422_2325

  /// The hash of nothing.
  public init() {}

  /// Mixes in one word (a byte, or eight bytes read as one little-endian word).
  @inlinable public mutating func mix(_ word: UInt64) { state = (state ^ word) &* 0x0000_0100_0000_01b3 }

  /// Mixes in each byte, in order.
  public mutating func mix(bytes: some Sequence<UInt8>) {
    for byte in bytes { mix(UInt64(byte)) }
  }
}
