/// The eight block characters of a sparkline, lowest first.
public let sparklineLevels: [Character] = ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"]

/// A one-line terminal chart of `values` (`▁▂▃▅▇█▆▄`): each value maps linearly from the
/// finite minimum (`▁`) to the finite maximum (`█`), level `⌊(v − min)/(max − min)·8⌋`
/// capped at 7. With more values than `width`, consecutive values are averaged into `width`
/// buckets. Non-finite values (or buckets with no finite value) are spaces; when all finite
/// values are equal every character is `▄`. With `scale: .logarithmic` the levels follow
/// `log₁₀ v` (after bucketing) and values `≤ 0` are spaces, which suits losses spanning decades.
public func sparkline(_ values: [Double], width: Int? = nil, scale: AxisScale = .linear) -> String {
  var series = values
  if let width, width > 0, values.count > width {
    series = (0..<width).map { b in
      let start = b * values.count / width
      let end = (b + 1) * values.count / width
      let finite = values[start..<end].filter(\.isFinite)
      return finite.isEmpty ? .nan : finite.reduce(0, +) / Double(finite.count)
    }
  }
  if scale == .logarithmic { series = series.map { $0 > 0 ? _log10($0) : .nan } }
  let finite = series.filter(\.isFinite)
  guard let lo = finite.min(), let hi = finite.max() else { return String(repeating: " ", count: series.count) }
  return String(
    series.map { v -> Character in
      guard v.isFinite else { return " " }
      guard hi > lo else { return sparklineLevels[3] }
      let level = Int(((v - lo) / (hi - lo) * 8).rounded(.down))
      return sparklineLevels[min(7, max(0, level))]
    })
}
