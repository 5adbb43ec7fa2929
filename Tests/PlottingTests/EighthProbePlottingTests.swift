import Plotting
import Testing

/// The eighth probe (session 26): TensorBoard histograms as the documentation describes them.
@Suite struct EighthProbePlottingTests {
  /// The documentation said a bucket counts `(limit[i-1], limit[i]]`; the code counts
  /// `[limit[i-1], limit[i])`, as TensorBoard's `tf.summary.histogram` does, and the documentation
  /// now says so: a value on an edge counts in the bucket to its right, the maximum in the last.
  @Test func valuesOnAnEdgeCountToTheRight() {
    let h = HistogramSummary([0, 1, 2, 3, 4], bucketCount: 4)
    #expect(h.bucketLimits == [1, 2, 3, 4])
    #expect(h.bucketCounts == [1, 1, 1, 2])
  }
}
