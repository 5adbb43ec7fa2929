import ArrayCore
import GraphCore

/// Rescales a list of gradients so their global norm is at most `clipNorm`
/// (`tf.clip_by_global_norm`, Pascanu, Mikolov & Bengio 2013, "On the difficulty of training
/// recurrent neural networks"):
///
/// ```
/// globalNorm = √(Σᵢ Σ gᵢ²)
/// gᵢ ← gᵢ · clipNorm / max(globalNorm, clipNorm)
/// ```
///
/// Gradients whose global norm is already at most `clipNorm` are unchanged (the factor is 1).
/// Use it between ``Optimizer/computeGradients(_:variables:file:line:)`` and
/// ``Optimizer/applyGradients(_:name:location:)`` (see
/// ``clipByGlobalNorm(_:clipNorm:file:line:)-([GradientAndVariable],_,_,_)``). Unlike TF, a
/// non-finite global norm is not turned into NaN gradients: run the session with
/// `checkNumerics` to catch it.
///
/// - Returns: the clipped gradients and the global norm before clipping (a scalar).
/// - Throws: ``GraphError/invalidArgument(op:reason:location:)`` when the list is empty, the
///   gradients have different graphs or dtypes, or `clipNorm` is not finite and positive (also
///   in the gradients' dtype: `1e-50` is 0 in float32, and the scale `0 / 0` NaN).
public func clipByGlobalNorm(
  _ gradients: [Tensor], clipNorm: Double, file: StaticString = #fileID, line: UInt = #line
) throws -> ([Tensor], globalNorm: Tensor) {
  let op = "ClipByGlobalNorm"
  let loc = SourceLocation(file, line)
  try validateHyperparameter(clipNorm, "clipNorm", of: op, open: true, file: file, line: line)
  guard let first = gradients.first else {
    throw GraphError.invalidArgument(op: op, reason: "no gradients to clip", location: loc)
  }
  let graph = first.graph
  for g in gradients {
    // Eager values meet whatever eager graph holds them (a tape's gradients, a layer's variables).
    guard g.canMeet(first) else { throw GraphError.foreignTensor(op: op, tensor: g.name, location: loc) }
    guard g.dtype == first.dtype, g.dtype.isFloatingPoint else {
      throw GraphError.invalidArgument(
        op: op, reason: "gradients must share one float dtype: '\(first.name)' is \(first.dtype), '\(g.name)' is \(g.dtype)",
        location: loc)
    }
  }
  try checkParameter(clipNorm, "clipNorm", in: first.dtype, positive: true, op: op, location: loc)
  return try graph.withNameScope("clip_by_global_norm") {
    var total = try sum(square(first), file: file, line: line)
    for g in gradients.dropFirst() { total = try total + sum(square(g), file: file, line: line) }
    let norm = try sqrt(total, name: "global_norm", file: file, line: line)
    // max(n, c) = c + relu(n - c): exactly c when n ≤ c, so unclipped gradients are untouched.
    let denominator = try relu(norm - clipNorm, file: file, line: line) + clipNorm
    let scale = try clipNorm / denominator
    return (try gradients.map { try $0 * scale }, globalNorm: norm)
  }
}

/// Clips the gradients of `(gradient, variable)` pairs by their global norm (see
/// ``clipByGlobalNorm(_:clipNorm:file:line:)-([Tensor],_,_,_)``):
///
/// ```swift
/// let pairs = try optimizer.computeGradients(loss)
/// let (clipped, norm) = try clipByGlobalNorm(pairs, clipNorm: 1)
/// let train = try optimizer.applyGradients(clipped, name: "train", location: SourceLocation(#fileID, #line))
/// ```
public func clipByGlobalNorm(
  _ pairs: [GradientAndVariable], clipNorm: Double, file: StaticString = #fileID, line: UInt = #line
) throws -> ([GradientAndVariable], globalNorm: Tensor) {
  let (clipped, norm) = try clipByGlobalNorm(pairs.map(\.gradient), clipNorm: clipNorm, file: file, line: line)
  return (zip(clipped, pairs).map { GradientAndVariable(gradient: $0, variable: $1.variable) }, norm)
}
