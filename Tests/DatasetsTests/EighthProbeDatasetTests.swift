import ArrayCore
import Datasets
import Testing

/// The eighth probe (session 26): data sets as a scikit-learn or Keras user prepares them.
@Suite struct EighthProbeDatasetTests {
  /// Columns of large values (beyond about 1e154, whose squares leave `Double`) got an infinite
  /// standard deviation: every standardized value was 0, silently. They are now fitted scaled.
  @Test func largeColumnsKeepFiniteStatistics() throws {
    let features = try NDArray(validating: [1e300, 3, -1e300, 4, 5e299, 5], shape: [3, 2])
    let standardizer = try Standardizer(fitting: features)
    let reference = try Standardizer(fitting: try NDArray(validating: [1.0, 3, -1, 4, 0.5, 5], shape: [3, 2]))
    #expect(Swift.abs(standardizer.mean[0] / 1e300 - reference.mean[0]) < 1e-15)
    #expect(Swift.abs(standardizer.standardDeviation[0] / 1e300 - reference.standardDeviation[0]) < 1e-15)
    #expect(standardizer.mean[1] == reference.mean[1] && standardizer.standardDeviation[1] == reference.standardDeviation[1])
    let z = try standardizer.transform(features).doubles
    let expected = try reference.transform(try NDArray(validating: [1.0, 3, -1, 4, 0.5, 5], shape: [3, 2])).doubles
    #expect(zip(z, expected).allSatisfy { Swift.abs($0 - $1) < 1e-12 }, "\(z)")
    // Ordinary columns are computed as before, bit for bit (the digits models keep their values).
    let plain = try NDArray(validating: [0.1, 2, 0.7, 5, 0.3, 11], shape: [3, 2])
    let fitted = try Standardizer(fitting: plain)
    #expect(fitted.mean == [(0.1 + 0.7 + 0.3) / 3, 6])
  }

  /// A NaN (a missing value) or an infinity in the features was fitted without a word: the mean
  /// became NaN or infinite, and only a later transform failed, blaming the mean. Fitting names
  /// the value's row and column.
  @Test func nonFiniteFeaturesAreNamedWhenFitted() throws {
    for bad in [Double.nan, .infinity, -.infinity] {
      let features = try NDArray(validating: [1.0, 2, 3, bad, 5, 6], shape: [3, 2])
      #expect {
        try Standardizer(fitting: features)
      } throws: { error in
        "\(error)".contains("row 1, column 1 is \(bad)")
      }
    }
    #expect(throws: DatasetError.self) { try Standardizer(fitting: NDArray([Float.nan], shape: [1, 1])) }
  }
}

extension EighthProbeDatasetTests {
  /// Features loaded as int32 (token ids for an embedding) or bool were converted without a
  /// check: `2.7` became 2, `3e9` became 2147483647, `0.5` became `true`, silently. They are
  /// refused naming the cell, as float32's out-of-range values are.
  @Test func integerAndBoolFeaturesAreChecked() throws {
    for (text, dtype) in [("1,2.7,0", DType.int32), ("1,3e9,0", .int32), ("1,-3e9,0", .int32), ("1,0.5,0", .bool), ("1,2,0", .bool)] {
      #expect {
        try Dataset.parseCSV("1,1,1\n" + text + "\n", featureType: dtype)
      } throws: { error in
        "\(error)".contains("line 2, column 2") && "\(error)".contains("out of the range of \(dtype)")
      }
    }
    let ids = try Dataset.parseCSV("1,2147483647,0\n-2147483648,0,1\n", featureType: .int32)
    #expect(ids.features.scalars(as: Int32.self) == [1, Int32.max, Int32.min, 0])
    let flags = try Dataset.parseCSV("1,0,0\n0,1,1\n", featureType: .bool)
    #expect(flags.features.scalars(as: Bool.self) == [true, false, false, true])
  }
}
