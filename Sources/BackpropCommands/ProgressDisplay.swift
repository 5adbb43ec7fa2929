import Backprop
import Foundation
import Recipes

/// The progress of a recipe run on standard error (see ``ProgressReporter``), and the recipe's
/// own lines on standard output without garbling the bar.
final class ProgressDisplay {
  private let reporter: ProgressReporter?

  /// Creates the display; `quiet` turns it off.
  init(quiet: Bool) {
    let start = ContinuousClock.now
    reporter =
      quiet
      ? nil
      : ProgressReporter(
        isTerminal: Terminal.isTerminal(STDERR_FILENO),
        write: { FileHandle.standardError.write(Data($0.utf8)) },
        clock: {
          let d = ContinuousClock.now - start
          return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
        })
  }

  /// Records a finished step.
  func update(_ step: TrainingStep) {
    reporter?.update(step: step.step, total: step.totalSteps, loss: step.loss)
  }

  /// Prints a line of the recipe's own output.
  func print(_ text: String) {
    reporter?.clearForOutput()
    Swift.print(text)
    fflush(nil)
  }

  /// Ends the bar's line if one is still shown.
  func finish() { reporter?.finish() }
}
