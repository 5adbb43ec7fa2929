import ArrayCore
import GraphCore

/// A building block of a model: creates its variables in a graph when made, and adds its
/// operations each time it is applied to an input (Keras's `Layer`, built eagerly).
public protocol Layer {
  /// Applies the layer to `x`, adding its operations to `x`'s graph.
  /// - Throws: ``GraphError`` when `x` does not fit the layer.
  func callAsFunction(_ x: Tensor) throws -> Tensor
  /// The layer's variables, in creation order (to pass to an optimizer, save or restore).
  var variables: [Tensor] { get }
}

/// An elementwise activation function applied by a layer. Add others with
/// ``custom(name:_:)`` (e.g. a leaky ReLU built from graph operations).
public enum Activation: Sendable, CustomStringConvertible {
  /// `f(x) = x`.
  case linear
  /// `f(x) = max(x, 0)`.
  case relu
  /// `f(x) = 1 / (1 + e⁻ˣ)`.
  case sigmoid
  /// `f(x) = tanh x`.
  case tanh
  /// Any function built from graph operations, with a name for descriptions.
  case custom(name: String, @Sendable (Tensor) throws -> Tensor)

  /// Applies the function to `x`.
  public func callAsFunction(_ x: Tensor) throws -> Tensor {
    try callAsFunction(x, file: #fileID, line: #line)
  }

  /// Applies the function to `x`, its operation built at `file:line` (the line a layer that
  /// applies it was created at, which its errors name).
  func callAsFunction(_ x: Tensor, file: StaticString, line: UInt) throws -> Tensor {
    switch self {
    case .linear: x
    case .relu: try GraphCore.relu(x, file: file, line: line)
    case .sigmoid: try GraphCore.sigmoid(x, file: file, line: line)
    case .tanh: try GraphCore.tanh(x, file: file, line: line)
    case let .custom(_, f): try f(x)
    }
  }

  /// `relu`, `sigmoid`... or the custom name.
  public var description: String {
    switch self {
    case .linear: "linear"
    case .relu: "relu"
    case .sigmoid: "sigmoid"
    case .tanh: "tanh"
    case let .custom(name, _): name
    }
  }
}

/// A fully connected layer (Keras's `Dense`, TF1's `tf.layers.dense`):
///
/// `y = activation(x · W + b)`, with `x` of shape `[batch, inputSize]`, the kernel `W` of shape
/// `[inputSize, units]` and the bias `b` of shape `[units]`.
///
/// Its variables are `<name>/kernel` and `<name>/bias`; the name defaults to `dense` and is made
/// unique in the graph (`dense`, `dense_1`...), as TF1 does.
public struct Dense: Layer, Sendable {
  /// The kernel `W`, `[inputSize, units]`.
  public let kernel: Tensor
  /// The bias `b`, `[units]`, unless the layer has none.
  public let bias: Tensor?
  /// The activation.
  public let activation: Activation
  /// The number of input features.
  public let inputSize: Int
  /// The number of outputs.
  public let units: Int
  /// The layer's unique name (the scope of its variables and operations).
  public let name: String
  /// Where the layer was created (named by its errors).
  public let location: SourceLocation
  let file: StaticString
  let line: UInt

  /// Creates the layer and its variables.
  /// - Parameters:
  ///   - kernelInitializer: fills `W` (Keras's default: Glorot uniform).
  ///   - biasInitializer: fills `b` (zeros).
  ///   - seed: seeds the kernel's (and a random bias initializer's, with `seed + 1`) values.
  /// - Throws: ``GraphError/invalidArgument(op:reason:location:)`` when `inputSize` or `units`
  ///   is not positive or the dtype is not float.
  public init(
    graph: Graph, inputSize: Int, units: Int, activation: Activation = .linear, useBias: Bool = true,
    kernelInitializer: Initializer = .glorotUniform, biasInitializer: Initializer = .zeros, dtype: DType = .float32,
    seed: UInt64, name: String = "dense", file: StaticString = #fileID, line: UInt = #line
  ) throws {
    guard inputSize > 0, units > 0 else {
      throw GraphError.invalidArgument(
        op: "Dense", reason: "layer '\(name)' needs positive inputSize and units, got \(inputSize) and \(units)",
        location: SourceLocation(file, line))
    }
    let scope = uniqueScope(graph, name)
    self.name = scope
    self.location = SourceLocation(file, line)
    self.file = file
    self.line = line
    self.inputSize = inputSize
    self.units = units
    self.activation = activation
    kernel = try graph.variable(
      kernelInitializer, shape: [inputSize, units], dtype: dtype, seed: seed, name: "\(scope)/kernel", file: file, line: line)
    bias = useBias
      ? try graph.variable(biasInitializer, shape: [units], dtype: dtype, seed: seed &+ 1, name: "\(scope)/bias", file: file, line: line)
      : nil
  }

  /// `activation(x · W + b)`.
  /// - Throws: ``GraphError/invalidArgument(op:reason:location:)`` when `x` is not
  ///   `[batch, inputSize]` of the layer's dtype or belongs to another graph.
  public func callAsFunction(_ x: Tensor) throws -> Tensor {
    let dims = x.shape.dimensions
    guard x.canMeet(kernel), x.dtype == kernel.dtype, dims.count == 2, dims[1] == nil || dims[1] == inputSize else {
      throw GraphError.invalidOperation(
        op: "Dense", name: name, inputs: [x.inputDescription],
        reason: "the layer expects an input of \(kernel.dtype) [?, \(inputSize)] in its graph\(x.canMeet(kernel) ? "" : ", got one from another graph")",
        location: location)
    }
    return try x.graph.withNameScope(name) {
      var y = try matmul(x, kernel, file: file, line: line)
      if let bias { y = try add(y, bias, name: "bias_add", file: file, line: line) }
      return try activation(y, file: file, line: line)
    }
  }

