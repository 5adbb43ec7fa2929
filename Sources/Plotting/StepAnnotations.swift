import ArrayCore
import GraphCore

/// Runs one training step and describes, for each small tensor that the picture of
/// `training` draws, its value during that step and, for forward float tensors the loss
/// depends on, the gradient of the loss with respect to it: the numbers of the chain rule, for
/// ``GraphCore/Graph/dot(title:reachingFrom:edgeAnnotations:)``.
///
/// The step is one `session.run` that fetches the tensors and the gradients while running
/// `training` as a target, so every number comes from the same step, before its update. The
/// gradients `∂loss/∂t` are new operations added to the graph by
/// ``gradients(of:withRespectTo:gradientSeeds:file:line:)``; they are not ancestors of
/// `training`, so a picture drawn `reachingFrom: [training]` leaves them out.
///
/// - Parameters:
///   - training: The training operation (its ancestors are annotated).
///   - loss: The loss whose gradients are shown (`∂ = ...`).
///   - session: A session of the graph with initialized variables; it runs one step.
///   - feeds: The step's sample (a dictionary literal, see ``GraphCore/Feeds``).
///   - maxElements: Tensors with more elements (or an unknown shape) get no annotation.
/// - Returns: The value (`[1.05]`) and gradient (`[-18.3]`) of each annotated tensor.
/// - Throws: ``GraphError`` or ``SessionError`` from building the gradients or running the step.
public func stepAnnotations(
  training: Operation, loss: Tensor, session: Session, feeding feeds: Feeds, maxElements: Int = 4
) throws -> [Tensor: EdgeAnnotation] {
  let graph = training.graph
  let included = graph.ancestors(of: [training])
  var tensors: [Tensor] = []
  for op in graph.operations where included[op.id] {
    for t in op.outputs {
      guard let shape = t.shape.concrete, shape.elementCount <= maxElements else { continue }
      tensors.append(t)
    }
  }
  let differentiable = tensors.filter { !$0.operation.isGradient && $0.dtype.isFloatingPoint }
  let grads = try gradients(of: loss, withRespectTo: differentiable)
  var gradientOf: [Tensor: Tensor] = [:]
  var gradientFetches: [Tensor] = []
  for (t, g) in zip(differentiable, grads) {
    guard let g else { continue }
    gradientOf[t] = g
    gradientFetches.append(g)
  }
  let values = try session.run(tensors + gradientFetches, feeding: feeds, targets: [training])
  var valueOf: [Tensor: NDArray] = [:]
  for (t, v) in zip(tensors + gradientFetches, values) { valueOf[t] = v }
  var notes: [Tensor: EdgeAnnotation] = [:]
  for t in tensors {
    guard let v = valueOf[t] else { continue }
    notes[t] = EdgeAnnotation(
      value: describeSmall(v), gradient: gradientOf[t].flatMap { valueOf[$0] }.map(describeSmall))
  }
  return notes
}

/// ``stepAnnotations(training:loss:session:feeding:maxElements:)-(_,_,_,Feeds,_)`` with the
/// step's sample built in code: a `[Tensor: NDArray]` dictionary or any sequence of pairs.
/// - Throws: ``GraphError`` or ``SessionError`` from building the gradients or running the step.
@_disfavoredOverload
public func stepAnnotations<Pairs: Sequence>(
  training: Operation, loss: Tensor, session: Session, feeding feeds: Pairs, maxElements: Int = 4
) throws -> [Tensor: EdgeAnnotation] where Pairs.Element == (key: Tensor, value: NDArray) {
  try stepAnnotations(training: training, loss: loss, session: session, feeding: Feeds(feeds), maxElements: maxElements)
}

/// A small array as nested brackets with 4 significant digits: `[[0.0004474]]`, `3`.
func describeSmall(_ array: NDArray) -> String {
  let values = array.doubles
  let dims = array.shape.dimensions
  func render(_ axis: Int, _ offset: Int) -> (String, Int) {
    if axis == dims.count { return (formatCompact(values[offset], significantDigits: 4), 1) }
    var parts: [String] = []
    var consumed = 0
    for _ in 0..<dims[axis] {
      let (text, n) = render(axis + 1, offset + consumed)
      parts.append(text)
      consumed += n
    }
    return ("[" + parts.joined(separator: ", ") + "]", consumed)
  }
  return values.isEmpty ? "[]" : render(0, 0).0
}

extension Graph {
  /// For each operation, whether it is one of `roots` or an ancestor through data inputs,
  /// control inputs, or the variable an assignment writes.
  func ancestors(of roots: [Operation]) -> [Bool] {
    let all = operations
    var included = [Bool](repeating: false, count: all.count)
    var stack = roots.filter { $0.graph === self }.map(\.id)
    while let id = stack.popLast() {
      guard id < included.count, !included[id] else { continue }
      included[id] = true
      let op = all[id]
      stack += op.inputs.map(\.operation.id) + op.controlInputs.map(\.id)
      if let v = op.assignedVariable { stack.append(v.operation.id) }
    }
    return included
  }
}
