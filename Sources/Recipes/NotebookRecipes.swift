import ArrayCore
import GraphCore
import Training

/// A named number: a model parameter's name and its value.
public struct NamedValue: Sendable, Equatable {
  /// The name (`A`, or `W[2]` for element 2 of a parameter `W` of several elements).
  public var name: String
  /// The value.
  public var value: Double
  /// Creates a named value.
  public init(_ name: String, _ value: Double) {
    self.name = name
    self.value = value
  }
}

/// What a recipe run produced: the per-step history (for plots and tests) and final figures.
public struct TrainingReport: Sendable {
  /// The number of the step `losses[0]` belongs to: 1, or `k + 1` for a run resumed after
  /// `k` steps.
  public var firstStep = 1
  /// The loss of the step's samples at each step (their mean for a batch of several), computed
  /// in the training run itself (before that step's update).
  public var losses: [Double] = []
  /// The names of the model's parameters, one per element (``NamedValue/name``), in the order
  /// of each entry of ``parameterHistory``.
  public var parameterNames: [String] = []
  /// The parameters' values after each step: `parameterHistory[i][k]` is parameter
  /// `parameterNames[k]` after step `firstStep + i`.
  public var parameterHistory: [[Double]] = []
  /// The parameters' final values.
  public var finalParameters: [NamedValue] = []
  /// The final accuracy on the whole data set, for a recipe whose loss predicts classes.
  public var accuracy: Double?
  /// The data the model was trained on: inputs and targets.
  public var inputs: [Double] = []
  /// The targets.
  public var targets: [Double] = []
  /// For a classifier: its probability of class 1 over a grid of inputs spanning the data
  /// (``NotebookRecipe/curvePoints`` points), computed by the trained model.
  public var probabilityCurve: (inputs: [Double], probabilities: [Double])?
  /// Creates an empty report.
  public init() {}

  /// The value of parameter `name` after each step (empty for an unknown name).
  public func history(of name: String) -> [Double] {
    guard let k = parameterNames.firstIndex(of: name) else { return [] }
    return parameterHistory.map { k < $0.count ? $0[k] : .nan }
  }

  /// The final value of parameter `name`, or NaN for an unknown name.
  public func finalValue(of name: String) -> Double {
    finalParameters.first { $0.name == name }?.value ?? .nan
  }
}

/// One finished training step, as reported to a recipe's `onStep` observer.
public struct TrainingStep: Sendable {
  /// The step number, from 1.
  public var step: Int
  /// The total number of steps of the run.
  public var totalSteps: Int
  /// The loss of the step's samples, before the step's update.
  public var loss: Double
  /// The model's parameters after the step's update (empty when a recipe does not report them).
  public var parameters: [NamedValue]
  /// Creates a step's record.
  public init(step: Int, totalSteps: Int, loss: Double, parameters: [NamedValue] = []) {
    self.step = step
    self.totalSteps = totalSteps
    self.loss = loss
    self.parameters = parameters
  }
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

/// A recipe's data set: drawn from a seeded generator, one input and one target per sample.
public struct RecipeData: Sendable {
  /// What the data is, for titles (`x ~ N(1, 0.1), y = 10`).
  public var summary: String
  /// Draws the inputs and targets with the generator.
  public var generate: @Sendable (inout SeededGenerator) -> (inputs: [Float], targets: [Float])

  /// Creates a data set from its generator.
  public init(summary: String, generate: @escaping @Sendable (inout SeededGenerator) -> (inputs: [Float], targets: [Float])) {
    self.summary = summary
    self.generate = generate
  }

  /// The notebook's regression data: 100 inputs drawn from N(1, 0.1), targets all 10.
  public static let regression = RecipeData(summary: "x ~ N(1, 0.1), y = 10") { rng in
    let xVals = (0..<100).map { _ in Float(rng.normal(mean: 1, standardDeviation: 0.1)) }
    return (xVals, [Float](repeating: 10, count: 100))
  }

