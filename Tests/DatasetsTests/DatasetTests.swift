import ArrayCore
import Datasets
import Testing

/// A data set of `n` samples whose features and labels are the sample's own index, so a batch
/// says which samples it holds: features `[[i, 10·i]]`, labels `[i]` (int32).
private func indexed(_ n: Int) throws -> Dataset {
  let features = (0..<n).flatMap { [Float($0), Float(10 * $0)] }
  return try Dataset(features: NDArray(features, shape: [n, 2]), labels: NDArray((0..<n).map { Int32($0) }, shape: [n]))
}

private func ids(_ labels: NDArray) -> [Int] { labels.scalars(as: Int32.self).map(Int.init) }

@Suite("Dataset: shuffling, batching, epochs, splits")
struct DatasetTests {
  @Test("rejects features that are not a matrix and labels of another length")
  func validation() {
    #expect(throws: DatasetError.self) { try Dataset(features: NDArray([Float(1), 2]), labels: NDArray([Int32(0), 1])) }
    #expect(throws: DatasetError.self) {
      try Dataset(features: NDArray([Float](repeating: 0, count: 6), shape: [3, 2]), labels: NDArray([Int32(0), 1]))
    }
    #expect(throws: DatasetError.self) { try indexed(5).batches(size: 0) }
    #expect(throws: DatasetError.self) { try indexed(5).rows([0, 5]) }
  }

  @Test("each epoch visits every sample exactly once, and rows stay paired with their labels")
  func everySampleOncePerEpoch() throws {
    let data = try indexed(23)
    for epoch in 0..<4 {
      var seen: [Int] = []
      for (x, y) in try data.epoch(epoch, batchSize: 5, seed: 9) {
        let xs = x.scalars(as: Float.self)
        for (k, id) in ids(y).enumerated() {
          #expect(xs[2 * k] == Float(id) && xs[2 * k + 1] == Float(10 * id))
        }
        seen += ids(y)
      }
      #expect(seen.sorted() == Array(0..<23), "epoch \(epoch)")
      #expect(seen != Array(0..<23), "epoch \(epoch) was not shuffled")
    }
  }

  @Test("the same seed gives the same order; another seed or epoch another order")
  func seededOrder() throws {
    let data = try indexed(50)
    let a = try data.epoch(3, batchSize: 7, seed: 1).flatMap { ids($0.labels) }
    let b = try data.epoch(3, batchSize: 7, seed: 1).flatMap { ids($0.labels) }
    let otherSeed = try data.epoch(3, batchSize: 7, seed: 2).flatMap { ids($0.labels) }
    let otherEpoch = try data.epoch(4, batchSize: 7, seed: 1).flatMap { ids($0.labels) }
    #expect(a == b)
    #expect(a != otherSeed)
    #expect(a != otherEpoch)
    #expect(a == data.epochOrder(3, seed: 1))
    #expect(ids(data.shuffled(seed: 5).labels) == ids(data.shuffled(seed: 5).labels))
    #expect(ids(data.shuffled(seed: 5).labels) != ids(data.shuffled(seed: 6).labels))
    #expect(ids(data.shuffled(seed: 5).labels).sorted() == Array(0..<50))
  }

  @Test("batches keep or drop the remainder")
  func remainder() throws {
    let data = try indexed(10)
    let kept = try data.batches(size: 4)
    #expect(kept.count == 3)
    #expect(kept.map { ids($0.labels) } == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]])
    #expect(kept.map(\.features.shape) == [[4, 2], [4, 2], [2, 2]])
    let dropped = try data.batches(size: 4, includeRemainder: false)
    #expect(dropped.map { ids($0.labels) } == [[0, 1, 2, 3], [4, 5, 6, 7]])
    #expect(try data.batches(size: 5, includeRemainder: false).count == 2)
    #expect(try data.batches(size: 20).count == 1)
    #expect(try data.batches(size: 20, includeRemainder: false).isEmpty)
    let epoch = try data.epoch(0, batchSize: 3, seed: 4, includeRemainder: false)
    #expect(epoch.map { $0.labels.elementCount } == [3, 3, 3])
  }

  @Test("split: sizes, disjoint and complete, seeded")
  func split() throws {
    let data = try indexed(10)
    let (train, test) = try data.split(testFraction: 0.2, seed: 3)
    #expect(train.count == 8 && test.count == 2)
    #expect((ids(train.labels) + ids(test.labels)).sorted() == Array(0..<10))
    let again = try data.split(testFraction: 0.2, seed: 3)
    #expect(ids(again.test.labels) == ids(test.labels))
    let (train1797, test1797) = try indexed(1797).split(testFraction: 0.2, seed: 0)
    #expect(train1797.count == 1438 && test1797.count == 359)  // round(359.4) = 359
    #expect(try data.split(testFraction: 0, seed: 1).test.count == 0)
    #expect(try data.split(testFraction: 1, seed: 1).train.count == 0)
    #expect(throws: DatasetError.self) { try data.split(testFraction: 1.5, seed: 1) }
    #expect(throws: DatasetError.self) { try data.split(testFraction: .nan, seed: 1) }
  }
}

