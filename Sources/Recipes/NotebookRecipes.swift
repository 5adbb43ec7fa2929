import ArrayCore
import GraphCore
import Training

/// What a recipe run produced: the per-step history (for plots and tests) and final figures.
public struct TrainingReport: Sendable {
  /// The number of the step `losses[0]` belongs to: 1, or `k + 1` for a run resumed after
  /// `k` steps.
  public var firstStep = 1
  /// The loss of the sampled example at each step, computed in the training run itself
  /// (before that step's update).
  public var losses: [Double] = []
  /// The model parameter `A` after each step.
  public var parameter: [Double] = []
  /// The final value of `A`.
  public var finalParameter: Double = .nan
  /// The final accuracy on the whole data set, for classification.
  public var accuracy: Double?
  /// The data the model was trained on: inputs and targets.
  public var inputs: [Double] = []
  /// The targets.
  public var targets: [Double] = []
  /// Creates an empty report.
  public init() {}
}

/// One finished training step, as reported to a recipe's `onStep` observer.
public struct TrainingStep: Sendable {
  /// The step number, from 1.
  public var step: Int
  /// The total number of steps of the run.
  public var totalSteps: Int
  /// The loss of the step's sample, before the step's update.
  public var loss: Double
  /// The parameter `A` after the step's update.
  public var parameter: Double
}

/// Points where a caller joins a recipe's run: to restore state before the first step and to
/// save it after the last (checkpoints).
public struct TrainingHooks {
  /// Called once the session's variables are initialized, before any step: returns how many
  /// steps were already done (after restoring a checkpoint), so the run continues with step
  /// `k + 1` and the same sample order; `0` starts afresh.
  public var willStart: (Session) throws -> Int
  /// Called after the last step with the session and the number of steps done.
  public var didFinish: (Session, Int) throws -> Void
  /// Called after each step with the session, the step number, the step's feeds and the loss
  /// tensor (TensorBoard logs read variables and compute gradients here); nothing by default.
  public var didStep: (Session, Int, [Tensor: NDArray], Tensor) throws -> Void = { _, _, _, _ in }

  /// Creates hooks; the defaults start afresh and do nothing at the end.
  public init(
    willStart: @escaping (Session) throws -> Int = { _ in 0 },
    didFinish: @escaping (Session, Int) throws -> Void = { _, _ in }
  ) {
    self.willStart = willStart
    self.didFinish = didFinish
  }
}

/// An invalid request to a recipe run.
public struct RecipeError: Error, Sendable, CustomStringConvertible {
  /// What is wrong.
  public var description: String
  /// Creates an error.
  public init(_ description: String) { self.description = description }
}

/// The loss of the regression recipe.
public enum RegressionLoss: String, Sendable, CaseIterable {
  /// `(x·A - y)²` (`tf.square`), as in the notebook.
  case l2
  /// `|x·A - y|` (`tf.abs`), the alternative the notebook names.
  case l1
}

/// The graph of the notebook's regression recipe: `loss = (x·A − y)²` (or `|x·A − y|`) with a
/// gradient-descent step that updates `A`.
public struct RegressionModel {
  /// The graph holding everything below.
  public let graph: Graph
  /// The input placeholder, shape `[1]`.
  public let x: Tensor
  /// The target placeholder, shape `[1]`.
  public let y: Tensor
  /// The variable `A`, shape `[1]`, initialized from N(0, 1) with seed `seed + 1`.
  public let a: Tensor
  /// The loss of one sample, shape `[1]`.
  public let loss: Tensor
  /// One gradient-descent step on `A`.
  public let train: Operation

  /// Builds the graph for the given settings (seed, learning rate, loss).
  /// - Throws: ``GraphError`` for invalid settings (a non-positive learning rate).
  public init(_ c: RegressionRecipe.Configuration) throws {
    graph = Graph()
    x = graph.placeholder(.float32, shape: [1], name: "x_data")
    y = graph.placeholder(.float32, shape: [1], name: "y_target")
    a = try graph.variable(randomNormal(graph, shape: [1], seed: c.seed &+ 1), name: "A")
    let prediction = try multiply(x, a)
    loss = c.loss == .l2 ? try square(prediction - y) : try abs(prediction - y)
    train = try GradientDescentOptimizer(learningRate: c.learningRate).minimize(loss)
  }
}

/// The notebook's regression recipe: fit `x · A = 10` with x ~ N(1, 0.1), one sample per step.
public struct RegressionRecipe: Sendable {
  /// Settings of a run.
  public struct Configuration: Sendable {
    /// Seeds the data, the initial value of A and the sample order.
    public var seed: UInt64 = 42
    /// Training steps (the notebook: 100).
    public var steps = 100
    /// The gradient-descent learning rate (the notebook: 0.02).
    public var learningRate = 0.02
    /// Print A and the loss every this many steps (the notebook: 25).
    public var printEvery = 25
    /// The loss (the notebook: L2).
    public var loss = RegressionLoss.l2
    /// Stop at the first operation that produces NaN or infinity (``Session/Options/checkNumerics``).
    public var checkNumerics = false
    /// Creates the notebook's settings.
    public init() {}
  }

