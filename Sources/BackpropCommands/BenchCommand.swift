import ArgumentParser
import Backprop
import CAllocCounter
import Recipes

/// `backprop bench`: times the notebook's training steps (and, from other files, more
/// workloads), printing a table or JSON.
struct BenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bench",
    abstract: "Run the benchmark workloads and print a table (or JSON): time and heap allocations per step.")

  @Option(parsing: .unconditional, help: "Steps per timed repetition of the step workloads.")
  var steps = 100_000

  @Option(parsing: .unconditional, help: "Timed repetitions (the median, min and max are reported).")
  var repetitions = 7

  @Flag(help: "Print JSON (one object per workload) instead of a table.")
  var json = false

  @Option(help: "Only run workloads whose name contains this text.")
  var filter: String?

  @Flag(help: "After each CNN epoch workload, print where its training step's time goes, operation by operation (a separate run of --cnn-steps profiled steps).")
  var profile = false

  func validate() throws {
    // Upper limits keep a mistyped count from running for days (each is hours of measuring).
    if !(1...1_000_000_000).contains(steps) { throw ValidationError("--steps must be 1 to 1,000,000,000, got \(steps)") }
    if !(1...1000).contains(repetitions) { throw ValidationError("--repetitions must be 1 to 1000, got \(repetitions)") }
    if !(0...100_000).contains(cnnSteps) { throw ValidationError("--cnn-steps must be 0 to 100,000, got \(cnnSteps)") }
    if profile && json { throw ValidationError("--profile prints a table, so it cannot be combined with --json") }
    if profile && cnnSteps == 0 { throw ValidationError("--profile profiles the CNN's training steps: --cnn-steps must be at least 1") }
    if !(2...10_000).contains(digitsEpochs) {
      throw ValidationError("--digits-epochs must be 2 to 10,000 (the first is a warm-up), got \(digitsEpochs)")
    }
  }

  func run() throws {
    var results: [BenchResult] = []
    if !json { print(kernelBackendLine()) }  // BenchKernels.swift
    // The steps' repetitions interleaved (each workload's first, then each one's second...), so
    // that a slow spell of a shared machine falls on all of them rather than on one: their
    // ratios, the steps' targets, are measured under the same conditions.
    let wanted = try stepWorkloads().filter { workload in filter.map { workload.name.contains($0) } ?? true }
    for r in try measureInterleaved(wanted, steps: steps, repetitions: repetitions) {
      results.append(r)
      if !json { print(r.row) }
    }
    for workload in try kernelWorkloads(wanted: { name in filter.map { name.contains($0) } ?? true }) {
      let r = try measureKernel(workload)  // BenchKernels.swift
      results.append(r)
      if !json { print(r.row) }
    }
    for (name, hidden, batch) in [("digits MLP epoch, 64-128-10, batch 32", [128], 32), ("digits MLP epoch, 64-256-256-10, batch 256", [256, 256], 256)]
    where filter.map({ name.contains($0) }) ?? true {
      let r = try measureDigits(name: name, hidden: hidden, batchSize: batch)
      results.append(r)
      if !json { print(r.row) }
    }
    let eagerDigits = "digits MLP epoch, 64-128-10, batch 32, eager"
    if filter.map({ eagerDigits.contains($0) }) ?? true {
      let r = try measureEagerDigits(name: eagerDigits, hidden: [128], batchSize: 32)  // BenchEager.swift
      results.append(r)
      if !json { print(r.row) }
    }
    for workload in try cnnKernelWorkloads(wanted: { name in filter.map { name.contains($0) } ?? true }) {
      let r = try measureKernel(workload)  // BenchCNN.swift
      results.append(r)
      if !json { print(r.row) }
    }
    for model in Self.cnnModels where cnnSteps > 0 && (filter.map({ "cnn epoch, \(model.name)".contains($0) }) ?? true) {
      for r in try measureCNNEpoch(steps: cnnSteps, repetitions: repetitions, model: model) {  // BenchCNN.swift
        results.append(r)
        if !json { print(r.row) }
      }
      if profile {
        print("\nThe \(model.name)'s training step, operation by operation (\(cnnSteps) steps, Session.Options(profiles: true)):")
        let profile = try cnnStepProfile(steps: cnnSteps, batchNorm: model.batchNorm)
        print(profile.table(limit: 25))
        print("\nThe same by kernel type:")
        print(profile.groupedByType().table(limit: 12))
        print()
      }
    }
    // A filter that matches nothing is a typo, not an empty benchmark (pytest's "no tests ran").
    if let filter, results.isEmpty {
      throw CLIError(
        "no workload's name contains '\(filter)' (names such as 'regression step, eager', 'sgemm 256x256x256', 'digits MLP epoch', 'cnn epoch'; `backprop bench` without --filter runs them all)")
    }
    if json { print("[" + results.map(\.json).joined(separator: ",\n ") + "]") }
  }

  @Option(
    name: .customLong("cnn-steps"),
    parsing: .unconditional, help: "Training steps of the example CNN per timed repetition (batch 128; the epoch time is the time per step x 469; 0 skips it).")
  var cnnSteps = 100

  @Option(name: .customLong("digits-epochs"), parsing: .unconditional, help: "Epochs per digits workload (the first is a warm-up and not counted).")
  var digitsEpochs = 11

  /// Times the digits recipe's epochs (Adam at 1e-3, the recipe's data and split): the time of
  /// each epoch's training steps, in milliseconds, over every epoch after the first.
  func measureDigits(name: String, hidden: [Int], batchSize: Int) throws -> BenchResult {
    var c = DigitsRecipe.Configuration()
    c.hiddenSizes = hidden
    c.batchSize = batchSize
    c.epochs = Swift.max(digitsEpochs, 2)
    let report = try DigitsRecipe(c).run(output: { _ in })
    let ms = report.epochs.dropFirst().map { $0.seconds * 1000 }.sorted()
    // Allocations are not reported: the recipe's run also loads, batches and evaluates.
    return BenchResult(
      workload: name + " (test accuracy \(format(4, report.testAccuracy)))", metric: "time per epoch", unit: "ms",
      median: ms[ms.count / 2], min: ms.first!, max: ms.last!, allocations: nil)
  }

  struct Workload {
    var name: String
    var step: () throws -> Void
  }

  func stepWorkloads() throws -> [Workload] {
    try regressionStep() + classificationStep() + handWrittenFloor() + eagerSteps()
  }

  /// The samples every notebook step draws from, one per step in turn (as the peers in
  /// Scripts/bench/steps.py and the hand-written floor do): regression inputs x ~ N(1, 0.1) with
  /// the target 10; classification inputs from N(-1, 1) (label 0) and N(3, 1) (label 1),
  /// alternating.
  struct NotebookSamples {
    static let count = 1024
    var regressionX: [Float] = []
    var classificationX: [Float] = []
    var classificationY: [Float] = []

    init() {
      var rng = SeededGenerator(seed: 3)
      regressionX = (0..<Self.count).map { _ in Float(rng.normal(mean: 1, standardDeviation: 0.1)) }
      classificationX = (0..<Self.count).map { i in Float(rng.normal(mean: i % 2 == 0 ? -1 : 3, standardDeviation: 1)) }
      classificationY = (0..<Self.count).map { i in Float(i % 2) }
    }
  }

  func regressionStep() throws -> [Workload] {
    let graph = Graph()
    let x = graph.placeholder(shape: [1])
    let y = graph.placeholder(shape: [1])
    let a = try graph.variable(randomNormal(graph, shape: [1], seed: 1))
    let loss = try square(x * a - y)
    let train = try GradientDescentOptimizer(learningRate: 0.02).minimize(loss)
    let session = Session(graph: graph)
    try session.initializeVariables()
    let prepared = try session.prepare(feeds: [x, y], targets: [train])
    // Each step feeds the next sample, made into arrays before timing (the peers' samples are
    // tensors made beforehand too); the target is 10 at every step, fed every step.
    let samples = NotebookSamples()
    let xs = samples.regressionX.map { NDArray([$0]) }
    let ten = NDArray([Float(10)])
    let state = FloorState()
    return [
      Workload(name: "regression step, Session.run") {
        try session.run(train, feeding: [x: xs[state.next()], y: ten])
      },
      Workload(name: "regression step, prepared") {
        try prepared.setFeed(0, to: xs[state.next()])
        try prepared.setFeed(1, to: ten)
        try prepared.run()
      },
      // The same samples as Swift numbers, as the notebook feeds Python numbers
      // (`feed_dict={x_data: [x_vals[i]], y_target: [10.]}`) and the hand-written loop reads
      // them: no array per sample.
      Workload(name: "regression step, Session.run, scalar feeds") {
        try session.run(train, feeding: [x: samples.regressionX[state.next()], y: 10])
      },
      Workload(name: "regression step, prepared, scalar feeds") {
        try prepared.setFeed(0, to: samples.regressionX[state.next()])
        try prepared.setFeed(1, to: Float(10))
        try prepared.run()
      },
    ]
  }

  func classificationStep() throws -> [Workload] {
    let graph = Graph()
    let x = graph.placeholder(shape: [1])
    let y = graph.placeholder(shape: [1])
    let a = try graph.variable(randomNormal(graph, shape: [1], mean: 10, seed: 1))
    let loss = try sigmoidCrossEntropyWithLogits(logits: expandDims(x + a, axis: 0), labels: expandDims(y, axis: 0))
    let train = try GradientDescentOptimizer(learningRate: 0.05).minimize(loss)
    let session = Session(graph: graph)
    try session.initializeVariables()
    let prepared = try session.prepare(feeds: [x, y], targets: [train])
    let samples = NotebookSamples()
    let xs = samples.classificationX.map { NDArray([$0]) }
    let ys = samples.classificationY.map { NDArray([$0]) }
    let state = FloorState()
    return [
      Workload(name: "classification step, Session.run") {
        let i = state.next()
        try session.run(train, feeding: [x: xs[i], y: ys[i]])
      },
      Workload(name: "classification step, prepared") {
        let i = state.next()
        try prepared.setFeed(0, to: xs[i])
        try prepared.setFeed(1, to: ys[i])
        try prepared.run()
      },
      Workload(name: "classification step, Session.run, scalar feeds") {
        let i = state.next()
        try session.run(train, feeding: [x: samples.classificationX[i], y: samples.classificationY[i]])
      },
      Workload(name: "classification step, prepared, scalar feeds") {
        let i = state.next()
        try prepared.setFeed(0, to: samples.classificationX[i])
        try prepared.setFeed(1, to: samples.classificationY[i])
        try prepared.run()
      },
    ]
  }

  /// The floor: the same training steps written by hand with their closed-form gradients, on
  /// the same samples in the same order.
  func handWrittenFloor() -> [Workload] {
    let samples = NotebookSamples()
    let xs = samples.regressionX, cs = samples.classificationX, ls = samples.classificationY
    let state = FloorState()
    return [
      Workload(name: "regression step, hand-written Swift") {
        let x = xs[state.next()]
        state.a -= 0.02 * 2 * x * (x * state.a - 10)
      },
      Workload(name: "classification step, hand-written Swift") {
        let i = state.next()
        let s = 1 / (1 + (-(cs[i] + state.b)).exponential)
        state.b -= 0.05 * (s - ls[i])
      },
    ]
  }
}

