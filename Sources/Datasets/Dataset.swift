import ArrayCore

/// A supervised data set: a matrix of features, one row per sample, and one label per sample.
///
/// `features` has shape `[n, d]`; `labels` has `n` as its first dimension (shape `[n]` of int32
/// class indices for classification, or float targets). A `Dataset` is a value: shuffling,
/// splitting and batching return new values and leave the original alone. Every random choice
/// comes from a ``SeededGenerator`` seeded by the caller, so the same seed gives the same order.
///
/// ```swift
/// let data = try Dataset.loadCSV(path: "Data/digits.csv")             // labels: last column
/// let (train, test) = try data.split(testFraction: 0.2, seed: 42)
/// let scaler = try Standardizer(fitting: train.features)
/// let trainSet = try scaler.transform(train)
/// for epoch in 0..<20 {
///   for (x, y) in try trainSet.epoch(epoch, batchSize: 32, seed: 7) { ... }
/// }
/// ```
public struct Dataset: Sendable {
  /// The features, shape `[n, d]`.
  public let features: NDArray
  /// The labels, shape `[n]` or `[n, ...]`.
  public let labels: NDArray

  /// Pairs features with labels.
  /// - Throws: ``DatasetError/invalidArgument(operation:reason:)`` unless `features` has rank 2
  ///   and `labels` has rank at least 1 with the same number of rows.
  public init(features: NDArray, labels: NDArray) throws(DatasetError) {
    guard features.rank == 2 else {
      throw .invalidArgument(operation: "Dataset", reason: "features must have shape [n, d], got \(features.shape)")
    }
    guard labels.rank >= 1, labels.shape[0] == features.shape[0] else {
      throw .invalidArgument(
        operation: "Dataset",
        reason: "labels of shape \(labels.shape) do not match the \(features.shape[0]) rows of features \(features.shape)")
    }
    self.features = features
    self.labels = labels
  }

  /// The number of samples `n`.
  public var count: Int { features.shape[0] }
  /// The number of features per sample `d`.
  public var featureCount: Int { features.shape[1] }

  /// A 64-bit digest of the samples: FNV-1a over the dtypes and shapes of ``features`` and
  /// ``labels`` and their bytes, eight at a time (little-endian words; a last partial word is
  /// zero-padded). Equal data sets give equal digests on every machine; a changed element, row
  /// order or shape changes it (with probability about 1 - 2⁻⁶⁴). Data-parallel recipes compare
  /// it across ranks (`Communicator.verifySameSettings(_:)`), so ranks reading files that differ
  /// only in their contents stop before training instead of training on different data.
  ///
  /// It reads every byte once, eight at a time.
  public var digest: UInt64 {
    var h = FNV1a64()
    for array in [features, labels] {
      h.mix(bytes: array.dtype.description.utf8)
      h.mix(UInt64(array.rank))
      for size in array.shape.dimensions { h.mix(UInt64(bitPattern: Int64(size))) }
      array.withUnsafeRawBytes { bytes in
        let words = bytes.count / 8
        for i in 0..<words { h.mix(UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))) }
        var tail: UInt64 = 0
        for i in 8 * words..<bytes.count { tail |= UInt64(bytes[i]) << (8 * UInt64(i - 8 * words)) }
        h.mix(tail)
      }
    }
    return h.value
  }

  /// The samples at `indices`, in that order (repeats allowed).
  /// - Throws: ``DatasetError/invalidArgument(operation:reason:)`` for an index outside `0..<count`.
  public func rows(_ indices: [Int]) throws(DatasetError) -> Dataset {
    if let bad = indices.first(where: { $0 < 0 || $0 >= count }) {
      throw .invalidArgument(operation: "Dataset.rows", reason: "index \(bad) is out of range for \(count) samples")
    }
    return Dataset(unchecked: gatherRows(features, indices), gatherRows(labels, indices))
  }

  private init(unchecked features: NDArray, _ labels: NDArray) {
    self.features = features
    self.labels = labels
  }

  /// The samples in a random order drawn from `SeededGenerator(seed: seed)` (Fisher-Yates).
  public func shuffled(seed: UInt64) -> Dataset {
    var generator = SeededGenerator(seed: seed)
    let order = generator.permutation(count)
    return Dataset(unchecked: gatherRows(features, order), gatherRows(labels, order))
  }

  /// The permutation of `0..<count` that epoch `epoch` visits: a Fisher-Yates shuffle with a
  /// generator seeded from `seed` and `epoch`, so each epoch has a new order, any epoch can be
  /// reproduced alone, and the same seed gives the same orders.
  public func epochOrder(_ epoch: Int, seed: UInt64) -> [Int] {
    var generator = SeededGenerator(seed: seed ^ (UInt64(truncatingIfNeeded: epoch) &* 0x9E37_79B9_7F4A_7C15))
    return generator.permutation(count)
  }

  /// Consecutive batches of `size` samples in the stored order. A size larger than ``count``
  /// (up to `Int.max`) gives one batch of every sample (none without `includeRemainder`).
  /// - Parameter includeRemainder: whether the last, smaller batch is kept when `size` does not
  ///   divide `count` (Keras keeps it; `drop_remainder=True` in `tf.data` drops it).
  /// - Throws: ``DatasetError/invalidArgument(operation:reason:)`` unless `size >= 1`.
  public func batches(size: Int, includeRemainder: Bool = true) throws(DatasetError) -> Batches {
    try Batches(self, order: Array(0..<count), size: size, includeRemainder: includeRemainder)
  }

  /// The batches of one training epoch: the samples in ``epochOrder(_:seed:)``, cut into
  /// batches of `size`.
  /// - Throws: ``DatasetError/invalidArgument(operation:reason:)`` unless `size >= 1`.
  public func epoch(_ epoch: Int, batchSize size: Int, seed: UInt64, includeRemainder: Bool = true) throws(DatasetError)
    -> Batches
  {
    try Batches(self, order: epochOrder(epoch, seed: seed), size: size, includeRemainder: includeRemainder)
  }

  /// Splits the samples at random into a training and a test set: a seeded permutation, the
  /// first `round(testFraction · n)` samples of it for the test set, the rest for training
  /// (each set keeps the permutation's order).
  /// - Throws: ``DatasetError/invalidArgument(operation:reason:)`` unless `0 <= testFraction <= 1`.
  public func split(testFraction: Double, seed: UInt64) throws(DatasetError) -> (train: Dataset, test: Dataset) {
    guard testFraction.isFinite, testFraction >= 0, testFraction <= 1 else {
      throw .invalidArgument(operation: "Dataset.split", reason: "testFraction must be in [0, 1], got \(testFraction)")
    }
    var generator = SeededGenerator(seed: seed)
    let order = generator.permutation(count)
    let testCount = Int((testFraction * Double(count)).rounded())
    let test = Array(order[0..<testCount]), train = Array(order[testCount...])
    return (
      Dataset(unchecked: gatherRows(features, train), gatherRows(labels, train)),
      Dataset(unchecked: gatherRows(features, test), gatherRows(labels, test))
    )
  }
}

