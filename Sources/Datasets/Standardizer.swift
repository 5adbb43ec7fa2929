import ArrayCore

/// Per-column standardization: `z = (x - μ) / σ`, with `μ` and `σ` fitted on the training
/// features and then applied unchanged to any other features (the test set, new rows), as
/// scikit-learn's `StandardScaler`.
///
/// `μ_j = (1/n) Σ_i x_ij` and `σ_j = sqrt((1/n) Σ_i (x_ij - μ_j)²)` (the population standard
/// deviation); a constant column (`σ_j = 0`) gets `σ_j = 1`, so it maps to 0 instead of NaN.
public struct Standardizer: Sendable, Equatable {
  /// The column means `μ`.
  public let mean: [Double]
  /// The column standard deviations `σ` (never zero).
  public let standardDeviation: [Double]

  /// Fits the statistics of each column of `features` (shape `[n, d]`, `n >= 1`), in `Double`.
  /// Columns of values so large that their sum or squared deviations leave `Double` (beyond
  /// about 1e154) are fitted scaled by their largest magnitude, so their statistics stay finite.
  /// - Throws: ``DatasetError/invalidArgument(operation:reason:)`` for another rank, no rows, or
  ///   a value that is NaN or infinite (named by its row and column: a missing value gave a NaN
  ///   mean that only a later transform reported, as an error about the mean).
  public init(fitting features: NDArray) throws(DatasetError) {
    guard features.rank == 2, features.shape[0] >= 1 else {
      throw .invalidArgument(operation: "Standardizer", reason: "features must have shape [n, d] with n >= 1, got \(features.shape)")
    }
    let n = features.shape[0], d = features.shape[1]
    let x = features.doubles
    if let k = x.firstIndex(where: { !$0.isFinite }) {
      throw .invalidArgument(
        operation: "Standardizer",
        reason: "row \(k / d), column \(k % d) is \(x[k]): fit on finite features (drop or fill missing values first)")
    }
    var mean = [Double](repeating: 0, count: d)
    for i in 0..<n { for j in 0..<d { mean[j] += x[i * d + j] } }
    for j in 0..<d { mean[j] /= Double(n) }
    var variance = [Double](repeating: 0, count: d)
    for i in 0..<n {
      for j in 0..<d {
        let c = x[i * d + j] - mean[j]
        variance[j] += c * c
      }
    }
    var deviation = variance.map { ($0 / Double(n)).squareRoot() }
    for j in 0..<d where !(mean[j].isFinite && deviation[j].isFinite) {
      (mean[j], deviation[j]) = Self.scaledStatistics(x, column: j, rows: n, columns: d)
    }
    self.mean = mean
    self.standardDeviation = deviation.map { $0 > 0 ? $0 : 1 }
  }

  /// The mean and population standard deviation of column `j` of the finite values `x`
  /// (`rows × columns`), computed on the values divided by their largest magnitude `m` and
  /// scaled back: both are at most `m`, so finite (the direct sums overflowed).
  private static func scaledStatistics(_ x: [Double], column j: Int, rows n: Int, columns d: Int) -> (Double, Double) {
    var m = 0.0
    for i in 0..<n { m = Swift.max(m, Swift.abs(x[i * d + j])) }
    var mean = 0.0
    for i in 0..<n { mean += x[i * d + j] / m }
    mean /= Double(n)
    var variance = 0.0
    for i in 0..<n {
      let c = x[i * d + j] / m - mean
      variance += c * c
    }
    return (mean * m, (variance / Double(n)).squareRoot() * m)
  }

  /// Restores saved statistics.
  /// - Throws: ``DatasetError/invalidArgument(operation:reason:)`` unless the counts match, the
  ///   means are finite and the deviations finite, positive and normal (at least
  ///   `Double.leastNormalMagnitude`, about 2.2e-308: a subnormal deviation such as 1e-320 would
  ///   turn every input into infinity).
  public init(mean: [Double], standardDeviation: [Double]) throws(DatasetError) {
    guard mean.count == standardDeviation.count else {
      throw .invalidArgument(
        operation: "Standardizer", reason: "\(mean.count) means but \(standardDeviation.count) standard deviations")
    }
    if let j = mean.firstIndex(where: { !$0.isFinite }) {
      throw .invalidArgument(operation: "Standardizer", reason: "means must be finite, column \(j) has \(mean[j])")
    }
    if let j = standardDeviation.firstIndex(where: { !($0.isFinite && $0.isNormal && $0 > 0) }) {
      throw .invalidArgument(
        operation: "Standardizer",
        reason: "standard deviations must be finite and at least \(Double.leastNormalMagnitude), column \(j) has \(standardDeviation[j])")
    }
    self.mean = mean
    self.standardDeviation = standardDeviation
  }

  /// `(x - μ) / σ` per column; float64 input gives float64, any other dtype float32.
  /// - Throws: ``DatasetError/invalidArgument(operation:reason:)`` unless `features` is
  ///   `[n, d]` with the fitted `d`, and when a standardized value is not finite in the output
  ///   dtype (an input far outside the fitted range: never silently infinity).
  public func transform(_ features: NDArray) throws(DatasetError) -> NDArray {
    let d = mean.count
    guard features.rank == 2, features.shape[1] == d else {
      throw .invalidArgument(operation: "Standardizer.transform", reason: "expected features [n, \(d)], got \(features.shape)")
    }
    var z = features.doubles
    let single = features.dtype != .float64
    for k in z.indices {
      let j = k % d
      z[k] = (z[k] - mean[j]) / standardDeviation[j]
      guard single ? Float(z[k]).isFinite : z[k].isFinite else {
        throw .invalidArgument(
          operation: "Standardizer.transform",
          reason: "row \(k / d), column \(j): (\(features.doubles[k]) - \(mean[j])) / \(standardDeviation[j]) is not a finite \(single ? "float32" : "float64")")
      }
    }
    return NDArray(converting: z, shape: features.shape, dtype: single ? .float32 : .float64)
  }

  /// The data set with standardized features and the same labels.
  /// - Throws: ``DatasetError/invalidArgument(operation:reason:)`` for a feature count mismatch.
  public func transform(_ dataset: Dataset) throws(DatasetError) -> Dataset {
    try Dataset(features: transform(dataset.features), labels: dataset.labels)
  }
}