/// Mutable state of the hand-written loops, kept in a class so the optimizer cannot drop the work.
final class FloorState {
  var a: Float = 0
  var b: Float = 10
  var i = 0

  /// The index of the next sample (0, 1, ... cycling through ``BenchCommand/NotebookSamples``).
  @inline(__always) func next() -> Int {
    let index = i & (BenchCommand.NotebookSamples.count - 1)
    i &+= 1
    return index
  }
}

extension Float {
  /// `eˣ` through the kernels' own scalar function.
  var exponential: Float { Float.exp(self) }
}

/// One measured workload.
struct BenchResult {
  var workload = ""
  var metric = "time per step"
  var unit = "ns"
  var median: Double
  var min: Double
  var max: Double
  var allocations: Double?

  var row: String {
    let allocs = allocations.map { format(3, $0) } ?? "n/a"
    return pad(workload, 42) + pad(format(1, median), 12, left: true) + " " + unit
      + "  (min " + format(1, min) + ", max " + format(1, max) + ")  allocations/step: " + allocs
  }

  var json: String {
    "{\"workload\": \"\(workload)\", \"metric\": \"\(metric)\", \"median\": \(median), \"min\": \(min), \"max\": \(max), \"unit\": \"\(unit)\", \"allocations_per_step\": \(allocations.map { "\($0)" } ?? "null")}"
  }
}