  /// The notebook's classification data: 50 inputs from N(-1, 1) labelled 0, then 50 from
  /// N(3, 1) labelled 1.
  public static let classification = RecipeData(summary: "class 0: N(-1, 1), class 1: N(3, 1)") { rng in
    let xVals = (0..<50).map { _ in Float(rng.normal(mean: -1, standardDeviation: 1)) }
      + (0..<50).map { _ in Float(rng.normal(mean: 3, standardDeviation: 1)) }
    return (xVals, [Float](repeating: 0, count: 50) + [Float](repeating: 1, count: 50))
  }
}

/// A recipe's loss: the graph of the loss of a batch from the model's output and the targets,
/// and, for a classifier, the probability of class 1 that the output means.
public struct RecipeLoss: Sendable {
  /// The loss's name, for titles (`L2`).
  public var name: String
  /// Builds the loss from the model's output and the target placeholder.
  public var build: @Sendable (_ output: Tensor, _ target: Tensor) throws -> Tensor
  /// For a classifier: builds the probability of class 1 from the model's output (the
  /// predicted class is that probability rounded); `nil` for a regression.
  public var probability: (@Sendable (_ output: Tensor) throws -> Tensor)?

  /// Creates a loss.
  public init(
    name: String, build: @escaping @Sendable (_ output: Tensor, _ target: Tensor) throws -> Tensor,
    probability: (@Sendable (_ output: Tensor) throws -> Tensor)? = nil
  ) {
    self.name = name
    self.build = build
    self.probability = probability
  }

  /// The squared error `(output − y)²` (`tf.square`), as in the notebook's regression.
  public static let l2 = RecipeLoss(name: "L2") { output, y in try square(output - y) }
  /// The absolute error `|output − y|` (`tf.abs`), the alternative the notebook names.
  public static let l1 = RecipeLoss(name: "L1") { output, y in try abs(output - y) }
  /// The sigmoid cross-entropy of logits and 0/1 labels, both given a leading axis of 1 (as the
  /// notebook's classification, whose loss has shape `[1, 1]`); the probability is `σ(output)`.
  public static let sigmoidCrossEntropy = RecipeLoss(
    name: "sigmoid cross-entropy",
    build: { logits, y in
      try sigmoidCrossEntropyWithLogits(logits: expandDims(logits, axis: 0), labels: expandDims(y, axis: 0))
    },
    probability: { logits in try sigmoid(logits) })
}

/// The graph of a notebook recipe, built by ``NotebookRecipe/makeModel(anyBatchSize:)``:
/// placeholders for a batch of inputs and targets, the model's output and parameters, the loss
/// and one gradient-descent step.
public struct NotebookModel {
  /// The graph holding everything below.
  public let graph: Graph
  /// The input placeholder `x_data`, shape `[batchSize]` (`[nil]` for any batch size).
  public let x: Tensor
  /// The target placeholder `y_target`, shape `[batchSize]` (`[nil]` for any batch size).
  public let y: Tensor
  /// The model's output for `x`.
  public let output: Tensor
  /// The trainable variables the model created, in creation order.
  public let parameters: [Tensor]
  /// The loss of the batch.
  public let loss: Tensor
  /// One gradient-descent step on the parameters.
  public let train: Operation
  /// For a classifier: the predicted class, the probability of class 1 rounded.
  public let prediction: Tensor?
  /// For a classifier: the probability of class 1.
  public let probability: Tensor?
}

/// One of the notebook's training recipes, as data: a model closure that builds the output of
/// a batch of inputs (creating its parameters), and a ``Configuration`` with everything else
/// (data, loss, learning rate, steps, batch size, seed). ``regression(_:)`` and
/// ``classification(_:)`` are the notebook's two; a new recipe is a new closure and
/// configuration, not a new type.
///
/// ```swift
/// var c = NotebookRecipe.Configuration.regression
/// c.steps = 300
/// let report = try NotebookRecipe.regression(c).run()
/// print(report.finalValue(of: "A"))
/// ```
public struct NotebookRecipe: Sendable {
  /// Builds the model's output from the input placeholder, creating its parameters (trainable
  /// variables) with the given seed.
  public typealias Model = @Sendable (_ x: Tensor, _ seed: UInt64) throws -> Tensor

  /// Settings of a run.
  public struct Configuration: Sendable {
    /// Seeds the data, the initial parameters (with `seed + 1`) and the sample order.
    public var seed: UInt64 = 42
    /// Training steps.
    public var steps: Int
    /// The gradient-descent learning rate.
    public var learningRate: Double
    /// Samples per step, drawn with replacement (the notebook: 1).
    public var batchSize = 1
    /// Print the parameters and the loss every this many steps.
    public var printEvery: Int
    /// The data set.
    public var data: RecipeData
    /// The loss.
    public var loss: RecipeLoss
    /// Stop at the first operation that produces NaN or infinity (``Session/Options/checkNumerics``).
    public var checkNumerics = false
    /// After the last step, save the whole model to this directory (`Session.saveModel(to:)`):
    /// the graph with its training step and the variables, the metadata naming the recipe, the
    /// seed, the step, the input `x_data` and the output (a classifier's predicted class, else
    /// the model's output), so `backprop predict --model DIR` runs it and a run restored from it
    /// (`Checkpoint.restore(session:from:)`) continues.
    public var modelPath: String?

