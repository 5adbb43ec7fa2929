import ArrayCore
import GraphCore

// Layers for image and sequence models besides Dense: normalization, dropout, flatten and
// embedding (the convolution and pooling layers are in ConvolutionLayers.swift). Layers that act
// differently while training take a `TrainingPhase`.

/// Batch normalization over the last axis (channels last; Keras's `BatchNormalization(axis=-1)`,
/// TF1's `tf.layers.batch_normalization`; Ioffe & Szegedy 2015):
///
/// - while training (the phase flag fed `true`): `y = γ · (x - μ_B) / √(σ²_B + ε) + β` with the
///   mean and biased variance of the batch over every axis but the last, and the moving
///   averages updated as `m ← momentum · m + (1 - momentum) · μ_B` (the same for the variance);
/// - otherwise: `y = γ · (x - m) / √(v + ε) + β` with the moving mean `m` and variance `v`.
///
/// Both are computed as `y = x · k + (β − μ · k)` with `k = γ / √(σ² + ε)`: the flag chooses
/// the statistics (vectors of the channel count), and one normalization follows, so a step
/// computes and differentiates one branch.
///
/// The moving-average updates are registered in the graph's
/// `GraphCore/Graph/updateOperations` (TF1's `UPDATE_OPS`), so an optimizer's `minimize`
/// built after the layer was applied runs them with every training step; they leave the
/// averages unchanged when the flag is false, and for an empty batch (no sample, so no
/// statistics: as PyTorch, not decayed toward the 0 mean and 0 variance of nothing).
///
/// Variables (Keras's names): `<name>/gamma` (ones) and `<name>/beta` (zeros), trainable;
/// `<name>/moving_mean` (zeros) and `<name>/moving_variance` (ones), not trainable.
public struct BatchNorm: Layer, Sendable {
  /// The scale `γ`, `[channels]`.
  public let gamma: Tensor
  /// The offset `β`, `[channels]`.
  public let beta: Tensor
  /// The moving mean, `[channels]`.
  public let movingMean: Tensor
  /// The moving (biased) variance, `[channels]`.
  public let movingVariance: Tensor
  /// The number of channels (the size of the last axis).
  public let channels: Int
  /// The moving averages' decay.
  public let momentum: Double
  /// `ε`.
  public let epsilon: Double
  /// The training flag.
  public let phase: TrainingPhase
  /// The layer's unique name.
  public let name: String
  /// Where the layer was created.
  public var location: SourceLocation { SourceLocation(file, line) }
  let file: StaticString
  let line: UInt

  /// Creates the layer and its four variables.
  /// - Parameters:
  ///   - momentum: the moving averages' decay, in `[0, 1)` (Keras: 0.99).
  ///   - epsilon: added to the variance, positive (Keras: 0.001).
  /// - Throws: `GraphError/invalidArgument(op:reason:location:)` for a non-positive channel
  ///   count, a momentum outside `[0, 1)`, an epsilon that is not finite and positive (also in
  ///   `dtype`: `1e-50` is 0 in float32) or a non-float dtype.
  public init(
    graph: Graph, channels: Int, phase: TrainingPhase, momentum: Double = 0.99, epsilon: Double = 1e-3,
    dtype: DType = .float32, name: String = "batch_normalization", file: StaticString = #fileID, line: UInt = #line
  ) throws {
    let loc = SourceLocation(file, line)
    guard channels > 0 else {
      throw GraphError.invalidArgument(op: "BatchNorm", reason: "layer '\(name)' needs a positive channel count, got \(channels)", location: loc)
    }
    guard momentum >= 0, momentum < 1 else {
      throw GraphError.invalidArgument(op: "BatchNorm", reason: "momentum must be in [0, 1), got \(momentum)", location: loc)
    }
    try checkEpsilon(epsilon, in: dtype, op: "BatchNorm", location: loc)
    // An eager phase's flag is an eager value of its own (the mode is the phase's, not fed).
    guard phase.flag.graph === graph || (graph.isEager && phase.flag.isEager) else {
      throw GraphError.foreignTensor(op: "BatchNorm", tensor: phase.flag.name, location: loc)
    }
    let scope = uniqueScope(graph, name)
    self.name = scope
    self.file = file
    self.line = line
    self.channels = channels
    self.momentum = momentum
    self.epsilon = epsilon
    self.phase = phase
    gamma = try graph.variable(.ones, shape: [channels], dtype: dtype, name: "\(scope)/gamma", file: file, line: line)
    beta = try graph.variable(.zeros, shape: [channels], dtype: dtype, name: "\(scope)/beta", file: file, line: line)
    movingMean = try graph.variable(
      .zeros, shape: [channels], dtype: dtype, trainable: false, name: "\(scope)/moving_mean", file: file, line: line)
    movingVariance = try graph.variable(
      .ones, shape: [channels], dtype: dtype, trainable: false, name: "\(scope)/moving_variance", file: file, line: line)
  }

