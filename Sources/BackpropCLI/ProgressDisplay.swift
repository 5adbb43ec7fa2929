import Backprop
import Foundation
import Recipes

/// Shows the progress of a training run once it has lasted `delay` seconds: a bar redrawn in
/// place on a terminal (standard error), or a plain line every `interval` seconds otherwise.
/// Runs shorter than `delay` show nothing.
final class ProgressDisplay {
  private let enabled: Bool
  private let isTerminal: Bool
  private let delay: Double
  private let interval: Double
  private let start = ContinuousClock.now
  private var lastDraw: Double = -.infinity
  private var barVisible = false
  private var smoothedLoss: Double?

  /// Creates the display; `quiet` turns it off.
  init(quiet: Bool, delay: Double = 2, isTerminal: Bool = Terminal.isTerminal(STDERR_FILENO)) {
    self.enabled = !quiet
    self.isTerminal = isTerminal
    self.delay = delay
    self.interval = isTerminal ? 0.1 : 5
  }

  private var elapsed: Double {
    let d = ContinuousClock.now - start
    return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
  }

  /// Records a finished step and redraws when due.
  func update(_ step: TrainingStep) {
    guard enabled else { return }
    if step.loss.isFinite { smoothedLoss = smoothedLoss.map { 0.95 * $0 + 0.05 * step.loss } ?? step.loss }
    let now = elapsed
    let last = step.step == step.totalSteps
    guard now >= delay, now - lastDraw >= interval || (last && (barVisible || lastDraw > 0)) else { return }
    lastDraw = now
    let line = ProgressLine(step: step.step, total: step.totalSteps, loss: smoothedLoss, elapsed: now)
    if isTerminal {
      write("\r" + line.bar() + "\u{1B}[K" + (last ? "\n" : ""))
      barVisible = !last
    } else {
      write(line.plain() + "\n")
    }
  }

  /// Prints a line of the recipe's own output without garbling the bar.
  func print(_ text: String) {
    if barVisible {
      write("\r\u{1B}[K")
      barVisible = false
      lastDraw = -.infinity
    }
    Swift.print(text)
    fflush(nil)
  }

  /// Ends the bar's line if one is still shown.
  func finish() {
    if barVisible {
      write("\n")
      barVisible = false
    }
  }

  private func write(_ text: String) {
    FileHandle.standardError.write(Data(text.utf8))
  }
}
