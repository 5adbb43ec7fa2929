import ArgumentParser
import Backprop
import CAllocCounter

/// `backprop bench`: times the notebook's training steps.
struct BenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bench",
    abstract: "Measure the training step of the notebook's recipes: nanoseconds and heap allocations per step.")

  @Option(help: "Steps per timed repetition.")
  var steps = 100_000

  @Option(help: "Timed repetitions (the median is reported).")
  var repetitions = 7

  func validate() throws {
    if steps < 1 { throw ValidationError("--steps must be at least 1") }
    if repetitions < 1 { throw ValidationError("--repetitions must be at least 1") }
  }

  func run() throws {
    print("workload                         median ns/step     min     max   allocs/step")
    for workload in try regressionStep() + classificationStep() {
      let r = try measure(workload.step)
      let allocs = r.allocations.map { String(format3($0)) } ?? "n/a"
      print(pad(workload.name, 32), pad(format1(r.median), 15, left: true), pad(format1(r.min), 7, left: true),
        pad(format1(r.max), 7, left: true), pad(allocs, 13, left: true))
    }
  }

  struct Workload {
    var name: String
    var step: () throws -> Void
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
    let feeds = [x: NDArray([Float(1.0)]), y: NDArray([Float(10)])]
    let prepared = try session.prepare(feeds: [x, y], targets: [train])
    try prepared.setFeed(0, to: feeds[x]!)
    try prepared.setFeed(1, to: feeds[y]!)
    return [
      Workload(name: "regression step (Session.run)") { try session.run(train, feeding: feeds) },
      Workload(name: "regression step (prepared)") { try prepared.run() },
    ]
  }

  func classificationStep() throws -> [Workload] {
    let graph = Graph()
    let x = graph.placeholder(shape: [1])
    let y = graph.placeholder(shape: [1])
    let a = try graph.variable(randomNormal(graph, shape: [1], mean: 10, seed: 1))
    let loss = try sigmoidCrossEntropy(logits: expandDims(x + a, axis: 0), labels: expandDims(y, axis: 0))
    let train = try GradientDescentOptimizer(learningRate: 0.05).minimize(loss)
    let session = Session(graph: graph)
    try session.initializeVariables()
    let feeds = [x: NDArray([Float(1.0)]), y: NDArray([Float(1)])]
    let prepared = try session.prepare(feeds: [x, y], targets: [train])
    try prepared.setFeed(0, to: feeds[x]!)
    try prepared.setFeed(1, to: feeds[y]!)
    return [
      Workload(name: "classification step (Session.run)") { try session.run(train, feeding: feeds) },
      Workload(name: "classification step (prepared)") { try prepared.run() },
    ]
  }

  struct Result {
    var median: Double
    var min: Double
    var max: Double
    var allocations: Double?
  }

  func measure(_ step: () throws -> Void) throws -> Result {
    for _ in 0..<Swift.min(steps, 1000) { try step() }  // warm up: plans built, buffers sized
    var times: [Double] = []
    var allocs: [Double] = []
    let clock = ContinuousClock()
    for _ in 0..<repetitions {
      let a0 = backprop_allocation_count()
      let t0 = clock.now
      for _ in 0..<steps { try step() }
      let elapsed = clock.now - t0
      let a1 = backprop_allocation_count()
      let ns = Double(elapsed.components.seconds) * 1e9 + Double(elapsed.components.attoseconds) / 1e9
      times.append(ns / Double(steps))
      if a0 >= 0 { allocs.append(Double(a1 - a0) / Double(steps)) }
    }
    times.sort()
    return Result(
      median: times[times.count / 2], min: times.first!, max: times.last!,
      allocations: allocs.isEmpty ? nil : allocs.sorted()[allocs.count / 2])
  }
}

func format1(_ x: Double) -> String { String(Double(Int((x * 10).rounded())) / 10) }
func format3(_ x: Double) -> String { String(Double(Int((x * 1000).rounded())) / 1000) }
func pad(_ s: String, _ width: Int, left: Bool = false) -> String {
  let fill = String(repeating: " ", count: Swift.max(0, width - s.count))
  return left ? fill + s : s + fill
}