  /// The normalized `x` (see the type's description); registers the moving-average updates.
  /// - Throws: `GraphError/invalidOperation(op:name:inputs:reason:location:)` when `x` is not
  ///   of rank ≥ 2 with `channels` as its last size, of the layer's dtype, in its graph.
  public func callAsFunction(_ x: Tensor) throws -> Tensor {
    let dims = x.shape.dimensions
    guard x.canMeet(gamma), x.dtype == gamma.dtype, dims.count >= 2, dims.last! == nil || dims.last! == channels else {
      throw GraphError.invalidOperation(
        op: "BatchNorm", name: name, inputs: [x.inputDescription],
        reason: "the layer expects a \(gamma.dtype) input of rank >= 2 whose last size is \(channels) (channels last), in its graph",
        location: location)
    }
    if x.isEager { return try eager(x, rank: dims.count) }
    // In a compile trace, with the layer's variables eager: its mode and its moving averages'
    // updates are eager state that a trace would fix at tracing time (the mode) or cannot
    // write (a captured variable is a fed value), as Dropout's eager phase.
    guard !gamma.isEager else {
      throw GraphError.invalidOperation(
        op: "BatchNorm", name: name, inputs: [x.inputDescription],
        reason: "the layer's variables and training phase are an eager graph's: a compile trace cannot follow its mode or update its moving averages; call the layer on eager values, or build it in the input's graph",
        location: location)
    }
    let graph = x.graph
    return try graph.withNameScope(name) {
      // The phase chooses the statistics (vectors of the channel count), not the output: one
      // full-size normalization `x · k + (β - μ · k)` whichever the phase, so a training step
      // computes and differentiates one branch instead of two (see ARCHITECTURE.md). The
      // batch's statistics are computed in both phases, as the moving-average updates read them.
      let axes = Array(0..<(dims.count - 1))
      let (_, batchMean, batchVariance) = try normalize(x, axes: axes, epsilon: epsilon, name: "moments", file: file, line: line)
      // The averages move in training, on a batch with samples (an empty one has no statistics).
      let samples = try graph.apply(ElementCount(axes: axes), x, name: "samples", location: location)
      let zero = graph.constant(try NDArray(repeating: 0, shape: [], dtype: x.dtype), name: "zero")
      let updating = try logicalAnd(phase.flag, greater(samples, zero), name: "updating", file: file, line: line)
      var statistics: [Tensor] = []
      for (moving, batch, label, chosen) in [
        (movingMean, batchMean, "moving_mean", "mean"), (movingVariance, batchVariance, "moving_variance", "variance"),
      ] {
        let stat = try reshape(batch, to: [channels], file: file, line: line)
        let m = graph.constant(try NDArray(repeating: momentum, shape: [], dtype: x.dtype), name: "momentum")
        let decayed = try add(multiply(moving, m), multiply(stat, graph.constant(try NDArray(repeating: 1 - momentum, shape: [], dtype: x.dtype))))
        let value = try select(updating, decayed, moving, file: file, line: line)
        let update = try assign(moving, value, name: "update_\(label)", file: file, line: line)
        try graph.addUpdateOperation(update.operation, file: file, line: line)
        statistics.append(try select(phase.flag, stat, stopGradient(moving), name: chosen, file: file, line: line))
      }
      return try batchNormalization(
        x, mean: statistics[0], variance: statistics[1], offset: beta, scale: gamma, epsilon: epsilon, name: "output",
        file: file, line: line)
    }
  }

  /// `[gamma, beta, moving_mean, moving_variance]` (the last two are not trainable).
  public var variables: [Tensor] { [gamma, beta, movingMean, movingVariance] }

