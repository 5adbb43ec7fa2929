import ArrayCore

/// Symbolic reverse-mode differentiation (TF1's `tf.gradients`): adds operations to the graph
/// that compute `∂(Σᵢ Σ yᵢ·seedᵢ)/∂xⱼ` for each `xⱼ`, and returns them as ordinary tensors, which
/// a session fetches like any other and which can be differentiated again.
///
/// The walk visits the operations between `xs` and `ys` in reverse creation order. Each
/// operation's gradients come from its primitive's
/// ``Primitive/gradient(of:upstream:)``; gradients reaching a tensor along several paths are
/// added; and a gradient whose shape may differ from its input's (broadcasting) is summed back
/// to the input's shape here, in this one place.
///
/// - Parameters:
///   - ys: The tensors to differentiate (float). A non-scalar `y` is summed, as in TF1.
///   - xs: The tensors to differentiate with respect to.
///   - gradientSeeds: Optional `∂L/∂yᵢ` to start from (TF1's `grad_ys`); ones by default.
///   - unconnected: What an `x` that no `y` depends on gets: `nil` (`.none`, the default, as
///     TF1) or zeros of its shape (`.zero`, TF2's `unconnected_gradients=ZERO`, what JAX and
///     PyTorch users compare with).
/// - Returns: One gradient per `x`, with `x`'s shape, or `nil` when `x` does not affect any `y`
///   and `unconnected` is `.none`.
/// - Throws: ``GraphError`` when tensors belong to different graphs, a `y` is not float, or a
///   seed's dtype or rank differs from its `y`'s, or one of its known sizes differs from the
///   same known size of `y` (a seed must have `y`'s shape, not merely broadcast to it; sizes
///   unknown when building are not compared).
public func gradients(
  of ys: [Tensor], withRespectTo xs: [Tensor], gradientSeeds: [Tensor]? = nil,
  unconnected: UnconnectedGradients = .none, file: StaticString = #fileID, line: UInt = #line
) throws -> [Tensor?] {
  let location = SourceLocation(file, line)
  guard let graph = ys.first?.graph ?? xs.first?.graph else { return [] }
  for t in ys + xs + (gradientSeeds ?? []) { try graph.check(t, op: "gradients", location: location) }
  for y in ys where !y.dtype.isFloatingPoint {
    throw GraphError.invalidArgument(
      op: "gradients", reason: "cannot differentiate '\(y.name)' of dtype \(y.dtype)", location: location)
  }
  if let seeds = gradientSeeds {
    guard seeds.count == ys.count else {
      throw GraphError.invalidArgument(
        op: "gradients", reason: "\(seeds.count) gradient seeds for \(ys.count) tensors", location: location)
    }
    // A seed's known sizes must equal y's (a seed that merely broadcasts to y would scale the
    // gradient silently: a [2, 3] seed for a [1, 3] output gives twice the gradient).
    func clashes(_ s: Tensor, _ y: Tensor) -> Bool {
      s.dtype != y.dtype || s.shape.rank != y.shape.rank
        || zip(s.shape.dimensions, y.shape.dimensions).contains { a, b in a != nil && b != nil && a != b }
    }
    for (s, y) in zip(seeds, ys) where clashes(s, y) {
      throw GraphError.invalidArgument(
        op: "gradients",
        reason: "seed '\(s.name)' \(s.dtype) \(s.shape) does not match '\(y.name)' \(y.dtype) \(y.shape)",
        location: location)
    }
  }

  let nodes = graph.nodes
  let top = (ys.map(\.node).max() ?? -1) + 1
  // Which nodes depend on some x (through data inputs)?
  var dependsOnX = [Bool](repeating: false, count: top)
  for x in xs where x.node < top { dependsOnX[x.node] = true }
  let lowest = xs.map(\.node).min() ?? top
  if lowest < top {
    for id in lowest..<top where !dependsOnX[id] {
      dependsOnX[id] = nodes[id].inputs.contains { dependsOnX[$0.node] }
    }
  }

  graph.gradientDepth += 1
  let savedLocation = graph.gradientLocation
  graph.gradientLocation = location
  defer {
    graph.gradientDepth -= 1
    graph.gradientLocation = savedLocation
  }

  return try graph.withNameScope("gradients") {
    var pending: [ValueRef: [Tensor]] = [:]
    for (i, y) in ys.enumerated() where dependsOnX[y.node] {
      let seed = try gradientSeeds?[i] ?? onesLike(y, name: "grad_ys_\(i)")
      pending[ValueRef(node: y.node, output: y.output), default: []].append(seed)
    }

    for id in stride(from: top - 1, through: 0, by: -1) where dependsOnX[id] {
      let node = nodes[id]
      let refs = node.outputs.indices.map { ValueRef(node: id, output: $0) }
      guard refs.contains(where: { pending[$0] != nil }) else { continue }
      let op = Operation(graph: graph, id: id)
      // Eager tapes do not name operations: no scope string to build.
      let scope = graph.mode == .tape ? "" : "\(lastComponent(node.name))_grad"
      let upstream: [Tensor?] = try graph.withNameScope(scope) {
        try refs.map { ref in try pending[ref].map { try addAll($0) } }
      }
      if node.inputs.isEmpty { continue }
      let results = try graph.withNameScope(scope) {
        try node.primitive.gradient(of: op, upstream: upstream)
      }
      guard results.count == node.inputs.count else {
        throw GraphError.invalidArgument(
          op: node.primitive.typeName,
          reason: "gradient returned \(results.count) values for \(node.inputs.count) inputs", location: location)
      }
      for (input, grad) in zip(node.inputs, results) {
        guard var g = grad, dependsOnX[input.node] else { continue }
        let x = Tensor(graph: graph, node: input.node, output: input.output)
        // Un-broadcasting, in one place: sum the gradient back to the input's shape.
        if !(g.shape.concrete != nil && g.shape == x.shape) {
          g = try graph.withNameScope(scope) { try sumToShapeOf(g, x) }
        }
        pending[input, default: []].append(g)
      }
    }

    return try xs.map { x in
      if let terms = pending[ValueRef(node: x.node, output: x.output)] { return try addAll(terms) }
      return unconnected == .zero && x.dtype.isFloatingPoint ? try zerosLike(x) : nil
    }
  }
}

