import ArrayCore
import RealModule

/// Sigmoid cross-entropy on logits, fused for numerical stability
/// (`SigmoidCrossEntropyWithLogits`, `tf.nn.sigmoid_cross_entropy_with_logits`):
///
/// `ℓ(x, z) = max(x, 0) - x·z + log(1 + e^(-|x|))`,
///
/// which equals `-z·log σ(x) - (1-z)·log(1 - σ(x))` but never overflows. It is an elementwise
/// function of its own (not a composite) because that form is stable where the composite is not.
/// Gradients: `∂ℓ/∂x = σ(x) - z`, `∂ℓ/∂z = -x`; logits and labels broadcast.
public struct SigmoidCrossEntropy: BinaryFunction {
  /// Creates the function.
  public init() {}
  /// `SigmoidCrossEntropyWithLogits`.
  public var typeName: String { "SigmoidCrossEntropyWithLogits" }
  /// `max(x, 0) - x·z + log(1 + e^(-|x|))` for logit `x` and label `z`.
  @inlinable public func callAsFunction<T: FloatElement>(_ x: T, _ z: T) -> T {
    Swift.max(x, 0) - x * z + T.log(onePlus: T.exp(-Swift.abs(x)))
  }
  /// `(g · (σ(x) - z), g · (-x))` (the definition: ``gradient(_:x:y:z:needed:)``).
  public func gradient(_ g: Tensor, x: Tensor, y: Tensor, z: Tensor) throws -> (Tensor?, Tensor?) {
    try gradient(g, x: x, y: y, z: z, needed: (true, true))
  }
  /// `(g · (σ(x) - z), g · (-x))`, each only when `needed`.
  public func gradient(_ g: Tensor, x: Tensor, y z: Tensor, z _: Tensor, needed: (x: Bool, y: Bool)) throws -> (Tensor?, Tensor?) {
    try (needed.x ? g * (sigmoid(x) - z) : nil, needed.y ? g * (-x) : nil)
  }
}

/// The per-element sigmoid cross-entropy of `logits` against `labels` in `[0, 1]`,
/// `max(x, 0) - x·z + log(1 + e^(-|x|))` (`tf.nn.sigmoid_cross_entropy_with_logits`).
public func sigmoidCrossEntropyWithLogits(
  logits: Tensor, labels: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line
) throws -> Tensor {
  try binary(SigmoidCrossEntropy(), logits, labels, name: name, file: file, line: line)
}