  /// The settings.
  public var configuration: Configuration
  /// Creates the recipe.
  public init(_ configuration: Configuration = Configuration()) { self.configuration = configuration }

  /// The data set: 100 inputs drawn from N(1, 0.1) with `rng`, and targets all 10.
  public static func makeData(_ rng: inout SeededGenerator) -> (inputs: [Float], targets: [Float]) {
    let xVals = (0..<100).map { _ in Float(rng.normal(mean: 1, standardDeviation: 0.1)) }
    return (xVals, [Float](repeating: 10, count: 100))
  }

  /// Runs the recipe, writing the notebook's lines (`Step #25 A = [5.407349]`,
  /// `Loss = [26.1222]`) to `output` and reporting each finished step to `onStep`; `hooks`
  /// can restore state before the first step (resuming after `k` steps with the same sample
  /// order) and save it after the last.
  /// - Throws: ``GraphError`` or ``SessionError`` (for invalid settings, such as a
  ///   non-positive learning rate), ``RecipeError`` when `hooks` resumes past the last step,
  ///   and what the hooks throw.
  public func run(
    output: (String) -> Void = { print($0) }, onStep: (TrainingStep) -> Void = { _ in },
    hooks: TrainingHooks = TrainingHooks()
  ) throws -> TrainingReport {
    let c = configuration
    var rng = SeededGenerator(seed: c.seed)
    let (xVals, yVals) = Self.makeData(&rng)
    let model = try RegressionModel(c)
    let (x, y, a, loss, train) = (model.x, model.y, model.a, model.loss, model.train)

    let (session, partial) = try trainOneSamplePerStep(
      x: x, y: y, a: a, loss: loss, train: train, inputs: xVals, targets: yVals, rng: &rng,
      steps: c.steps, printEvery: c.printEvery, checkNumerics: c.checkNumerics, hooks: hooks,
      output: output, onStep: onStep)
    var report = partial
    report.finalParameter = try session.value(of: a).scalarValue
    return report
  }
}

/// The graph of the notebook's classification recipe: `loss = σ-cross-entropy(x + A, y)`,
/// a gradient-descent step on `A`, and the prediction `round(σ(x + A))`.
public struct ClassificationModel {
  /// The graph holding everything below.
  public let graph: Graph
  /// The input placeholder, shape `[1]`.
  public let x: Tensor
  /// The label placeholder (0 or 1), shape `[1]`.
  public let y: Tensor
  /// The variable `A`, shape `[1]`, initialized from N(10, 1) with seed `seed + 1`.
  public let a: Tensor
  /// The loss of one sample, shape `[1, 1]`.
  public let loss: Tensor
  /// One gradient-descent step on `A`.
  public let train: Operation
  /// The predicted class, `round(σ(x + A))`, shape `[1]`.
  public let prediction: Tensor

  /// Builds the graph for the given settings (seed, learning rate).
  /// - Throws: ``GraphError`` for invalid settings (a non-positive learning rate).
  public init(_ c: ClassificationRecipe.Configuration) throws {
    graph = Graph()
    x = graph.placeholder(.float32, shape: [1], name: "x_data")
    y = graph.placeholder(.float32, shape: [1], name: "y_target")
    a = try graph.variable(randomNormal(graph, shape: [1], mean: 10, seed: c.seed &+ 1), name: "A")
    let logits = try add(x, a)
    let logitsExpanded = try expandDims(logits, axis: 0)
    let labelsExpanded = try expandDims(y, axis: 0)
    loss = try sigmoidCrossEntropyWithLogits(logits: logitsExpanded, labels: labelsExpanded)
    train = try GradientDescentOptimizer(learningRate: c.learningRate).minimize(loss)
    prediction = try round(sigmoid(logits))
  }
}

/// The notebook's classification recipe: learn `A` in `sigmoid(x + A)` to separate
/// N(-1, 1) (class 0) from N(3, 1) (class 1), with sigmoid cross-entropy, one sample per step.
public struct ClassificationRecipe: Sendable {
  /// Settings of a run.
  public struct Configuration: Sendable {
    /// Seeds the data, the initial value of A and the sample order.
    public var seed: UInt64 = 42
    /// Training steps (the notebook: 1400).
    public var steps = 1400
    /// The gradient-descent learning rate (the notebook: 0.05).
    public var learningRate = 0.05
    /// Print A and the loss every this many steps (the notebook: 200).
    public var printEvery = 200
    /// Stop at the first operation that produces NaN or infinity (``Session/Options/checkNumerics``).
    public var checkNumerics = false
    /// Creates the notebook's settings.
    public init() {}
  }