/// What ``gradients(of:withRespectTo:gradientSeeds:unconnected:file:line:)`` returns for a
/// tensor the differentiated ones do not depend on (TF2's `tf.UnconnectedGradients`).
public enum UnconnectedGradients: Sendable {
  /// `nil` (TF1's `None`).
  case none
  /// Zeros of the tensor's shape and dtype.
  case zero
}

/// The gradient of one tensor with respect to several: `gradients(of: [y], withRespectTo: xs)`.
public func gradients(
  of y: Tensor, withRespectTo xs: [Tensor], unconnected: UnconnectedGradients = .none,
  file: StaticString = #fileID, line: UInt = #line
) throws -> [Tensor?] {
  try gradients(of: [y], withRespectTo: xs, gradientSeeds: nil, unconnected: unconnected, file: file, line: line)
}

/// The gradient of `y` (summed if not scalar) with respect to one tensor `x`, or `nil` when `y`
/// does not depend on `x`.
public func gradient(
  of y: Tensor, withRespectTo x: Tensor, file: StaticString = #fileID, line: UInt = #line
) throws -> Tensor? {
  try gradients(of: [y], withRespectTo: [x], gradientSeeds: nil, file: file, line: line)[0]
}

private func addAll(_ terms: [Tensor]) throws -> Tensor {
  var total = terms[0]
  for t in terms.dropFirst() { total = try total + t }
  return total
}

private func lastComponent(_ name: String) -> String {
  name.split(separator: "/").last.map(String.init) ?? name
}