@Suite("Standardizer")
struct StandardizerTests {
  @Test("fits per-column mean and population std (constant columns get 1) and applies them to other rows")
  func statistics() throws {
    // Columns: [1, 2, 3, 4] (mean 2.5, std sqrt(1.25)), [5, 5, 5, 5] (constant), [-2, 0, 0, 2]
    // (mean 0, std sqrt(2)), worked out by hand.
    let train = NDArray([1, 5, -2, 2, 5, 0, 3, 5, 0, 4, 5, 2] as [Double], shape: [4, 3])
    let s = try Standardizer(fitting: train)
    #expect(s.mean == [2.5, 5, 0])
    let expectedStd: [Double] = [(1.25 as Double).squareRoot(), 1, (2 as Double).squareRoot()]
    #expect(s.standardDeviation == expectedStd)
    let test = NDArray([2.5, 7, 4] as [Double], shape: [1, 3])
    let z = try s.transform(test)
    #expect(z.dtype == .float64)
    let expectedZ: [Double] = [0, 2, 4 / (2 as Double).squareRoot()]
    #expect(z.scalars(as: Double.self) == expectedZ)
    // The standardized training columns have mean 0 and std 1 (the constant column 0).
    let zt = try s.transform(train).scalars(as: Double.self)
    for j in [0, 2] {
      let col: [Double] = (0..<4).map { zt[$0 * 3 + j] }
      #expect(Swift.abs(col.reduce(0, +)) < 1e-12)
      #expect(Swift.abs(col.map { $0 * $0 }.reduce(0, +) / 4 - 1) < 1e-12)
    }
    let constantColumn: [Double] = (0..<4).map { zt[$0 * 3 + 1] }
    #expect(constantColumn == [0, 0, 0, 0])
    // float32 features stay float32; int32 become float32.
    #expect(try s.transform(NDArray([Float(1), 5, -2], shape: [1, 3])).dtype == .float32)
    #expect(throws: DatasetError.self) { try s.transform(NDArray([Float(1), 2], shape: [1, 2])) }
    #expect(throws: DatasetError.self) { try Standardizer(mean: [0, 1], standardDeviation: [1]) }
    #expect(throws: DatasetError.self) { try Standardizer(mean: [0], standardDeviation: [0]) }
    #expect(throws: DatasetError.self) { try Standardizer(fitting: NDArray([Float](), shape: [0, 3])) }
  }

  /// The digest against the same FNV-1a computed by Python (`struct.pack('<6f', 1, 2, 3, 4, 5, 6)`
  /// and `struct.pack('<3i', 0, 1, 2)`, each array's words being its dtype's characters, its
  /// rank, its sizes, then its bytes eight at a time with the last partial word zero-padded:
  /// 0x59041a6cd13bd963), and its sensitivity to one element, to the labels' last (partial)
  /// word, to the row order and to the shape.
  @Test("the digest matches an independent FNV-1a and changes with any element, the order or the shape")
  func digest() throws {
    let base = try Dataset(features: NDArray([Float(1), 2, 3, 4, 5, 6], shape: [3, 2]), labels: NDArray([Int32(0), 1, 2]))
    #expect(base.digest == 0x5904_1a6c_d13b_d963)
    #expect(try Dataset(features: base.features, labels: base.labels).digest == base.digest)
    let oneElement = try Dataset(features: NDArray([Float(1), 2, 3, 4, 5, 6.000001], shape: [3, 2]), labels: base.labels)
    let lastLabel = try Dataset(features: base.features, labels: NDArray([Int32(0), 1, 3]))
    let reordered = try base.rows([1, 0, 2])
    let reshaped = try Dataset(features: NDArray([Float(1), 2, 3, 4, 5, 6], shape: [1, 6]), labels: NDArray([Int32(0)]))
    let digests = [base, oneElement, lastLabel, reordered, reshaped].map(\.digest)
    #expect(Set(digests).count == digests.count, "\(digests)")
  }
}
