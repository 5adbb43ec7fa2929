import Backprop
import GraphCore
import Recipes

// The notebook's steps written eagerly (issue 16), timed like the peers' eager rows: each step
// takes the next sample of a precomputed array, computes the loss and its gradient with
// `valueWithGradient`, and updates A with the optimizer (eager); or calls one compiled function
// that does all of it (compiled, TF2's tf.function).

extension BenchCommand {
  func eagerSteps() throws -> [Workload] {
    var rng = SeededGenerator(seed: 5)
    let xr = (0..<1024).map { _ in NDArray([Float(rng.normal(mean: 1, standardDeviation: 0.1))]) }
    let xc = (0..<1024).map { i in NDArray([Float(rng.normal(mean: i % 2 == 0 ? -1 : 3, standardDeviation: 1))]) }
    let yc = (0..<1024).map { i in NDArray([Float(i % 2)]) }
    let ten = NDArray([Float(10)])
    let state = EagerBenchState()

    func regressionLoss(_ x: Tensor, _ y: Tensor, _ a: Tensor) throws -> Tensor { try square(x * a - y) }
    func classificationLoss(_ x: Tensor, _ y: Tensor, _ a: Tensor) throws -> Tensor {
      try sigmoidCrossEntropyWithLogits(logits: expandDims(x + a, axis: 0), labels: expandDims(y, axis: 0))
    }
    let sgdRegression = EagerOptimizer(try GradientDescentOptimizer(learningRate: 0.02))
    let sgdClassification = EagerOptimizer(try GradientDescentOptimizer(learningRate: 0.05))
    let compiledRegression = compile { i in
      let (_, g) = try valueWithGradient(at: [i[2]]) { p in try regressionLoss(i[0], i[1], p[0]) }
      return [try i[2] - 0.02 * g[0]]
    }
    let compiledClassification = compile { i in
      let (_, g) = try valueWithGradient(at: [i[2]]) { p in try classificationLoss(i[0], i[1], p[0]) }
      return [try i[2] - 0.05 * g[0]]
    }
    let one = NDArray([Float(1)])
    return [
      // The cost of one eager operation: 16 additions of one element recorded on a new tape.
      Workload(name: "eager overhead, 16 additions on a tape") {
        let tape = GradientTape()
        let x = tape.watch(one)
        var z = x
        for _ in 0..<16 { z = try z + x }
      },
      Workload(name: "regression step, eager") {
        let x = Tensor(xr[state.next()])
        let (_, g) = try valueWithGradient(at: state.a) { p in try regressionLoss(x, Tensor(ten), p[0]) }
        try sgdRegression.update(&state.a, along: g)
      },
      // The same step with every gradient built on its tape (what the backward cache saves).
      Workload(name: "regression step, eager without backward cache") {
        let x = Tensor(xr[state.next()])
        try BackwardCache.withoutCache {
          let (_, g) = try valueWithGradient(at: state.a) { p in try regressionLoss(x, Tensor(ten), p[0]) }
          try sgdRegression.update(&state.a, along: g)
        }
      },
      Workload(name: "regression step, eager compiled") {
        state.a = try compiledRegression([xr[state.next()], ten, state.a[0]])
      },
      Workload(name: "classification step, eager") {
        let i = state.next()
        let (x, y) = (Tensor(xc[i]), Tensor(yc[i]))
        let (_, g) = try valueWithGradient(at: state.b) { p in try classificationLoss(x, y, p[0]) }
        try sgdClassification.update(&state.b, along: g)
      },
      Workload(name: "classification step, eager compiled") {
        let i = state.next()
        state.b = try compiledClassification([xc[i], yc[i], state.b[0]])
      },
    ]
  }
}

/// The parameters and the sample counter of the eager steps. Only the timed closures touch them,
/// one at a time: no run-time exclusivity check (a user's parameters in a local variable have
/// none; here the class property's read and write around a call cost about 60 instructions of
/// the compiled step's 1650).
final class EagerBenchState {
  @exclusivity(unchecked) var a = [NDArray([Float(0.5)])]
  @exclusivity(unchecked) var b = [NDArray([Float(10)])]
  @exclusivity(unchecked) private var i = 0
  func next() -> Int {
    i &+= 1
    return i & 1023
  }
}

extension BenchCommand {
  /// The digits MLP trained eagerly, as `Examples/EagerDigits` writes it (the recipe's data,
  /// split, standardization, layer seeds and Adam at 1e-3; a tape per batch): the time of each
  /// epoch's training steps in milliseconds, over every epoch after the first, and the final test
  /// accuracy. The graph's row is "digits MLP epoch, 64-128-10, batch 32".
  func measureEagerDigits(name: String, hidden: [Int], batchSize: Int) throws -> BenchResult {
    let c = DigitsRecipe.Configuration()
    let table = try DigitsRecipe.loadTable(path: nil)
    let (rawTrain, rawTest) = try table.dataset().split(testFraction: c.testFraction, seed: c.splitSeed)
    let standardizer = try Standardizer(fitting: rawTrain.features)
    let (train, test) = (try standardizer.transform(rawTrain), try standardizer.transform(rawTest))
    let parameters = Graph.eager()
    let sizes = [64] + hidden + [10]
    var layers: [any Layer] = []
    for i in 1..<sizes.count {
      layers.append(
        try Dense(
          graph: parameters, inputSize: sizes[i - 1], units: sizes[i], activation: i == sizes.count - 1 ? .linear : .relu,
          seed: c.seed &+ UInt64(2 * i), name: "layer\(i)"))
    }
    let model = Sequential(layers)
    let optimizer = EagerOptimizer(try AdamOptimizer(learningRate: .constant(c.learningRate)))
    let clock = ContinuousClock()
    var ms: [Double] = []
    for epoch in 0..<Swift.max(digitsEpochs, 2) {
      let start = clock.now
      for (x, y) in try train.epoch(epoch, batchSize: batchSize, seed: c.seed &+ 1) {
        let tape = GradientTape()
        let loss = try tape.record { try sparseSoftmaxCrossEntropy(logits: model(Tensor(x)), labels: Tensor(y)) }
        try optimizer.update(model.variables, along: try tape.gradient(of: loss, withRespectTo: model.variables))
      }
      let elapsed = clock.now - start
      if epoch > 0 { ms.append(Double(elapsed.components.seconds) * 1e3 + Double(elapsed.components.attoseconds) / 1e15) }
    }
    let predicted = try argMax(model(Tensor(test.features)), axis: 1).value.scalars(as: Int32.self)
    let accuracy = Double(zip(predicted, test.labels.scalars(as: Int32.self)).filter { $0 == $1 }.count) / Double(test.count)
    ms.sort()
    return BenchResult(
      workload: name + " (test accuracy \(format(4, accuracy)))", metric: "time per epoch", unit: "ms",
      median: ms[ms.count / 2], min: ms.first!, max: ms.last!, allocations: nil)
  }
}