/// Times `steps` calls of `step`, `repetitions` times after a warm-up, and counts heap
/// allocations (Linux/glibc; `nil` elsewhere).
func measure(_ step: () throws -> Void, steps: Int, repetitions: Int) throws -> BenchResult {
  try withoutActuallyEscaping(step) { step in
    try measureInterleaved([BenchCommand.Workload(name: "", step: step)], steps: steps, repetitions: repetitions)[0]
  }
}

/// Times `steps` calls of each workload's step, `repetitions` times after a warm-up of each,
/// the repetitions taken in turns (one of each workload, then the next of each), and counts
/// heap allocations (Linux/glibc; `nil` elsewhere). One result per workload, in order.
func measureInterleaved(_ workloads: [BenchCommand.Workload], steps: Int, repetitions: Int) throws -> [BenchResult] {
  for workload in workloads {
    for _ in 0..<Swift.min(steps, 1000) { try workload.step() }  // warm up: plans built, buffers sized
  }
  var times = Array(repeating: [Double](), count: workloads.count)
  var allocs = Array(repeating: [Double](), count: workloads.count)
  let clock = ContinuousClock()
  for _ in 0..<repetitions {
    for (w, workload) in workloads.enumerated() {
      let step = workload.step
      let a0 = backprop_allocation_count()
      let t0 = clock.now
      for _ in 0..<steps { try step() }
      let elapsed = clock.now - t0
      let a1 = backprop_allocation_count()
      let ns = Double(elapsed.components.seconds) * 1e9 + Double(elapsed.components.attoseconds) / 1e9
      times[w].append(ns / Double(steps))
      if a0 >= 0 { allocs[w].append(Double(a1 - a0) / Double(steps)) }
    }
  }
  return workloads.indices.map { w in
    let t = times[w].sorted(), a = allocs[w].sorted()
    return BenchResult(
      workload: workloads[w].name, median: t[t.count / 2], min: t.first!, max: t.last!,
      allocations: a.isEmpty ? nil : a[a.count / 2])
  }
}

func format(_ digits: Int, _ x: Double) -> String {
  let scale = [1.0, 10, 100, 1000, 10000][Swift.min(digits, 4)]
  return String(Double(Int((x * scale).rounded())) / scale)
}

func pad(_ s: String, _ width: Int, left: Bool = false) -> String {
  let fill = String(repeating: " ", count: Swift.max(0, width - s.count))
  return left ? fill + s : s + fill
}