  /// `[kernel, bias]` (or `[kernel]`).
  public var variables: [Tensor] { [kernel] + (bias.map { [$0] } ?? []) }
}

/// Layers applied one after the other (Keras's `Sequential`): `y = fₙ(…f₂(f₁(x)))`.
///
/// ```swift
/// let model = Sequential([
///   try Dense(graph: graph, inputSize: 2, units: 8, activation: .tanh, seed: 1),
///   try Dense(graph: graph, inputSize: 8, units: 1, seed: 2),
/// ])
/// let logits = try model(x)
/// ```
public struct Sequential: Layer {
  /// The layers, in order.
  public var layers: [any Layer]
  /// Creates the model from its layers.
  public init(_ layers: [any Layer]) { self.layers = layers }
  /// Applies every layer in turn.
  public func callAsFunction(_ x: Tensor) throws -> Tensor {
    try layers.reduce(x) { y, layer in try layer(y) }
  }
  /// Every layer's variables, in layer order.
  public var variables: [Tensor] { layers.flatMap(\.variables) }
}

/// A graph-wide training flag: a boolean scalar that is `false` unless fed `true` (TF1's
/// `tf.placeholder_with_default(False, shape=())`, Keras's learning phase). Layers that act
/// differently while training (dropout, batch normalization) take ``flag`` as an input; a
/// recipe feeds `true` on its training steps and nothing when it evaluates:
///
/// ```swift
/// let phase = try TrainingPhase(graph: graph)
/// // ... build the model, passing phase.flag to dropout ...
/// try session.run([loss], feeding: [x: batch, y: labels].merging(phase.feed(true)) { a, _ in a }, targets: [train])
/// let predictions = try session.run(logits, feeding: [x: testRows])   // flag is false
/// ```
///
/// In eager code (a phase of a ``GraphCore/Graph/eager()`` graph) there is nothing to feed: the
/// phase holds the current mode, which ``setTraining(_:)`` switches (PyTorch's `model.train()` /
/// `model.eval()`), and layers read it when they are called (``isTraining``).
public struct TrainingPhase: Sendable {
  /// The flag: a bool scalar tensor (in an eager graph it keeps the default value; the mode
  /// itself is ``isTraining``).
  public let flag: Tensor
  /// The value when not fed.
  public let defaultValue: Bool
  /// The current mode of an eager phase (`nil` for a graph's flag, which is fed).
  private let eagerMode: EagerMode?

  /// Creates the flag in `graph`.
  /// - Throws: ``GraphError`` if the graph refuses the operation.
  public init(graph: Graph, default defaultValue: Bool = false, name: String = "training") throws {
    let value = graph.constant(NDArray([defaultValue], shape: []), name: "\(name)/default")
    flag = try graph.apply(PlaceholderWithDefault(), value, name: name)
    self.defaultValue = defaultValue
    eagerMode = graph.isEager ? EagerMode(defaultValue) : nil
  }

  /// The feed that sets the flag: `[flag: training]`.
  public func feed(_ training: Bool) -> [Tensor: NDArray] {
    [flag: NDArray([training], shape: [])]
  }

  /// Whether an eager phase is in training mode (``defaultValue`` until ``setTraining(_:)``
  /// changes it). A graph's phase is decided by its feed at each run: this is its default.
  public var isTraining: Bool { eagerMode?.value ?? defaultValue }

  /// Switches an eager phase between training (`true`) and inference (`false`), for every
  /// layer that takes it (PyTorch's `model.train()` / `model.eval()`).
  /// - Throws: ``GraphCore/GraphError/invalidArgument(op:reason:location:)`` for a graph's phase,
  ///   which is set per run by feeding ``feed(_:)``.
  public func setTraining(_ training: Bool, file: StaticString = #fileID, line: UInt = #line) throws {
    guard let eagerMode else {
      throw GraphError.invalidArgument(
        op: "TrainingPhase.setTraining",
        reason: "'\(flag.name)' is a graph's flag: feed phase.feed(\(training)) to the session run instead",
        location: SourceLocation(file, line))
    }
    eagerMode.value = training
  }

  /// The mode for a layer called on eager values.
  /// - Throws: ``GraphCore/GraphError/invalidArgument(op:reason:location:)`` when the phase is a
  ///   graph's (its flag has no value until a session run feeds it).
  func eagerTraining(op: String, location: SourceLocation) throws -> Bool {
    guard let eagerMode else {
      throw GraphError.invalidArgument(
        op: op,
        reason: "the layer was given eager values but its training phase '\(flag.name)' is a graph's flag; "
          + "create the phase in the eager graph (TrainingPhase(graph: Graph.eager()))",
        location: location)
    }
    return eagerMode.value
  }
}

/// The mode of an eager ``TrainingPhase``, shared by the copies of the phase held by layers.
/// (Guarded by the pthread `Lock`, which ThreadSanitizer sees, unlike the standard library's
/// futex-based `Mutex` on Linux.)
private final class EagerMode: @unchecked Sendable {
  private var state: Bool
  private let lock = Lock()
  init(_ value: Bool) { state = value }
  var value: Bool {
    get { lock.withLock { state } }
    set { lock.withLock { state = newValue } }
  }
}

/// `name`, or `name_1`, `name_2`... : the first not already used as an operation name or scope
/// (``Graph``'s set of names and scopes: O(1) per layer, not a scan of the graph).
func uniqueScope(_ graph: Graph, _ name: String) -> String {
  graph.uniqueScope(name)
}
