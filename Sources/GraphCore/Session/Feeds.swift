import ArrayCore

/// The values fed to one run: tensors (usually placeholders) and their values, written as a
/// dictionary literal (TF1's `feed_dict`).
///
/// ```swift
/// try session.run(train, feeding: [x: NDArray([Float(1.02)]), y: NDArray([Float(10)])])
/// ```
///
/// A literal of this type keeps the array of pairs the compiler builds for it, in the order
/// written, and hashes nothing: the session binds each value by position among the fed tensors
/// of its cached plan, reading the pairs in place. A tensor written twice, `[x: a, x: b]`, is a thrown
/// ``SessionError/unexpectedFeed(name:reason:)`` naming it when the run binds the feeds (the
/// same literal typed as a `Dictionary` traps: "Dictionary literal contains duplicate keys").
/// Dictionaries built in code are fed as they are: every `feeding:` API also takes a
/// `[Tensor: NDArray]`, and ``init(_:)`` converts any sequence of pairs.
public struct Feeds: ExpressibleByDictionaryLiteral, RandomAccessCollection, Sendable {
  /// A fed tensor and its value.
  public typealias Element = (key: Tensor, value: NDArray)
  /// Positions `0..<count`, in the order the pairs were written.
  public typealias Index = Int

  /// The pairs, in the order written: the literal's own array, kept as it is (no copy of a
  /// pair, so no reference counting beyond the literal's). A run that owns the only reference
  /// to it lends its values to the plan by swapping them in and out (``Session``'s `run`);
  /// nothing else changes it.
  @usableFromInline var pairs: [(Tensor, NDArray)]

  /// Feeds from a dictionary literal, in the order written (duplicates are kept, and refused
  /// when a run binds them).
  @inlinable @inline(__always) public init(dictionaryLiteral elements: (Tensor, NDArray)...) {
    pairs = elements
  }

  /// Feeds from pairs built in code (a `[Tensor: NDArray]` dictionary, an array of pairs), in
  /// their order.
  public init<S: Sequence>(_ pairs: S) where S.Element == (key: Tensor, value: NDArray) {
    self.pairs = pairs.map { ($0.key, $0.value) }
  }

  /// No feeds.
  @inlinable public init() { pairs = [] }

  /// Whether this value holds the only reference to its pairs' storage, so that a run may move
  /// the values out of it and back without another thread or value seeing it (a literal passed
  /// straight to `Session.run` is; a `Feeds` kept by the caller and fed again is not).
  ///
  /// Only a hint for choosing the faster path: the run then changes the pairs through
  /// `withUnsafeMutableBufferPointer`, which copies storage that is not unique, so a wrong
  /// answer could cost a copy but never change a value someone else holds. It reads the array's
  /// one reference in place, without retaining it (an `Array` of a non-class element is a single
  /// reference to its native storage object, checked by the size; `false` otherwise), as a
  /// reference to a native class: `isKnownUniquelyReferenced` reads only the object's reference
  /// count. (As `AnyObject` the check answers `false` in the Swift 6 language mode.)
  @inline(__always) mutating func ownsPairsUniquely() -> Bool {
    guard MemoryLayout<[(Tensor, NDArray)]>.size == MemoryLayout<UniquenessProbe>.size else { return false }
    return withUnsafeMutablePointer(to: &pairs) { array in
      array.withMemoryRebound(to: UniquenessProbe.self, capacity: 1) { isKnownUniquelyReferenced(&$0.pointee) }
    }
  }

  /// 0.
  @inlinable public var startIndex: Int { 0 }
  /// The number of pairs.
  @inlinable public var endIndex: Int { pairs.count }

  /// Pair `i`, in the order written.
  /// - Precondition: `0 <= i < count`.
  @inlinable public subscript(i: Int) -> Element {
    let pair = pairs[i]
    return (key: pair.0, value: pair.1)
  }
}

/// The static type under which ``Feeds/ownsPairsUniquely()`` reads an array's storage reference
/// (never created).
final class UniquenessProbe {}
