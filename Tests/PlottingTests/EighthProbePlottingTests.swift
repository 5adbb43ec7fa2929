import Foundation
import GraphCore
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

  /// `addHistogram(..., bucketCount: Int.max)` (or any count beyond the memory) trapped while
  /// allocating the buckets; 0 and negative counts gave one bucket without a word. The writer
  /// refuses them, naming the tag; `HistogramSummary` takes the count in `1...65536`.
  @Test func bucketCountsAreBounded() throws {
    let directory = NSTemporaryDirectory() + "eighth-probe-histogram-\(getpid())"
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let writer = try SummaryWriter(logdir: directory, clock: { 1 })
    for count in [Int.max, HistogramSummary.maximumBucketCount + 1, 0, -3] {
      #expect(throws: GraphError.self) { try writer.addHistogram("weights", [1, 2, 3], step: 1, bucketCount: count) }
    }
    try writer.addHistogram("weights", [1, 2, 3], step: 1, bucketCount: HistogramSummary.maximumBucketCount)
    try writer.close()
    #expect(HistogramSummary([0, 1], bucketCount: Int.max).bucketCounts.count == HistogramSummary.maximumBucketCount)
  }

  /// `ProgressLine.bar(width:)` trapped for a negative width (`String(repeating:count:)`) and
  /// for `Int.max`; the width is taken in `0...1000`.
  @Test func progressBarsOfAnyWidth() {
    let line = ProgressLine(step: 350, total: 1400, loss: 0.5, elapsed: 2)
    #expect(line.bar(width: -5).hasPrefix("[] "))
    #expect(line.bar(width: Int.max).hasPrefix("[" + String(repeating: "█", count: 250) + String(repeating: "░", count: 750) + "] "))
    #expect(line.bar(width: 4).hasPrefix("[█░░░] "))
  }

  /// A learning curve of a diverged float64 run (values from -1e308 to 1e308, whose range
  /// overflows), a panel size that is not a number, or an axis range of ±1e308 trapped
  /// (`Double value cannot be converted to Int`) or hung (2e308 ticks counted one by one). The
  /// chart is drawn: the range is measured in halves, the sizes are taken in 1...100,000 pixels.
  @Test(.timeLimit(.minutes(1))) func chartsOfDivergedRunsAreDrawn() {
    var chart = Chart(title: "loss")
    chart.lines.append(LineSeries(name: "loss", steps: [1, 1e308, -1e308]))
    #expect(chart.svg().contains("data-points=\"3\""))
    #expect(chart.svg(width: .nan, height: .infinity).contains("<svg"))
    #expect(chart.svg(width: 1e308, height: 1e308).contains("width=\"100000\""))
    chart.yRange = -1e308...1e308
    #expect(chart.svg().contains("data-points=\"3\""))
    let ticks = AxisTicks.linear(minimum: -1e308, maximum: 1e308)
    #expect(ticks.values.count <= 12 && ticks.values.allSatisfy(\.isFinite) && ticks.lower.isFinite && ticks.upper.isFinite, "\(ticks)")
    #expect(ticks.lower <= -1e308 && ticks.upper >= 1e308)
  }
}
