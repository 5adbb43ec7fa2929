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
  /// pair, so no reference counting beyond the literal's). A run lends its buffer to the plan,
  /// which swaps the values in and out (``Session``'s `run`; a shared buffer is copied first);
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

  /// Destroys the pairs, last first, by code specialized for them, rather than by the array
  /// storage's generic deinitializer (the runtime's per-element, per-tuple-member calls).
  @inlinable @inline(__always) mutating func destroyPairs() {
    while pairs.popLast() != nil {}
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
