import Backprop
import Recipes

/// `--logdir`: a TensorBoard event file for one training run — the graph, scalars per step
/// (loss, learning rate, the notebook's A, accuracy where the recipe computes it) and
/// histograms of every trainable variable and of its gradient once per epoch.
final class TensorBoardLog {
  let writer: SummaryWriter
  private var gradientTensors: [(variable: Tensor, gradient: Tensor)]?

  init(logdir: String) throws {
    writer = try SummaryWriter(logdir: logdir)
  }

  /// The graph, drawn by TensorBoard's Graphs tab.
  func logGraph(_ graph: Graph) throws {
    try writer.addGraph(graph)
    try writer.flush()
  }

  /// Histograms of each trainable variable (`<name>/weights`) and of the loss's gradient with
  /// respect to it (`<name>/gradient`) for `feeds`. The gradient operations are added to the
  /// graph once, on first use (after the graph was logged).
  func logHistograms(session: Session, loss: Tensor, feeds: [Tensor: NDArray], step: Int) throws {
    if gradientTensors == nil {
      let variables = loss.graph.trainableVariables
      let grads = try gradients(of: loss, withRespectTo: variables)
      gradientTensors = zip(variables, grads).compactMap { v, g in g.map { (v, $0) } }
    }
    let pairs = gradientTensors ?? []
    let values = try session.run(pairs.map(\.gradient), feeding: feeds)
    try addHistograms(
      zip(pairs, values).map { pair, gradient in (pair.variable.operation.name, try session.value(of: pair.variable), gradient) }, step: step)
  }

  /// ``logHistograms(session:loss:feeds:step:)`` for an eager run: the variables' current values
  /// and the gradient of `loss` (the step's loss on them) with respect to each.
  func logHistograms(variables: [Tensor], loss: () throws -> Tensor, step: Int) throws {
    let tape = GradientTape()
    let value = try tape.record { try loss() }
    let grads = try tape.gradient(of: value, withRespectTo: variables)
    try addHistograms(zip(variables, grads).map { v, g in (v.operation.name, try v.value, try g.value) }, step: step)
  }

  /// `<name>/weights` and `<name>/gradient` histograms, then a flush.
  private func addHistograms(_ entries: [(name: String, weights: NDArray, gradient: NDArray)], step: Int) throws {
    for entry in entries {
      try writer.addHistogram(entry.name + "/weights", entry.weights.doubles, step: step)
      try writer.addHistogram(entry.name + "/gradient", entry.gradient.doubles, step: step)
    }
    try writer.flush()
  }

  /// Hooks for the notebook's recipes: the graph before the first step, histograms after every
  /// `epochLength` steps (the notebook's 100 samples, one per step) and after the last.
  func wrapping(_ hooks: TrainingHooks, totalSteps: Int, epochLength: Int) -> TrainingHooks {
    var wrapped = hooks
    wrapped.willStart = { session in
      try self.logGraph(session.graph)
      return try hooks.willStart(session)
    }
    wrapped.didStep = { session, step, feeds, loss in
      try hooks.didStep(session, step, feeds, loss)
      if step % epochLength == 0 || step == totalSteps {
        try self.logHistograms(session: session, loss: loss, feeds: feeds, step: step)
      }
    }
    wrapped.didFinish = { session, steps in
      try hooks.didFinish(session, steps)
      try self.writer.flush()
    }
    return wrapped
  }

  /// ``wrapping(_:totalSteps:epochLength:)`` for an eager run: `graph` (the model's graph, as the
  /// graph run logs it) before the first step, and the histograms at the same steps.
  func wrapping(_ hooks: EagerTrainingHooks, graph: Graph, totalSteps: Int, epochLength: Int) -> EagerTrainingHooks {
    var wrapped = hooks
    wrapped.willStart = { variables in
      try self.logGraph(graph)
      return try hooks.willStart(variables)
    }
    wrapped.didStep = { step, variables, loss in
      try hooks.didStep(step, variables, loss)
      if step % epochLength == 0 || step == totalSteps {
        try self.logHistograms(variables: variables, loss: loss, step: step)
      }
    }
    wrapped.didFinish = { variables, steps in
      try hooks.didFinish(variables, steps)
      try self.writer.flush()
    }
    return wrapped
  }

  /// A monitor for `backprop digits` and `backprop fashion`: the graph, the loss and the
  /// learning rate per step (a schedule's value at the step), the epoch's loss and accuracies
  /// and the histograms per epoch.
  func trainingMonitor() -> DigitsMonitor {
    var rate = LearningRate.constant(.nan)
    return DigitsMonitor(
      willStart: { graph, learningRate in
        rate = learningRate
        try self.logGraph(graph)
      },
      didStep: { step, loss in
        // Step n (from 1) is the update made after n - 1 others.
        try self.writer.addScalars([("loss", loss), ("learning_rate", rate.value(atStep: step - 1))], step: step)
      },
      didFinishEpoch: { epoch, state in
        try self.writer.addScalars(
          [
            ("epoch/loss", epoch.loss), ("epoch/train_accuracy", epoch.trainAccuracy),
            ("epoch/test_accuracy", epoch.testAccuracy), ("accuracy", epoch.testAccuracy),
          ], step: state.step)
        try self.logHistograms(session: state.session, loss: state.loss, feeds: state.feeds, step: state.step)
      })
  }

  func close() throws { try writer.close() }
}