  /// The layer on eager values, in the phase's current mode (PyTorch's `BatchNorm` in
  /// `train()`/`eval()`): the graph's operations of the chosen branch, so the values and
  /// gradients are the graph's bit for bit; in training the moving averages are updated at once
  /// (the graph's update operations, computed and assigned), unless the batch is empty.
  private func eager(_ x: Tensor, rank: Int) throws -> Tensor {
    guard try phase.eagerTraining(op: "BatchNorm", location: location) else {
      return try batchNormalization(
        x, mean: stopGradient(movingMean), variance: stopGradient(movingVariance), offset: beta, scale: gamma,
        epsilon: epsilon, name: "output", file: file, line: line)
    }
    let (_, batchMean, batchVariance) = try normalize(
      x, axes: Array(0..<(rank - 1)), epsilon: epsilon, name: "moments", file: file, line: line)
    var statistics: [Tensor] = []
    let updating = try x.value.shape.elementCount > 0
    for (moving, batch) in [(movingMean, batchMean), (movingVariance, batchVariance)] {
      let stat = try reshape(batch, to: [channels], file: file, line: line)
      if updating {
        let m = Tensor(try NDArray(repeating: momentum, shape: [], dtype: x.dtype))
        let decayed = try add(multiply(moving, m), multiply(stat, Tensor(try NDArray(repeating: 1 - momentum, shape: [], dtype: x.dtype))))
        try moving.assign(try decayed.value, file: file, line: line)
      }
      statistics.append(stat)
    }
    return try batchNormalization(
      x, mean: statistics[0], variance: statistics[1], offset: beta, scale: gamma, epsilon: epsilon, name: "output",
      file: file, line: line)
  }
}

/// Layer normalization over the last axis (Keras's `LayerNormalization()`): each sample's
/// features standardized, then `y = γ · x̂ + β` with `γ` (ones) and `β` (zeros) of shape
/// `[features]`, named `<name>/gamma` and `<name>/beta`. The same in training and inference.
public struct LayerNorm: Layer, Sendable {
  /// The scale `γ`, `[features]`.
  public let gamma: Tensor
  /// The offset `β`, `[features]`.
  public let beta: Tensor
  /// The size of the last axis.
  public let features: Int
  /// `ε`.
  public let epsilon: Double
  /// The layer's unique name.
  public let name: String
  /// Where the layer was created.
  public var location: SourceLocation { SourceLocation(file, line) }
  let file: StaticString
  let line: UInt

  /// Creates the layer and its variables.
  /// - Throws: `GraphError/invalidArgument(op:reason:location:)` for a non-positive feature
  ///   count, an epsilon that is not finite and positive (also in `dtype`) or a non-float dtype.
  public init(
    graph: Graph, features: Int, epsilon: Double = 1e-3, dtype: DType = .float32, name: String = "layer_normalization",
    file: StaticString = #fileID, line: UInt = #line
  ) throws {
    let loc = SourceLocation(file, line)
    guard features > 0 else {
      throw GraphError.invalidArgument(op: "LayerNorm", reason: "layer '\(name)' needs a positive feature count, got \(features)", location: loc)
    }
    try checkEpsilon(epsilon, in: dtype, op: "LayerNorm", location: loc)
    let scope = uniqueScope(graph, name)
    self.name = scope
    self.file = file
    self.line = line
    self.features = features
    self.epsilon = epsilon
    gamma = try graph.variable(.ones, shape: [features], dtype: dtype, name: "\(scope)/gamma", file: file, line: line)
    beta = try graph.variable(.zeros, shape: [features], dtype: dtype, name: "\(scope)/beta", file: file, line: line)
  }

  /// `γ · x̂ + β` over the last axis.
  /// - Throws: `GraphError/invalidOperation(op:name:inputs:reason:location:)` when `x`'s last
  ///   size is not `features` (an unknown last size too, as Keras: fed a last size of 1, `γ` and
  ///   `β` would broadcast it to `features` columns without a word) or its dtype or graph is not
  ///   the layer's.
  public func callAsFunction(_ x: Tensor) throws -> Tensor {
    let dims = x.shape.dimensions
    guard x.canMeet(gamma), x.dtype == gamma.dtype, dims.count >= 1, dims.last! == features else {
      throw GraphError.invalidOperation(
        op: "LayerNorm", name: name, inputs: [x.inputDescription],
        reason: "the layer expects a \(gamma.dtype) input whose last size is \(features), in its graph", location: location)
    }
    return try layerNormalization(x, gamma: gamma, beta: beta, axes: [-1], epsilon: epsilon, name: name, file: file, line: line)
  }