    /// Creates settings.
    public init(
      seed: UInt64 = 42, steps: Int, learningRate: Double, batchSize: Int = 1, printEvery: Int, data: RecipeData,
      loss: RecipeLoss, checkNumerics: Bool = false
    ) {
      self.seed = seed
      self.steps = steps
      self.learningRate = learningRate
      self.batchSize = batchSize
      self.printEvery = printEvery
      self.data = data
      self.loss = loss
      self.checkNumerics = checkNumerics
    }

    /// The notebook's regression: 100 steps at 0.02, printing every 25, L2 loss.
    public static var regression: Configuration {
      Configuration(steps: 100, learningRate: 0.02, printEvery: 25, data: .regression, loss: .l2)
    }

    /// The notebook's classification: 1400 steps at 0.05, printing every 200, sigmoid
    /// cross-entropy.
    public static var classification: Configuration {
      Configuration(steps: 1400, learningRate: 0.05, printEvery: 200, data: .classification, loss: .sigmoidCrossEntropy)
    }
  }

  /// The recipe's name (`regression`), as checkpoints record it.
  public var name: String
  /// The model, for titles (`x·A = 10`).
  public var summary: String
  /// The model.
  public var model: Model
  /// The settings.
  public var configuration: Configuration
  /// The parameters' ideal values, drawn as reference lines in the figure.
  public var theoreticalParameters: [NamedValue]
  /// For a classifier of one input: the input where the predicted class changes, from the
  /// parameters' values (in ``TrainingReport/parameterNames`` order); drawn in the figure.
  public var decisionBoundary: (@Sendable (_ parameters: [Double]) -> Double)?

  /// Creates a recipe.
  public init(
    name: String, summary: String, model: @escaping Model, configuration: Configuration,
    theoreticalParameters: [NamedValue] = [], decisionBoundary: (@Sendable (_ parameters: [Double]) -> Double)? = nil
  ) {
    self.name = name
    self.summary = summary
    self.model = model
    self.configuration = configuration
    self.theoreticalParameters = theoreticalParameters
    self.decisionBoundary = decisionBoundary
  }

  /// The notebook's regression: fit `x · A = 10` with x ~ N(1, 0.1); `A` starts from N(0, 1).
  /// Its theoretical `A` is the targets (10) over the inputs' mean (1).
  public static func regression(_ configuration: Configuration = .regression) -> NotebookRecipe {
    NotebookRecipe(
      name: "regression", summary: "Regression x·A = 10",
      model: { x, seed in
        try multiply(x, x.graph.variable(randomNormal(x.graph, shape: [1], seed: seed &+ 1), name: "A"))
      },
      configuration: configuration, theoreticalParameters: [NamedValue("A", 10)])
  }

  /// The notebook's classification: learn `A` in `sigmoid(x + A)` to separate N(-1, 1)
  /// (class 0) from N(3, 1) (class 1); `A` starts from N(10, 1). Its theoretical `A` is
  /// `-(mean₁ + mean₂)/2 = -1`, which puts the decision boundary `x = -A` halfway between
  /// the classes' means.
  public static func classification(_ configuration: Configuration = .classification) -> NotebookRecipe {
    NotebookRecipe(
      name: "classification", summary: "Classification σ(x + A)",
      model: { x, seed in
        try add(x, x.graph.variable(randomNormal(x.graph, shape: [1], mean: 10, seed: seed &+ 1), name: "A"))
      },
      configuration: configuration, theoreticalParameters: [NamedValue("A", -1)],
      decisionBoundary: { parameters in -parameters[0] })
  }

  /// The number of points of a classifier's ``TrainingReport/probabilityCurve``.
  public static let curvePoints = 201

