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
  /// `max(x, 0) - x·z + log(1 + e^(-|x|))` for logit `x` and label `z`, through the package's
  /// own exponential and log1p (`Kernels.sigmoidCrossEntropy(_:_:)` (one pair)).
  @inlinable public func callAsFunction<T: FloatElement>(_ x: T, _ z: T) -> T { Kernels.sigmoidCrossEntropy(x, z) }
  /// The vectorized kernel (``Kernels/sigmoidCrossEntropy(_:_:into:)``) for logits and labels of
  /// one shape and float dtype; otherwise (broadcasting) the zip of ``callAsFunction(_:_:)``.
  /// The same bits either way.
  public func evaluate(_ x: NDArray, _ z: NDArray, into out: inout NDArray) throws {
    if x.shape == z.shape && x.dtype == z.dtype && (x.dtype == .float32 || x.dtype == .float64) {
      try Kernels.sigmoidCrossEntropy(x, z, into: &out)
      return
    }
    guard x.dtype == z.dtype else { throw ShapeError("\(typeName): dtypes \(x.dtype) and \(z.dtype) differ") }
    switch x.dtype {
    case .float32: try Kernels.zip(x, z, Float.self, Float.self, into: &out) { Kernels.sigmoidCrossEntropy($0, $1) }
    case .float64: try Kernels.zip(x, z, Double.self, Double.self, into: &out) { Kernels.sigmoidCrossEntropy($0, $1) }
    default: throw ShapeError("\(typeName) needs float inputs, got \(x.dtype)")
    }
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
