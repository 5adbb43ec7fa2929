/// Decides when and how to show the progress of a long run: nothing for the first `delay`
/// seconds (short runs stay silent), then on a terminal a bar redrawn in place (`\r`, erase to
/// the end of the line) at most every `interval` seconds, and otherwise a plain line every
/// `interval` seconds with no control characters (for CI logs and pipes). The last step is
/// always shown when the run has lasted longer than `delay`.
///
/// The reporter only formats and decides; `write` sends text to the terminal or log, and
/// `clock` gives the seconds since the run started, so tests can drive it.
public final class ProgressReporter {
  private let isTerminal: Bool
  private let delay: Double
  private let interval: Double
  private let write: (String) -> Void
  private let clock: () -> Double
  private var lastDraw: Double?
  private var barVisible = false
  private var smoothedLoss: Double?

  /// Creates a reporter.
  /// - Parameters:
  ///   - isTerminal: Redraw a bar in place (`true`) or print plain lines (`false`).
  ///   - delay: Seconds before anything is shown.
  ///   - interval: Seconds between redraws; by default 0.1 on a terminal and 5 otherwise.
  ///   - write: Where the text goes (standard error, usually).
  ///   - clock: Seconds since the run started.
  public init(
    isTerminal: Bool, delay: Double = 2, interval: Double? = nil, write: @escaping (String) -> Void,
    clock: @escaping () -> Double
  ) {
    self.isTerminal = isTerminal
    self.delay = delay
    self.interval = interval ?? (isTerminal ? 0.1 : 5)
    self.write = write
    self.clock = clock
  }

  /// Records a finished step (`step` of `total`, 1-based) with its loss, and shows the
  /// progress when due. The loss shown is an exponential moving average (weight 0.95).
  public func update(step: Int, total: Int, loss: Double) {
    if loss.isFinite { smoothedLoss = smoothedLoss.map { 0.95 * $0 + 0.05 * loss } ?? loss }
    let now = clock()
    let last = step >= total
    guard now >= delay else { return }
    if let lastDraw, now - lastDraw < interval, !last { return }
    lastDraw = now
    let line = ProgressLine(step: step, total: total, loss: smoothedLoss, elapsed: now)
    if isTerminal {
      write("\r" + line.bar() + "\u{1B}[K" + (last ? "\n" : ""))
      barVisible = !last
    } else {
      write(line.plain() + "\n")
    }
  }

  /// Call before printing other output to the same terminal: erases the bar (it is redrawn
  /// at the next update).
  public func clearForOutput() {
    guard barVisible else { return }
    write("\r\u{1B}[K")
    barVisible = false
    lastDraw = nil
  }

  /// Ends the bar's line if a bar is still shown (a run that stopped early).
  public func finish() {
    guard barVisible else { return }
    write("\n")
    barVisible = false
  }
}
