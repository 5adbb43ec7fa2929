import ArrayCore
import GraphCore
import Training

extension NotebookRecipe {
  /// Runs the recipe in eager style (`backprop regression --eager`): the same model closure,
  /// loss and data, but no graph and no session. Each step records the batch's loss on a
  /// ``GraphCore/GradientTape``, takes its gradient with respect to the model's variables (kept in
  /// ``GraphCore/EagerVariables``, created on the first step) and applies gradient descent
  /// through ``Training/EagerOptimizer``. The kernels, gradient definitions and update are the
  /// graph run's, so the printed lines and the report equal ``run(output:onStep:hooks:)``'s for
  /// the same configuration, bit for bit (`Tests/RecipesTests/EagerRecipeTests.swift`).
  /// `hooks` restore the variables before the first step (resuming after `k` steps with the
  /// same sample order) and save them after the last, as the graph run's do.
  /// - Throws: as ``run(output:onStep:hooks:)``.
  public func runEagerly(
    output: (String) -> Void = { print($0) }, onStep: (TrainingStep) -> Void = { _ in },
    hooks: EagerTrainingHooks = EagerTrainingHooks()
  ) throws -> TrainingReport {
    // `checkNumerics`: every eager operation's result is checked, as the graph run's session
    // checks every kernel's.
    try withNumericChecks(configuration.checkNumerics) { try trainEagerly(output: output, onStep: onStep, hooks: hooks) }
  }

  /// ``runEagerly(output:onStep:hooks:)``'s loop.
  private func trainEagerly(
    output: (String) -> Void, onStep: (TrainingStep) -> Void, hooks: EagerTrainingHooks
  ) throws -> TrainingReport {
    let c = configuration
    let data = try checkedData()
    var rng = data.rng
    let (xVals, yVals) = (data.inputs, data.targets)
    let variables = EagerVariables()
    let optimizer = EagerOptimizer(try GradientDescentOptimizer(learningRate: c.learningRate))
    func forward(_ inputs: NDArray) throws -> Tensor { try variables.use { try model(Tensor(inputs), c.seed) } }
    func loss(_ inputs: NDArray, _ targets: NDArray) throws -> Tensor { try c.loss.build(forward(inputs), Tensor(targets)) }

    // The model creates its variables on its first call, from their seeded initial values: made
    // before the first step (no sample drawn), so that a checkpoint can be restored into them.
    _ = try forward(NDArray((0..<c.batchSize).map { xVals[$0 % xVals.count] }))
    let start = try hooks.willStart(variables.graph)
    var report = try resumedReport(after: start, inputs: xVals, targets: yVals, rng: &rng)
    for i in start..<c.steps {
      let batch = (0..<c.batchSize).map { _ in rng.choice(xVals.count) }
      let (inputs, targets) = (NDArray(batch.map { xVals[$0] }), NDArray(batch.map { yVals[$0] }))
      let tape = GradientTape()
      let lossBefore = try tape.record { try loss(inputs, targets) }
      let parameters = variables.trainable
      if i == start { report.parameterNames = Self.parameterNames(parameters) }
      try optimizer.update(parameters, along: try tape.gradient(of: lossBefore, withRespectTo: parameters))
      let values = try parameters.map { try $0.value }
      let lossValue = mean(try lossBefore.value)
      let named = zip(report.parameterNames, values.flatMap(\.doubles)).map { NamedValue($0, $1) }
      report.losses.append(lossValue)
      report.parameterHistory.append(named.map(\.value))
      onStep(TrainingStep(step: i + 1, totalSteps: c.steps, loss: lossValue, parameters: named))
      try hooks.didStep(i + 1, parameters) { try loss(inputs, targets) }
      if (i + 1) % c.printEvery == 0 {
        output("Step #\(i + 1) " + zip(parameters, values).map { "\($0.operation.name) = \($1)" }.joined(separator: " "))
        output("Loss = \(try loss(inputs, targets).value)")
      }
    }
    try hooks.didFinish(variables.graph, c.steps)
    if let path = c.modelPath {
      // A model directory holds a graph: the graph run's (the same model closure, built
      // symbolically), holding the trained values, so the directory is the graph run's.
      // (Every variable is set: a restore requires the file to hold exactly the graph's.)
      try saveModel(to: path) { session in
        try Checkpoint.restore(session: session, from: Checkpoint.contents(variablesOf: variables.graph), source: "the eager run's variables")
      }
    }
    if report.parameterNames.isEmpty { report.parameterNames = Self.parameterNames(variables.trainable) }
    let finalValues = try variables.trainable.flatMap { try $0.value.doubles }
    report.finalParameters = zip(report.parameterNames, finalValues).map { NamedValue($0, $1) }
    if let probability = c.loss.probability {
      // The graph run evaluates in batches of `batchSize`; elementwise models give the same values.
      let predicted = try xVals.map { x in try round(probability(forward(NDArray([x])))).value.scalarValue }
      let correct = zip(predicted, yVals).filter { $0 == Double($1) }.count
      report.accuracy = Double(correct) / Double(xVals.count)
      let finite = xVals.filter(\.isFinite).map(Double.init)
      let (lo, hi) = ((finite.min() ?? -4) - 0.5, (finite.max() ?? 6) + 0.5)
      let xs = (0..<Self.curvePoints).map { lo + (hi - lo) * Double($0) / Double(Self.curvePoints - 1) }
      report.probabilityCurve = (xs, try xs.map { try probability(forward(NDArray([Float($0)]))).value.scalarValue })
      output("Ending Accuracy = \(((report.accuracy ?? .nan) * 100).rounded() / 100)")
    }
    return report
  }

  /// `A`, or `W[0]`, `W[1]`... for a parameter of several elements.
  static func parameterNames(_ parameters: [Tensor]) -> [String] {
    parameters.flatMap { p in
      let name = p.operation.name
      let count = p.shape.concrete?.elementCount ?? 1
      return count == 1 ? [name] : (0..<count).map { "\(name)[\($0)]" }
    }
  }
}

/// Points where a caller joins an eager run (``NotebookRecipe/runEagerly(output:onStep:hooks:)``),
/// as ``TrainingHooks`` join a graph run: each gets the eager graph of the model's variables
/// (``GraphCore/Checkpoint/restore(variablesOf:from:)`` and
/// ``GraphCore/Checkpoint/save(variablesOf:to:metadata:)`` read and write it).
public struct EagerTrainingHooks {
  /// Called once the variables exist, before any step: returns how many steps were already done
  /// (after restoring a checkpoint), so the run continues with step `k + 1` and the same sample
  /// order; `0` starts afresh.
  public var willStart: (Graph) throws -> Int
  /// Called after the last step with the variables' graph and the number of steps done.
  public var didFinish: (Graph, Int) throws -> Void
  /// Called after each step with the step number, the model's trainable variables and the
  /// step's loss, computed again on the current variables when called (record it on a
  /// ``GraphCore/GradientTape`` for its gradients: TensorBoard logs read them here, as the graph
  /// run's ``TrainingHooks/didStep`` does); nothing by default.
  public var didStep: (Int, [Tensor], () throws -> Tensor) throws -> Void = { _, _, _ in }

  /// Creates hooks; the defaults start afresh and do nothing at the end.
  public init(willStart: @escaping (Graph) throws -> Int = { _ in 0 }, didFinish: @escaping (Graph, Int) throws -> Void = { _, _ in }) {
    self.willStart = willStart
    self.didFinish = didFinish
  }
}