/// The batches of a ``Dataset`` in a fixed order: a random-access collection of
/// `(features, labels)` pairs, each with the batch as its first dimension.
///
/// ```swift
/// for (x, y) in try data.batches(size: 32) { ... }   // x: [32, d], y: [32]
/// ```
public struct Batches: RandomAccessCollection, Sendable {
  /// One batch: features `[b, d]` and labels `[b, ...]`.
  public typealias Element = (features: NDArray, labels: NDArray)

  let dataset: Dataset
  /// The sample indices in visiting order.
  public let order: [Int]
  /// The batch size (the last batch may be smaller when the remainder is included).
  public let batchSize: Int
  private let batchCount: Int

  init(_ dataset: Dataset, order: [Int], size: Int, includeRemainder: Bool) throws(DatasetError) {
    guard size >= 1 else {
      throw .invalidArgument(operation: "Dataset.batches", reason: "batch size must be at least 1, got \(size)")
    }
    self.dataset = dataset
    self.order = order
    self.batchSize = size
    batchCount = Batches.count(samples: order.count, size: size, includeRemainder: includeRemainder)
  }

  /// The number of batches of `size` that `samples` samples make: `⌈samples / size⌉` with the
  /// remainder, `⌊samples / size⌋` without it. Never overflows (no `samples + size - 1`), for
  /// any `size >= 1` up to `Int.max`.
  public static func count(samples: Int, size: Int, includeRemainder: Bool = true) -> Int {
    samples / size + (includeRemainder && samples % size != 0 ? 1 : 0)
  }

  /// The samples of one global batch of a data-parallel step: `batchSize` per rank times
  /// `ranks`, saturated at `Int.max` (a batch that holds every sample is the whole set whatever
  /// its nominal size, so the saturation changes no batch).
  public static func globalSize(perRank batchSize: Int, ranks: Int) -> Int {
    let (product, overflow) = batchSize.multipliedReportingOverflow(by: ranks)
    return overflow ? Int.max : product
  }

  /// 0.
  public var startIndex: Int { 0 }
  /// The number of batches.
  public var endIndex: Int { batchCount }

  /// Batch `i`: the samples `order[i·b ..< min((i+1)·b, n)]`.
  public subscript(i: Int) -> Element {
    precondition(i >= 0 && i < batchCount, "Batches: index \(i) out of range 0..<\(batchCount)")
    let start = i * batchSize  // < order.count, since i < batchCount
    let rows = Array(order[start..<(start + Swift.min(batchSize, order.count - start))])
    return (gatherRows(dataset.features, rows), gatherRows(dataset.labels, rows))
  }
}

/// The rows of `array` (along its first dimension) at `indices`; indices must be in range.
func gatherRows(_ array: NDArray, _ indices: [Int]) -> NDArray {
  var shape = array.shape
  shape[0] = indices.count
  let width = array.shape.dimensions.dropFirst().reduce(1, *)
  func gather<T: Element>(_: T.Type) -> NDArray {
    array.withUnsafeBufferPointer(as: T.self) { source in
      var out = [T]()
      out.reserveCapacity(indices.count * width)
      for i in indices { out.append(contentsOf: source[i * width..<(i + 1) * width]) }
      return NDArray(out, shape: shape)
    }
  }
  switch array.dtype {
  case .float32: return gather(Float.self)
  case .float64: return gather(Double.self)
  case .int32: return gather(Int32.self)
  case .bool: return gather(Bool.self)
  }
}
