import ArrayCore

/// What an operation does: the families the registry, the graph pictures and the README's
/// operation list group primitives by.
public enum OperationFamily: String, Sendable, CaseIterable {
  /// Elementwise functions of one tensor (``UnaryFunction``).
  case unary = "elementwise, one input"
  /// Elementwise functions of two tensors with broadcasting (``BinaryFunction``).
  case binary = "elementwise, two inputs"
  /// Comparisons, logic and selection (boolean results or conditions).
  case comparison
  /// Sums, extrema and their positions, running sums.
  case reduction
  /// Matrix products.
  case linearAlgebra = "linear algebra"
  /// Convolutions, their adjoints, and pooling over NHWC images.
  case convolution = "convolution and pooling"
  /// Reshaping, broadcasting, transposing, slicing, joining and splitting.
  case layout
  /// Gathering, scattering, one-hot encoding.
  case indexing
  /// Softmax and the fused losses.
  case probability
  /// Type conversion, identity and fills.
  case conversion
  /// Random values.
  case random
  /// Placeholders, constants, variables and their assignments.
  case state
  /// Training operations: fused updates, step-dependent hyper-parameters.
  case training
  /// Collective operations between the processes of a distributed job.
  case collective
}

/// One primitive in the registry: its operation type name and family.
public struct PrimitiveEntry: Sendable, Hashable, CustomStringConvertible {
  /// The operation type name, as graphs, errors and pictures show it (`Sin`, `MatMul`).
  public let typeName: String
  /// What the operation does.
  public let family: OperationFamily
  /// Creates an entry.
  package init(typeName: String, family: OperationFamily) {
    self.typeName = typeName
    self.family = family
  }
  /// `Sin (elementwise, one input)`.
  public var description: String { "\(typeName) (\(family.rawValue))" }
}

/// Every primitive, listed by the code itself: each entry is read from a primitive value (its
/// `typeName`), not from source text. ``graphCore`` lists this module's; the Training module
/// adds its own and the whole list (`PrimitiveRegistry.all`).
public enum PrimitiveRegistry {
  /// The built-in elementwise functions of one tensor.
  public static let unaryFunctions: [any UnaryFunction] = [
    Negate(), Square(), Abs(), Exp(), Log(), Sqrt(), Round(), Floor(), Ceil(), Sign(), Sin(), Cos(), Tan(), Atan(), ExpMinusOne(),
    LogOnePlus(), Reciprocal(), ReciprocalSquareRoot(), Sigmoid(), HyperbolicTangent(), Relu(), LeakyRelu(alpha: 0.2),
    Elu(), Selu(), Softplus(), ErrorFunction(),
  ]
  /// The built-in elementwise functions of two tensors.
  public static let binaryFunctions: [any BinaryFunction] = [
    Add(), Subtract(), Multiply(), Divide(), Maximum(), Minimum(), Power(), FloorDivide(), FloorModulo(), Atan2(),
    Hypotenuse(), SigmoidCrossEntropy(),
  ]

  /// The types of ``unaryFunctions`` and ``binaryFunctions``.
  private static let builtInFunctionTypes: Set<ObjectIdentifier> = Set(
    unaryFunctions.map { ObjectIdentifier(type(of: $0)) } + binaryFunctions.map { ObjectIdentifier(type(of: $0)) })

  /// Whether `function` is one of the built-in elementwise functions (by its type, not its
  /// `typeName`, which a function of your own may share): the interchange formats write only those.
  package static func isBuiltIn(_ function: any UnaryFunction) -> Bool {
    builtInFunctionTypes.contains(ObjectIdentifier(type(of: function)))
  }

  /// Whether `function` is one of the built-in functions of two tensors (see the one-input form).
  package static func isBuiltIn(_ function: any BinaryFunction) -> Bool {
    builtInFunctionTypes.contains(ObjectIdentifier(type(of: function)))
  }