  /// `[gamma, beta]`.
  public var variables: [Tensor] { [gamma, beta] }
}

/// Inverted dropout driven by the training phase (Keras's `Dropout(rate)`): while the flag is
/// fed `true`, each element is zeroed with probability `rate` and the others scaled by
/// `1/(1 - rate)`; otherwise the input passes unchanged. Seeded (a new mask every step).
public struct Dropout: Layer, Sendable {
  /// The drop probability, in `[0, 1)`.
  public let rate: Double
  /// The mask's seed.
  public let seed: UInt64
  /// The training flag.
  public let phase: TrainingPhase
  /// Where the layer was created.
  public var location: SourceLocation { SourceLocation(file, line) }
  let file: StaticString
  let line: UInt
  /// The masks' generator on eager values (shared by copies of the layer).
  private let generator: EagerGenerator

  /// Creates the layer.
  /// - Throws: `GraphError/invalidArgument(op:reason:location:)` when `rate` is outside `[0, 1)`.
  public init(rate: Double, seed: UInt64, phase: TrainingPhase, file: StaticString = #fileID, line: UInt = #line) throws {
    guard rate >= 0, rate < 1 else {
      throw GraphError.invalidArgument(op: "Dropout", reason: "rate must be in [0, 1), got \(rate)", location: SourceLocation(file, line))
    }
    self.rate = rate
    self.seed = seed
    self.phase = phase
    self.file = file
    self.line = line
    generator = EagerGenerator(seed: seed)
  }

  /// `x · mask` (see `GraphCore/dropout(_:rate:seed:training:name:file:line:)`).
  ///
  /// On eager values, in the phase's current mode: in training a new mask from the layer's own
  /// generator (seeded with ``seed`` on the first call and advancing from call to call, as the
  /// graph's mask advances from run to run, so the k-th call draws the graph's k-th mask); in
  /// inference `x` itself.
  /// - Throws: ``GraphCore/GraphError`` for a symbolic `x` (a graph's, or a ``GraphCore/compile(_:)``
  ///   trace's) with an eager phase, whose mode is not a tensor a graph can read (its flag would
  ///   be taken as a constant, the default: dropout silently off in training), as the other
  ///   layers refuse a symbolic input with an eager graph's variables.
  public func callAsFunction(_ x: Tensor) throws -> Tensor {
    guard x.isEager else {
      guard !phase.flag.isEager else {
        throw GraphError.invalidOperation(
          op: "Dropout", name: "dropout", inputs: [x.inputDescription],
          reason: "the layer's training phase '\(phase.flag.name)' is an eager graph's (its mode is read when the layer is called on eager values), "
            + "so a graph cannot follow it; create the phase in the input's graph",
          location: location)
      }
      return try dropout(x, rate: rate, seed: seed, training: phase.flag, file: file, line: line)
    }
    guard try phase.eagerTraining(op: "Dropout", location: location) else { return x }
    guard x.dtype.isFloatingPoint else {
      throw GraphError.invalidOperation(
        op: "Dropout", name: "dropout", inputs: [x.inputDescription], reason: "input must be float32 or float64, got \(x.dtype)",
        location: location)
    }
    let shape = try x.value.shape
    let mask = generator.next { DropoutMask.draw(shape: shape, dtype: x.dtype, rate: rate, generator: &$0) }
    return try multiply(x, Tensor(mask), file: file, line: line)
  }

  /// None.
  public var variables: [Tensor] { [] }
}