  /// The settings.
  public var configuration: Configuration
  /// Creates the recipe.
  public init(_ configuration: Configuration = Configuration()) { self.configuration = configuration }

  /// The data set: 50 inputs from N(-1, 1) labelled 0, then 50 from N(3, 1) labelled 1,
  /// drawn with `rng`.
  public static func makeData(_ rng: inout SeededGenerator) -> (inputs: [Float], targets: [Float]) {
    let xVals = (0..<50).map { _ in Float(rng.normal(mean: -1, standardDeviation: 1)) }
      + (0..<50).map { _ in Float(rng.normal(mean: 3, standardDeviation: 1)) }
    return (xVals, [Float](repeating: 0, count: 50) + [Float](repeating: 1, count: 50))
  }

  /// Runs the recipe, writing the notebook's lines (`Step #200 A = [4.988841]`,
  /// `Loss = [[9.619727e-05]]`, `Ending Accuracy = 0.98`) to `output` and reporting each
  /// finished step to `onStep`; `hooks` can restore state before the first step (resuming
  /// after `k` steps with the same sample order) and save it after the last.
  /// - Throws: ``GraphError`` or ``SessionError``, ``RecipeError`` when `hooks` resumes past
  ///   the last step, and what the hooks throw.
  public func run(
    output: (String) -> Void = { print($0) }, onStep: (TrainingStep) -> Void = { _ in },
    hooks: TrainingHooks = TrainingHooks()
  ) throws -> TrainingReport {
    let c = configuration
    var rng = SeededGenerator(seed: c.seed)
    let (xVals, yVals) = Self.makeData(&rng)
    let model = try ClassificationModel(c)
    let (x, y, a, loss, train, prediction) = (model.x, model.y, model.a, model.loss, model.train, model.prediction)

    let (session, partial) = try trainOneSamplePerStep(
      x: x, y: y, a: a, loss: loss, train: train, inputs: xVals, targets: yVals, rng: &rng,
      steps: c.steps, printEvery: c.printEvery, checkNumerics: c.checkNumerics, hooks: hooks,
      output: output, onStep: onStep)
    var report = partial
    var correct = 0
    for (xv, yv) in zip(xVals, yVals) {
      let p = try session.run(prediction, feeding: [x: NDArray([xv])]).scalarValue
      if p == Double(yv) { correct += 1 }
    }
    let accuracy = Double(correct) / 100
    report.accuracy = accuracy
    report.finalParameter = try session.value(of: a).scalarValue
    output("Ending Accuracy = \((accuracy * 100).rounded() / 100)")
    return report
  }
}

/// The notebook's training loop, shared by both recipes: one randomly chosen sample per step
/// (`np.random.choice(100)`), one run of the training operation that also fetches the loss
/// before the update, and every `printEvery` steps the notebook's two lines (`A`, then the loss
/// of the same sample after the update). `hooks` may resume after `k` steps: the sample order
/// then continues as in an uninterrupted run.
/// - Returns: the session (for the caller's evaluation) and the report of the steps run.
func trainOneSamplePerStep(
  x: Tensor, y: Tensor, a: Tensor, loss: Tensor, train: Operation, inputs xVals: [Float],
  targets yVals: [Float], rng: inout SeededGenerator, steps: Int, printEvery: Int,
  checkNumerics: Bool, hooks: TrainingHooks, output: (String) -> Void,
  onStep: (TrainingStep) -> Void
) throws -> (Session, TrainingReport) {
  let session = Session(graph: x.graph, options: Session.Options(checkNumerics: checkNumerics))
  try session.initializeVariables()
  let start = try hooks.willStart(session)
  guard (0...steps).contains(start) else {
    throw RecipeError("cannot resume after step \(start): the run has only \(steps) steps (--steps is the total)")
  }
  for _ in 0..<start { _ = rng.choice(xVals.count) }  // the samples of the steps already done
  var report = TrainingReport()
  report.firstStep = start + 1
  report.inputs = xVals.map(Double.init)
  report.targets = yVals.map(Double.init)
  for i in start..<steps {
    let index = rng.choice(xVals.count)
    let feeds = [x: NDArray([xVals[index]]), y: NDArray([yVals[index]])]
    let lossBefore = try session.run([loss], feeding: feeds, targets: [train])[0]
    let aValue = try session.value(of: a)
    report.losses.append(lossBefore.scalarValue)
    report.parameter.append(aValue.scalarValue)
    onStep(TrainingStep(step: i + 1, totalSteps: steps, loss: lossBefore.scalarValue, parameter: aValue.scalarValue))
    try hooks.didStep(session, i + 1, feeds, loss)
    if (i + 1) % printEvery == 0 {
      output("Step #\(i + 1) A = \(aValue)")
      output("Loss = \(try session.run(loss, feeding: feeds))")
    }
  }
  try hooks.didFinish(session, steps)
  return (session, report)
}
