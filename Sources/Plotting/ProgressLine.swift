/// Text for training progress: a bar redrawn in place on a terminal, or a plain line for logs.
///
/// `ProgressLine` only formats; the caller decides when to print and whether the output is a
/// terminal.
public struct ProgressLine: Sendable {
  /// The step just finished (1-based).
  public var step: Int
  /// The total number of steps.
  public var total: Int
  /// The latest loss (or a smoothed one), if known.
  public var loss: Double?
  /// Seconds since the run started.
  public var elapsed: Double

  /// Creates a progress snapshot.
  public init(step: Int, total: Int, loss: Double?, elapsed: Double) {
    self.step = step
    self.total = total
    self.loss = loss
    self.elapsed = elapsed
  }

  /// Steps per second so far (`step / elapsed`), or nil before any time has passed.
  public var stepsPerSecond: Double? { elapsed > 0 && step > 0 ? Double(step) / elapsed : nil }

  /// Estimated seconds left: `(total − step) / stepsPerSecond`.
  public var secondsLeft: Double? { stepsPerSecond.map { Double(max(0, total - step)) / $0 } }

  /// `[██████░░░░░░░░]  350/1400  25%  loss 0.0123  5120 steps/s  ETA 0:02`, with a bar of
  /// `barWidth` cells, taken in `0...1000` (a negative width trapped in `String(repeating:)`, and
  /// `Int.max` converting the filled cells back to an `Int`), with no newline: the caller redraws
  /// it after a carriage return.
  public func bar(width requestedWidth: Int = 24) -> String {
    let barWidth = min(max(requestedWidth, 0), 1000)
    let fraction = total > 0 ? min(1, max(0, Double(step) / Double(total))) : 0
    let filled = Int((fraction * Double(barWidth)).rounded(.down))
    let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: barWidth - filled)
    let percent = String(Int((fraction * 100).rounded(.down))).leftPadded(to: 3)
    return "[\(bar)] " + counter + "  \(percent)%" + details
  }

  /// `step 350/1400  loss 0.0123  5120 steps/s  ETA 0:02`: a plain line for logs and pipes.
  public func plain() -> String { "step " + counter + details }

  private var counter: String {
    String(step).leftPadded(to: String(total).count) + "/" + String(total)
  }

  private var details: String {
    var text = ""
    if let loss { text += "  loss " + formatCompact(loss, significantDigits: 4) }
    if let rate = stepsPerSecond { text += "  " + formatCompact(rate, significantDigits: 3) + " steps/s" }
    if step >= total {
      text += "  " + ProgressLine.clock(elapsed)
    } else if let left = secondsLeft {
      text += "  ETA " + ProgressLine.clock(left)
    }
    return text
  }

  /// `m:ss`, or `h:mm:ss` from one hour.
  public static func clock(_ seconds: Double) -> String {
    guard seconds.isFinite, seconds >= 0 else { return "--:--" }
    let s = Int(seconds.rounded())
    let (h, m, r) = (s / 3600, (s % 3600) / 60, s % 60)
    let two = { (v: Int) in v < 10 ? "0\(v)" : "\(v)" }
    return h > 0 ? "\(h):\(two(m)):\(two(r))" : "\(m):\(two(r))"
  }
}

extension String {
  func leftPadded(to width: Int) -> String {
    count >= width ? self : String(repeating: " ", count: width - count) + self
  }
}