/// Merges every axis but the first (Keras's `Flatten`): `[N, d₁, …, dₖ]` → `[N, d₁·…·dₖ]`,
/// `N` may be unknown. No variables.
public struct Flatten: Layer, Sendable {
  /// Where the layer was created.
  public var location: SourceLocation { SourceLocation(file, line) }
  let file: StaticString
  let line: UInt
  /// Creates the layer.
  public init(file: StaticString = #fileID, line: UInt = #line) {
    self.file = file
    self.line = line
  }
  /// `flatten(x)`.
  /// - Throws: `GraphError` naming `Flatten` when a dimension other than the first is unknown.
  public func callAsFunction(_ x: Tensor) throws -> Tensor {
    try flatten(x, file: file, line: line)
  }
  /// None.
  public var variables: [Tensor] { [] }
}

/// A table of learned vectors looked up by int32 ids (Keras's `Embedding`): ids of any shape
/// `[...]` become `[..., dimension]`. The table `<name>/embeddings`, `[vocabulary, dimension]`,
/// starts uniform on `[-0.05, 0.05)` (Keras's default). Its gradient is the dense scatter-add of
/// the upstream rows; an id outside `0..<vocabulary` is a run-time error naming the operation.
public struct Embedding: Layer, Sendable {
  /// The table, `[vocabulary, dimension]`.
  public let table: Tensor
  /// The number of ids.
  public let vocabulary: Int
  /// The vector length.
  public let dimension: Int
  /// The layer's unique name.
  public let name: String
  /// Where the layer was created.
  public var location: SourceLocation { SourceLocation(file, line) }
  let file: StaticString
  let line: UInt

  /// Creates the layer and its table.
  /// - Throws: `GraphError/invalidArgument(op:reason:location:)` for non-positive sizes or a
  ///   non-float dtype.
  public init(
    graph: Graph, vocabulary: Int, dimension: Int, initializer: Initializer = .randomUniform(low: -0.05, high: 0.05),
    dtype: DType = .float32, seed: UInt64, name: String = "embedding", file: StaticString = #fileID, line: UInt = #line
  ) throws {
    guard vocabulary > 0, dimension > 0 else {
      throw GraphError.invalidArgument(
        op: "Embedding", reason: "layer '\(name)' needs positive vocabulary and dimension, got \(vocabulary) and \(dimension)",
        location: SourceLocation(file, line))
    }
    let scope = uniqueScope(graph, name)
    self.name = scope
    self.file = file
    self.line = line
    self.vocabulary = vocabulary
    self.dimension = dimension
    table = try graph.variable(
      initializer, shape: [vocabulary, dimension], dtype: dtype, seed: seed, name: "\(scope)/embeddings", file: file, line: line)
  }

  /// The rows of the table at `ids` (int32).
  /// - Throws: `GraphError` naming `EmbeddingLookup` when `ids` is not int32.
  public func callAsFunction(_ ids: Tensor) throws -> Tensor {
    guard ids.canMeet(table) else {
      throw GraphError.foreignTensor(op: "Embedding", tensor: ids.name, location: location)
    }
    return try ids.graph.withNameScope(name) {
      try embeddingLookup(table, ids: ids, file: file, line: line)
    }
  }

  /// `[embeddings]`.
  public var variables: [Tensor] { [table] }
}

/// An activation applied as a layer (Keras's `Activation`), e.g. after `BatchNorm`. No variables.
extension Activation: Layer {
  /// None.
  public var variables: [Tensor] { [] }
}

/// Checks a normalization layer's `epsilon`: a finite number > 0, also in `dtype`.
func checkEpsilon(_ epsilon: Double, in dtype: DType, op: String, location: SourceLocation) throws {
  guard epsilon.isFinite, epsilon > 0 else {
    throw GraphError.invalidArgument(op: op, reason: "epsilon must be a finite number > 0, got \(epsilon)", location: location)
  }
  try checkParameter(epsilon, "epsilon", in: dtype, positive: true, op: op, location: location)
}

/// A seeded generator that advances from call to call, for layers that draw random numbers on
/// eager values (the graph keeps one per operation in its session instead).
/// (Guarded by the pthread `Lock`, which ThreadSanitizer sees, unlike the standard library's
/// futex-based `Mutex` on Linux.)
final class EagerGenerator: @unchecked Sendable {
  private var generator: SeededGenerator
  private let lock = Lock()
  init(seed: UInt64) { generator = SeededGenerator(seed: seed) }
  /// Runs `body` with the generator, which keeps what it drew.
  func next<R: Sendable>(_ body: (inout SeededGenerator) -> R) -> R { lock.withLock { body(&generator) } }
}
