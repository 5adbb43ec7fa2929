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

  /// The per-step log: columns `step`, `loss`, `loss_smoothed`, then one per parameter
  /// (``parameterNames``: `A` for the notebook's recipes), one row per step, numbered from
  /// ``firstStep``.
  public func stepLog() -> StepLog {
    var log = StepLog(columns: ["step", "loss", "loss_smoothed"] + parameterNames)
    let smoothed = smoothedLosses
    for i in losses.indices {
      let values = i < parameterHistory.count ? parameterHistory[i] : []
      log.append(
        [Double(firstStep + i), losses[i], smoothed[i]]
          + parameterNames.indices.map { $0 < values.count ? values[$0] : .nan })
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

  /// The panel of parameter `name` after each step, with its theoretical value (when known)
  /// as a dashed line.
  func parameterChart(_ name: String, theoretical: Double?) -> Chart {
    var chart = Chart(title: "Parameter \(name) per step", xLabel: "step", yLabel: name)
    chart.lines.append(LineSeries(name: name, x: Array(steps.prefix(parameterHistory.count)), y: history(of: name), color: .green, width: 2))
    if let theoretical {
      chart.referenceLines.append(
        .horizontal(at: theoretical, label: "theoretical \(name) = \(formatCompact(theoretical))", color: .red))
    }
    return chart
  }
}

extension NotebookRecipe {
  /// The learning-curve figure of a run: loss per step (raw and smoothed), each parameter per
  /// step against its theoretical value, and for a classifier (when the report has the data)
  /// the data with the learned probability of class 1 and the decision boundary.
  public func figure(for report: TrainingReport) -> Figure {
    let c = configuration
    var charts = [report.lossChart()]
    for name in report.parameterNames {
      charts.append(report.parameterChart(name, theoretical: theoreticalParameters.first { $0.name == name }?.value))
    }
    if let curve = report.probabilityCurve, !report.inputs.isEmpty {
      charts.append(dataChart(report, curve))
    }
    let accuracy = report.accuracy.map { ", accuracy \(formatCompact($0))" } ?? ""
    return Figure(
      title: "\(summary): \(c.loss.name) loss, learning rate \(formatCompact(c.learningRate)), seed \(c.seed)\(accuracy)",
      charts: charts, panelHeight: 340)
  }

  /// The data panel of a classifier: the samples of each class (with a small vertical jitter),
  /// the learned probability of class 1, the learned and the ideal decision boundaries.
  func dataChart(_ report: TrainingReport, _ curve: (inputs: [Double], probabilities: [Double])) -> Chart {
    var data = Chart(title: "Data and learned decision boundary", xLabel: "x", yLabel: "class / probability of class 1")
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
    data.lines.append(LineSeries(name: "learned P(class 1)", x: curve.inputs, y: curve.probabilities, color: .violet, width: 2))
    data.points.append(ScatterSeries(name: "class 0", x: class0.0, y: class0.1, color: .blue))
    data.points.append(ScatterSeries(name: "class 1", x: class1.0, y: class1.1, color: .red))
    if let decisionBoundary {
      let learned = decisionBoundary(report.finalParameters.map(\.value))
      data.referenceLines.append(
        .vertical(at: learned, label: "learned boundary x = \(formatCompact(learned, significantDigits: 3))", color: .violet))
      let ideal = theoreticalParameters.map(\.value)
      if ideal.count == report.finalParameters.count {
        let x = decisionBoundary(ideal)
        data.referenceLines.append(.vertical(at: x, label: "ideal boundary x = \(formatCompact(x))", color: .gray))
      }
    }
    data.yRange = -0.12...1.12
    if let lo = curve.inputs.first, let hi = curve.inputs.last, lo < hi { data.xRange = lo...hi }
    return data
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