  /// Builds the graph: the placeholders `x_data` and `y_target` (float32, shape
  /// `[batchSize]`, or `[nil]` with `anyBatchSize`, TF's `[None]`), the model, the loss, a
  /// gradient-descent step, and for a classifier the probability and the predicted class. The
  /// training run uses the batch size's graph; a saved model takes any number of rows.
  /// - Throws: ``GraphError`` for invalid settings (a non-positive learning rate), or what the
  ///   model and loss closures throw.
  public func makeModel(anyBatchSize: Bool = false) throws -> NotebookModel {
    let c = configuration
    let graph = Graph()
    let batch: PartialShape = anyBatchSize ? [nil] : [c.batchSize]
    let x = graph.placeholder(.float32, shape: batch, name: "x_data")
    let y = graph.placeholder(.float32, shape: batch, name: "y_target")
    let output = try model(x, c.seed)
    let parameters = graph.trainableVariables
    let loss = try c.loss.build(output, y)
    let train = try GradientDescentOptimizer(learningRate: c.learningRate).minimize(loss)
    let probability = try c.loss.probability?(output)
    let prediction = try probability.map { try round($0) }
    return NotebookModel(
      graph: graph, x: x, y: y, output: output, parameters: parameters, loss: loss, train: train,
      prediction: prediction, probability: probability)
  }

  /// Runs the recipe: the notebook's training loop, one batch of `batchSize` randomly chosen
  /// samples per step (`np.random.choice(100)`), one run of the training operation that also
  /// fetches the loss before the update, and every `printEvery` steps the notebook's two lines
  /// (`Step #25 A = [5.407349]`, then `Loss = [26.1222]`, the loss of the same samples after
  /// the update). A classifier then prints `Ending Accuracy = 0.98`, its accuracy on the whole
  /// data set. Each finished step is reported to `onStep`; `hooks` can restore state before the
  /// first step (resuming after `k` steps with the same sample order) and save it after the last.
  /// - Throws: ``GraphError`` or ``SessionError`` (for invalid settings, such as a
  ///   non-positive learning rate), ``RecipeError`` when `hooks` resumes past the last step or
  ///   the batch size is not positive, and what the hooks throw.
  public func run(
    output: (String) -> Void = { print($0) }, onStep: (TrainingStep) -> Void = { _ in },
    hooks: TrainingHooks = TrainingHooks()
  ) throws -> TrainingReport {
    let c = configuration
    let data = try checkedData()
    var rng = data.rng
    let (xVals, yVals) = (data.inputs, data.targets)
    let m = try makeModel()
    let session = Session(graph: m.graph, options: Session.Options(checkNumerics: c.checkNumerics))
    try session.initializeVariables()
    let start = try hooks.willStart(session)
    var report = try resumedReport(after: start, inputs: xVals, targets: yVals, rng: &rng)
    report.parameterNames = m.parameters.flatMap { p in
      let name = p.operation.name
      let count = p.shape.concrete?.elementCount ?? 1
      return count == 1 ? [name] : (0..<count).map { "\(name)[\($0)]" }
    }
    for i in start..<c.steps {
      let batch = (0..<c.batchSize).map { _ in rng.choice(xVals.count) }
      let feeds = [m.x: NDArray(batch.map { xVals[$0] }), m.y: NDArray(batch.map { yVals[$0] })]
      let lossBefore = try session.run([m.loss], feeding: feeds, targets: [m.train])[0]
      let values = try m.parameters.map { try session.value(of: $0) }
      let lossValue = mean(lossBefore)
      let parameters = zip(report.parameterNames, values.flatMap(\.doubles)).map { NamedValue($0, $1) }
      report.losses.append(lossValue)
      report.parameterHistory.append(parameters.map(\.value))
      onStep(TrainingStep(step: i + 1, totalSteps: c.steps, loss: lossValue, parameters: parameters))
      try hooks.didStep(session, i + 1, feeds, m.loss)
      if (i + 1) % c.printEvery == 0 {
        output("Step #\(i + 1) " + zip(m.parameters, values).map { "\($0.operation.name) = \($1)" }.joined(separator: " "))
        output("Loss = \(try session.run(m.loss, feeding: feeds))")
      }
    }
    try hooks.didFinish(session, c.steps)
    if let path = c.modelPath { try saveModel(to: path) { try copyVariables(from: session, to: $0) } }
    let finalValues = try m.parameters.flatMap { try session.value(of: $0).doubles }
    report.finalParameters = zip(report.parameterNames, finalValues).map { NamedValue($0, $1) }
    if let prediction = m.prediction, let probability = m.probability {
      report.accuracy = try accuracy(session, m, prediction, xVals, yVals)
      report.probabilityCurve = try curve(session, m, probability, xVals)
      output("Ending Accuracy = \(((report.accuracy ?? .nan) * 100).rounded() / 100)")
    }
    return report
  }