  /// The primitives of GraphCore, one entry per operation type name, in family order.
  package static let graphCorePrimitives: [(primitive: any Primitive, family: OperationFamily)] = {
    var list: [(any Primitive, OperationFamily)] = []
    list += unaryFunctions.map { (unaryPrimitive($0), .unary) }
    list += binaryFunctions.map { (binaryPrimitive($0), .binary) }
    list += [Compare.Function.equal, .notEqual, .less, .lessEqual, .greater, .greaterEqual].map { (Compare($0), .comparison) }
    list += [Logical.Function.not, .and, .or].map { (Logical($0), .comparison) }
    list.append((Select(), .comparison))
    list += [
      (Sum(axes: [], keepDims: false), .reduction), (ElementCount(axes: []), .reduction),
      (Extremum(kind: .max, axes: [], keepDims: false), .reduction), (Extremum(kind: .min, axes: [], keepDims: false), .reduction),
      (ArgExtremum(kind: .max, axis: 0), .reduction), (ArgExtremum(kind: .min, axis: 0), .reduction),
      (Product(axes: [], keepDims: false), .reduction),
      (CumulativeSum(axis: 0, exclusive: false, reverse: false), .reduction),
      (CumulativeProduct(axis: 0, exclusive: false, reverse: false), .reduction),
      (Normalize(axes: [0], epsilon: 1e-3), .reduction),
      (MatMul(transposeA: false, transposeB: false), .linearAlgebra),
      (Conv2D(strides: [1, 1], padding: .valid, dilations: [1, 1], groups: 1), .convolution),
      (Conv2DBackpropInput(strides: [1, 1], padding: .valid, dilations: [1, 1], groups: 1, outputShape: nil), .convolution),
      (Conv2DBackpropFilter(strides: [1, 1], padding: .valid, dilations: [1, 1], groups: 1), .convolution),
      (MaxPool(geometry: WindowGeometry(window: [1, 1], strides: [1, 1], padding: .valid)), .convolution),
      (MaxPoolGrad(geometry: WindowGeometry(window: [1, 1], strides: [1, 1], padding: .valid)), .convolution),
      (MaxPoolGradGrad(geometry: WindowGeometry(window: [1, 1], strides: [1, 1], padding: .valid)), .convolution),
      (AvgPool(geometry: WindowGeometry(window: [1, 1], strides: [1, 1], padding: .valid)), .convolution),
      (AvgPoolGrad(geometry: WindowGeometry(window: [1, 1], strides: [1, 1], padding: .valid)), .convolution),
      (Reshape(shape: []), .layout), (ReshapeLike(), .layout), (ExpandDims(axis: 0), .layout), (Squeeze(axes: nil), .layout),
      (BroadcastLike(), .layout), (SumToShapeOf(), .layout), (Transpose(permutation: []), .layout),
      (BroadcastTo(shape: []), .layout), (Concat(axis: 0), .layout), (Split(axis: 0, sizes: []), .layout),
      (SplitLike(axis: 0), .layout), (Slice(begin: [], size: []), .layout), (SliceGrad(begin: [], size: []), .layout),
      (Pad(before: [], after: [], value: 0), .layout), (MirrorPad(before: [], after: [], mode: .reflect), .layout),
      (MirrorPadGrad(before: [], after: [], mode: .reflect), .layout),
      (Gather(axis: 0), .indexing), (ScatterAdd(axis: 0), .indexing), (OneHot(depth: nil, dtype: .float32), .indexing),
      (Softmax(axis: 0, log: false), .probability), (Softmax(axis: 0, log: true), .probability),
      (SparseSoftmaxCrossEntropy(), .probability),
      (Cast(to: .float32), .conversion), (Identity(stopsGradient: false), .conversion),
      (Identity(stopsGradient: true), .conversion),
      (EnsureShapeLike(operation: "", role: "", referenceRole: ""), .conversion),
      (CheckNonZeroDivisor(operation: "", operationType: ""), .conversion),
      (FillLike(value: 0), .conversion), (FillLike(value: 1), .conversion),
      (FillLike(value: 2), .conversion),
      (RandomPrimitive(shape: [], distribution: .normal(mean: 0, standardDeviation: 1), seed: 0, dtype: .float32), .random),
      (RandomPrimitive(shape: [], distribution: .truncatedNormal(mean: 0, standardDeviation: 1), seed: 0, dtype: .float32), .random),
      (RandomPrimitive(shape: [], distribution: .uniform(low: 0, high: 1), seed: 0, dtype: .float32), .random),
      (DropoutMask(rate: 0, seed: 0), .random),
      (PlaceholderPrimitive(), .state), (ConstantPrimitive(value: NDArray()), .state),
      (VariablePrimitive(dtype: .float32, shape: [], trainable: true), .state), (Assign(variable: 0, shape: nil), .state),
      (AssignUpdate(variable: 0, function: Add()), .state), (AssignUpdate(variable: 0, function: Subtract()), .state),
      (NoOp(), .state),
      (ApplyAdam(variable: 0, m: 1, v: 2, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, decays: false), .training),
      (AllReduce(reduction: .sum, communicator: SingleProcessCommunicator()), .collective),
      (AllReduce(reduction: .sum, root: 0, communicator: SingleProcessCommunicator()), .collective),
      (Broadcast(root: 0, communicator: SingleProcessCommunicator()), .collective),
    ]
    return list
  }()

  /// The entries of ``graphCorePrimitives``.
  public static var graphCore: [PrimitiveEntry] {
    graphCorePrimitives.map { PrimitiveEntry(typeName: $0.primitive.typeName, family: $0.family) }
  }

  /// The family of the operation type `typeName` among `entries`, if it is registered.
  public static func family(of typeName: String, in entries: [PrimitiveEntry] = graphCore) -> OperationFamily? {
    entries.first { $0.typeName == typeName }?.family
  }
}
