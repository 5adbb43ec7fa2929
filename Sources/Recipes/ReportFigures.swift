import Plotting

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

extension TrainingReport {
  /// The smoothed loss curve: ``exponentialMovingAverage(_:weight:)`` with a weight suited
  /// to the number of steps (``suggestedSmoothingWeight(count:)``).
  public var smoothedLosses: [Double] {
    exponentialMovingAverage(losses, weight: suggestedSmoothingWeight(count: losses.count))
  }

  /// The per-step log: columns `step`, `loss`, `loss_smoothed`, `A` (one row per step,
  /// numbered from ``firstStep``).
  public func stepLog() -> StepLog {
    var log = StepLog(columns: ["step", "loss", "loss_smoothed", "A"])
    let smoothed = smoothedLosses
    for i in losses.indices {
      log.append([Double(firstStep + i), losses[i], smoothed[i], i < parameter.count ? parameter[i] : .nan])
    }
    return log
  }

  /// The step numbers of the history: `firstStep, firstStep + 1, ...`.
  var steps: [Double] { losses.indices.map { Double(firstStep + $0) } }

  /// The loss panel: raw loss per step (faint) and its smoothed curve; a logarithmic y axis
  /// when the finite losses are all positive and span more than two decades. Non-finite
  /// losses are gaps, counted in the title.
  func lossChart() -> Chart {
    let nonFinite = losses.filter { !$0.isFinite }.count
    let title = nonFinite == 0 ? "Loss per step" : "Loss per step (\(nonFinite) steps with NaN or ∞ are gaps)"
    var chart = Chart(title: title, xLabel: "step", yLabel: "loss")
    let finite = losses.filter(\.isFinite)
    let positive = finite.filter { $0 > 0 }
    if positive.count == finite.count, let lo = positive.min(), let hi = positive.max(), hi > lo * 100 {
      chart.yScale = .logarithmic
      chart.yLabel = "loss (log scale)"
    }
    let faint = losses.count > 300 ? 0.22 : 0.35
    chart.lines.append(LineSeries(name: "loss (raw)", x: steps, y: losses, color: .blue, width: 1, opacity: faint))
    chart.lines.append(LineSeries(name: "loss (smoothed)", x: steps, y: smoothedLosses, color: .blue, width: 2))
    return chart
  }

  /// The parameter panel: `A` after each step, with its theoretical value as a dashed line.
  func parameterChart(theoretical: Double) -> Chart {
    var chart = Chart(title: "Parameter A per step", xLabel: "step", yLabel: "A")
    chart.lines.append(LineSeries(name: "A", x: steps, y: parameter, color: .green, width: 2))
    chart.referenceLines.append(
      .horizontal(at: theoretical, label: "theoretical A = \(formatCompact(theoretical))", color: .red))
    return chart
  }
}

extension RegressionRecipe {
  /// The theoretical value of `A`: the targets (10) over the inputs' mean (1).
  public static let theoreticalParameter = 10.0

  /// The learning-curve figure of a run: loss per step (raw and smoothed) and `A` per step
  /// against its theoretical value 10.
  public func figure(for report: TrainingReport) -> Figure {
    let c = configuration
    return Figure(
      title: "Regression x·A = 10: \(c.loss == .l2 ? "L2" : "L1") loss, learning rate \(formatCompact(c.learningRate)), seed \(c.seed)",
      charts: [report.lossChart(), report.parameterChart(theoretical: Self.theoreticalParameter)],
      panelHeight: 340)
  }
}

extension ClassificationRecipe {
  /// The theoretical value of `A`: `-(mean₁ + mean₂)/2 = -(-1 + 3)/2 = -1`, which puts the
  /// decision boundary `x = -A` halfway between the classes' means.
  public static let theoreticalParameter = -1.0