  /// Saves the whole model (`configuration.modelPath`, `--save-model`): the training graph for
  /// any batch size (``makeModel(anyBatchSize:)``: TensorFlow's `[None]`, so `backprop predict`
  /// takes any number of rows, whatever the batch size trained with), its variables given their
  /// trained values by `setVariables`, and the metadata that `predict` and `--restore` read.
  func saveModel(to path: String, setVariables: (Session) throws -> Void) throws {
    let c = configuration
    let m = try makeModel(anyBatchSize: true)
    let session = Session(graph: m.graph)
    try setVariables(session)
    let output = m.prediction ?? m.output
    try session.saveModel(
      to: path,
      metadata: [
        "recipe": name, "seed": String(c.seed), "batch-size": String(c.batchSize), "step": String(c.steps), "writer": "backprop",
        "format": "backprop-model",
        "input": m.x.name, "output": output.name, "targets": m.y.name, "loss": m.loss.name, "train": m.train.name,
        "output-kind": m.prediction == nil ? "values" : "classes",
      ])
  }

  /// The data set drawn from the configuration's seed, and the generator after it (which then
  /// draws the samples of each step), once the settings are checked.
  /// - Throws: ``RecipeError`` for a batch size below 1 or a data set without samples or with
  ///   more inputs than targets (or fewer).
  func checkedData() throws -> (rng: SeededGenerator, inputs: [Float], targets: [Float]) {
    let c = configuration
    guard c.batchSize >= 1 else { throw RecipeError("the batch size must be at least 1, got \(c.batchSize)") }
    var rng = SeededGenerator(seed: c.seed)
    let (xVals, yVals) = c.data.generate(&rng)
    guard !xVals.isEmpty, xVals.count == yVals.count else {
      throw RecipeError("the data set needs as many targets as inputs, at least one (got \(xVals.count) and \(yVals.count))")
    }
    return (rng, xVals, yVals)
  }

  /// The report of a run that starts after `start` steps (0: from the beginning), with the data
  /// set; `rng` has skipped the samples of the steps already done.
  /// - Throws: ``RecipeError`` when `start` is past the configuration's last step.
  func resumedReport(after start: Int, inputs xVals: [Float], targets yVals: [Float], rng: inout SeededGenerator) throws -> TrainingReport {
    let c = configuration
    guard (0...c.steps).contains(start) else {
      throw RecipeError("cannot resume after step \(start): the run has only \(c.steps) steps (--steps is the total)")
    }
    for _ in 0..<(start * c.batchSize) { _ = rng.choice(xVals.count) }  // the samples of the steps already done
    var report = TrainingReport()
    report.firstStep = start + 1
    report.inputs = xVals.map(Double.init)
    report.targets = yVals.map(Double.init)
    return report
  }

  /// The fraction of samples whose predicted class is their target, in batches of the
  /// placeholders' size (the last one padded with the first sample).
  func accuracy(_ session: Session, _ m: NotebookModel, _ prediction: Tensor, _ xVals: [Float], _ yVals: [Float]) throws -> Double {
    let predicted = try evaluate(session, m, prediction, xVals)
    let correct = zip(predicted, yVals).filter { $0 == Double($1) }.count
    return Double(correct) / Double(xVals.count)
  }

  /// The probability of class 1 at ``curvePoints`` inputs spanning the data (0.5 beyond it).
  func curve(_ session: Session, _ m: NotebookModel, _ probability: Tensor, _ xVals: [Float]) throws -> (inputs: [Double], probabilities: [Double]) {
    let finite = xVals.filter(\.isFinite).map(Double.init)
    let lo = (finite.min() ?? -4) - 0.5
    let hi = (finite.max() ?? 6) + 0.5
    let xs = (0..<Self.curvePoints).map { lo + (hi - lo) * Double($0) / Double(Self.curvePoints - 1) }
    return (xs, try evaluate(session, m, probability, xs.map { Float($0) }))
  }

  /// `tensor` at each of `inputs`, fed `batchSize` at a time.
  func evaluate(_ session: Session, _ m: NotebookModel, _ tensor: Tensor, _ inputs: [Float]) throws -> [Double] {
    let size = configuration.batchSize
    var values: [Double] = []
    var start = 0
    while start < inputs.count {
      let chunk = Array(inputs[start..<Swift.min(start + size, inputs.count)])
      let padded = chunk + [Float](repeating: inputs[0], count: size - chunk.count)
      values += try session.run(tensor, feeding: [m.x: NDArray(padded)]).doubles.prefix(chunk.count)
      start += size
    }
    return values
  }
}

/// The mean of an array's elements, in `Double` (the value itself for one element).
func mean(_ a: NDArray) -> Double {
  let d = a.doubles
  return d.count == 1 ? d[0] : d.reduce(0, +) / Double(d.count)
}
