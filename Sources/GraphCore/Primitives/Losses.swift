import ArrayCore
import RealModule

/// Sigmoid cross-entropy on logits, fused for numerical stability
/// (`tf.nn.sigmoid_cross_entropy_with_logits`):
///
/// `ℓ(x, z) = max(x, 0) - x·z + log(1 + e^(-|x|))`,
///
/// which equals `-z·log σ(x) - (1-z)·log(1 - σ(x))` but never overflows. It is a primitive (not a
/// composite) because that form is stable where the composite is not.
/// Gradients: `∂ℓ/∂x = σ(x) - z`, `∂ℓ/∂z = -x`; logits and labels broadcast.
public struct SigmoidCrossEntropy: Primitive {
  /// `max(x, 0) - x·z + log(1 + e^(-|x|))` on one pair of scalars.
  @inlinable public static func loss<T: FloatElement>(_ x: T, _ z: T) -> T {
    Swift.max(x, 0) - x * z + T.log(onePlus: T.exp(-Swift.abs(x)))
  }
  /// The scalar fast path's form.
  public var scalarForm: ScalarForm? { .sigmoidCrossEntropy }
  /// The number of inputs: 2.
  public var arity: Int? { 2 }
  /// `SigmoidCrossEntropyWithLogits`.
  public var typeName: String { "SigmoidCrossEntropyWithLogits" }
  /// Float inputs of one dtype; the broadcast shape.
  public func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] {
    try requireFloat(inputs[0], "logits")
    guard inputs[0].dtype == inputs[1].dtype else {
      throw ShapeError("logits are \(inputs[0].dtype) but labels are \(inputs[1].dtype)")
    }
    let dims = try broadcastDimensions(inputs[0].shape.dimensions, inputs[1].shape.dimensions)
    return [TensorInfo(dtype: inputs[0].dtype, shape: PartialShape(dims))]
  }
  /// Computes the stable form.
  public func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let x = inputs[0], z = inputs[1]
    switch x.dtype {
    case .float32: try outputs.update(0) { try compute(x, z, Float.self, &$0) }
    default: try outputs.update(0) { try compute(x, z, Double.self, &$0) }
    }
  }
  func compute<T: FloatElement>(_ x: NDArray, _ z: NDArray, _: T.Type, _ out: inout NDArray) throws {
    try Kernels.zip(x, z, T.self, T.self, into: &out) { Self.loss($0, $1) }
  }
  /// `[g · (σ(x) - z), g · (-x)]`.
  public func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] {
    guard let g = upstream[0] else { return [nil, nil] }
    let x = op.inputs[0], z = op.inputs[1]
    return [try g * (sigmoid(x) - z), try g * (-x)]
  }
}

/// The per-element sigmoid cross-entropy of `logits` against `labels` in `[0, 1]`,
/// `max(x, 0) - x·z + log(1 + e^(-|x|))` (`tf.nn.sigmoid_cross_entropy_with_logits`).
public func sigmoidCrossEntropyWithLogits(
  logits: Tensor, labels: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line
) throws -> Tensor {
  try logits.graph.apply(SigmoidCrossEntropy(), [logits, labels], name: name, location: logits.graph.location(file, line))
}