  /// The learning-curve figure of a run: loss per step, `A` per step against its theoretical
  /// value -1, and (when the report has the data) the data with the learned model `σ(x + A)`
  /// and decision boundary `x = -A`.
  public func figure(for report: TrainingReport) -> Figure {
    let c = configuration
    let a = report.finalParameter
    var data = Chart(title: "Data and learned decision boundary", xLabel: "x", yLabel: "class / σ(x + A)")
    // A small deterministic vertical jitter (golden-ratio sequence) separates overlapping dots.
    func jitter(_ i: Int) -> Double {
      let f = Double(i) * 0.6180339887498949
      return (f - f.rounded(.down) - 0.5) * 0.12
    }
    var class0: ([Double], [Double]) = ([], [])
    var class1: ([Double], [Double]) = ([], [])
    for (i, (x, y)) in zip(report.inputs, report.targets).enumerated() {
      if y == 0 {
        class0.0.append(x)
        class0.1.append(jitter(i))
      } else {
        class1.0.append(x)
        class1.1.append(1 + jitter(i))
      }
    }
    let xs = report.inputs.filter(\.isFinite)
    let lo = (xs.min() ?? -4) - 0.5
    let hi = (xs.max() ?? 6) + 0.5
    let curveX = (0...200).map { lo + (hi - lo) * Double($0) / 200 }
    let curveY = curveX.map { 1 / (1 + exp(-($0 + a))) }
    data.lines.append(LineSeries(name: "σ(x + A)", x: curveX, y: curveY, color: .violet, width: 2))
    data.points.append(ScatterSeries(name: "class 0: N(-1, 1)", x: class0.0, y: class0.1, color: .blue))
    data.points.append(ScatterSeries(name: "class 1: N(3, 1)", x: class1.0, y: class1.1, color: .red))
    data.referenceLines.append(
      .vertical(at: -a, label: "learned boundary x = -A = \(formatCompact(-a, significantDigits: 3))", color: .violet))
    data.referenceLines.append(
      .vertical(at: -Self.theoreticalParameter, label: "ideal boundary x = 1", color: .gray))
    data.yRange = -0.12...1.12
    data.xRange = lo...hi
    return Figure(
      title: "Classification σ(x + A): learning rate \(formatCompact(c.learningRate)), seed \(c.seed), accuracy \(report.accuracy.map { formatCompact($0) } ?? "n/a")",
      charts: [report.lossChart(), report.parameterChart(theoretical: Self.theoreticalParameter)]
        + (report.inputs.isEmpty ? [] : [data]),
      panelHeight: 340)
  }
}

extension DigitsRecipe.Report {
  /// The per-epoch log: columns `epoch`, `loss`, `train_accuracy`, `test_accuracy`, `seconds`.
  public func epochLog() -> StepLog { epochStepLog(epochs) }

  /// The learning curves: the mean training loss per epoch, and the train and test accuracy
  /// per epoch.
  public func figure(title: String) -> Figure { epochFigure(epochs, title: title) }
}

/// The per-epoch log of a classifier's run: columns `epoch`, `loss`, `train_accuracy`,
/// `test_accuracy`, `seconds`.
func epochStepLog(_ epochs: [DigitsEpoch]) -> StepLog {
  var log = StepLog(columns: ["epoch", "loss", "train_accuracy", "test_accuracy", "seconds"])
  for e in epochs { log.append([Double(e.epoch), e.loss, e.trainAccuracy, e.testAccuracy, e.seconds]) }
  return log
}

/// A classifier's learning curves: the mean training loss per epoch, and the train and test
/// accuracy per epoch.
func epochFigure(_ epochs: [DigitsEpoch], title: String) -> Figure {
  let x = epochs.map { Double($0.epoch) }
  var loss = Chart(title: "Mean training loss per epoch", xLabel: "epoch", yLabel: "loss")
  let positive = epochs.map(\.loss).filter { $0.isFinite && $0 > 0 }
  if positive.count == epochs.count, let lo = positive.min(), let hi = positive.max(), hi > lo * 100 {
    loss.yScale = .logarithmic
    loss.yLabel = "loss (log scale)"
  }
  loss.lines.append(LineSeries(name: "loss", x: x, y: epochs.map(\.loss), color: .blue, width: 2))
  var accuracy = Chart(title: "Accuracy per epoch", xLabel: "epoch", yLabel: "accuracy")
  accuracy.lines.append(LineSeries(name: "train", x: x, y: epochs.map(\.trainAccuracy), color: .green, width: 2))
  accuracy.lines.append(
    LineSeries(name: "test", x: x, y: epochs.map(\.testAccuracy), color: .red, width: 2, dashed: true))
  return Figure(title: title, charts: [loss, accuracy], panelHeight: 340)
}
