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
  // The tensors are read in place, by index, here and below: a `for y in ys` loop copies each
  // tensor, a retain and a release of its graph (an eager step walks a tape at every step).
  guard let graph = !ys.isEmpty ? ys[0].graph : !xs.isEmpty ? xs[0].graph : nil else { return [] }
  for i in ys.indices { try graph.check(ys[i], op: "gradients", location: location) }
  for i in xs.indices { try graph.check(xs[i], op: "gradients", location: location) }
  if let seeds = gradientSeeds { for i in seeds.indices { try graph.check(seeds[i], op: "gradients", location: location) } }
  for i in ys.indices where !ys[i].dtype.isFloatingPoint {
    throw GraphError.invalidArgument(
      op: "gradients", reason: "cannot differentiate '\(ys[i].name)' of dtype \(ys[i].dtype)", location: location)
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

  // The nodes are read in place (`graph.nodes[id]`), never copied: a local copy of the array
  // would make the first gradient operation appended copy the whole array (every node's arrays
  // and primitive retained), which an eager tape pays at each gradient.
  var top = 0
  for i in ys.indices { top = max(top, ys[i].node + 1) }
  // The walk's arrays: an eager graph's store keeps them, emptied, from walk to walk (a tape
  // per step walks once: four arrays allocated per step otherwise); a nested walk, finding
  // them taken, makes its own.
  var scratch = graph.eager?.takeWalkScratch() ?? WalkScratch()
  defer { graph.eager?.keepWalkScratch(&scratch) }
  // Which nodes depend on some x (through data inputs)?
  scratch.dependsOnX.reset(first: top, to: false)
  scratch.isX.reset(first: top, to: false)
  var lowest = top
  for i in xs.indices where xs[i].node < top {
    scratch.dependsOnX[xs[i].node] = true
    scratch.isX[xs[i].node] = true
    lowest = min(lowest, xs[i].node)
  }
  if lowest < top {
    for id in lowest..<top where !scratch.dependsOnX[id] {
      scratch.dependsOnX[id] = graph.nodes[id].inputs.contains { scratch.dependsOnX[$0.node] }
    }
  }
  var terms = GradientTerms(graph: graph, lowest: lowest, top: top, scratch: &scratch)
  defer { terms.giveBack(to: &scratch) }

  graph.gradientDepth += 1
  let savedLocation = graph.gradientLocation
  graph.gradientLocation = location
  // An eager graph's gradient operations go where the running tape says (`Graph.target`): read
  // once for the walk, not once per operation (the definitions open no scope of their own).
  let savedWalkTape = graph.walkTape
  if graph.mode != .symbolic { graph.walkTape = .some(EagerScope.tape) }
  defer {
    graph.gradientDepth -= 1
    graph.gradientLocation = savedLocation
    graph.walkTape = savedWalkTape
  }

  return try graph.withNameScope("gradients") {
    // The upstream gradients, moved out of the scratch into a local of the walk: a stored array of
    // the captured scratch, passed to a gradient definition, is retained and released around the
    // call (atomically, per node walked).
    var upstream: [Tensor?] = []
    swap(&upstream, &scratch.upstream)
    defer { swap(&upstream, &scratch.upstream) }
    for i in ys.indices where scratch.dependsOnX[ys[i].node] {
      // The first name is a literal (an interpolation per call costs hundreds of instructions,
      // which an eager tape pays at every gradient).
      let seed = try gradientSeeds?[i] ?? onesLike(ys[i], name: i == 0 ? "grad_ys_0" : "grad_ys_\(i)")
      if let k = terms.index(ys[i].node, ys[i].output) { terms.append(seed, at: k) }
    }

    for id in stride(from: top - 1, through: lowest, by: -1) where scratch.dependsOnX[id] {
      let first = terms.first(of: id)
      let outputCount = graph.nodes[id].outputs.count
      guard (first..<first + outputCount).contains(where: { terms.hasTerms($0) }) else { continue }
      // The node's inputs and primitive, read once through the array's buffer (a copy of two
      // inline references and of the primitive's box; the node array grows as gradient
      // operations are appended, so nothing is borrowed across them).
      let (inputs, primitive) = graph.nodes.withUnsafeBufferPointer { ($0[id].inputs, $0[id].primitive) }
      let inputCount = inputs.count
      // A leaf passes no gradient on (an x's total is read at the end).
      if inputCount == 0 { continue }
      let op = Operation(graph: graph, id: id)
      // Each node's totals are read once, here, so they are moved out of the terms (no
      // reference counting of the tensors), except an x's, which are read again at the end.
      let taking = !scratch.isX[id]
      // Eager tapes do not name operations: no scope string to build.
      let scope = graph.mode == .tape ? "" : "\(lastComponent(graph.nodes[id].name))_grad"
      // One array for every node's upstream gradients, refilled (no array per node; in place
      // when the count is the last node's, as it mostly is: emptying it is a generic loop). A
      // tape names nothing, so it needs no scope (and no closure capturing the array); a graph
      // sums several terms inside the node's scope, into a new array.
      if graph.mode == .tape {
        if upstream.count == outputCount {
          for o in 0..<outputCount { upstream[o] = try terms.total(first + o, taking: taking) }
        } else {
          upstream.removeAllKeepingCapacity()
          for k in first..<first + outputCount { upstream.append(try terms.total(k, taking: taking)) }
        }
      } else {
        upstream = try graph.withNameScope(scope) {
          var totals: [Tensor?] = []
          totals.reserveCapacity(outputCount)
          for k in first..<first + outputCount { totals.append(try terms.total(k, taking: taking)) }
          return totals
        }
      }
      var results: [Tensor?]
      if graph.mode == .symbolic {
        let upstream = upstream
        results = try graph.withNameScope(scope) { try primitive.gradient(of: op, upstream: upstream) }
      } else {
        // An eager tape computes each gradient operation as it is built: only the inputs whose
        // gradient the walk uses below are asked for (a symbolic graph keeps every one, as
        // TF1's, and its session runs only those fetched).
        var needed = InputMask(bits: 0)
        for i in 0..<min(inputCount, 64) where scratch.dependsOnX[inputs[i].node] && terms.index(inputs[i].node, inputs[i].output) != nil {
          needed.bits |= 1 << UInt64(i)
        }
        results = try primitive.gradient(of: op, upstream: upstream, needed: needed)
      }
      guard results.count == inputCount else {
        throw GraphError.invalidArgument(
          op: primitive.typeName,
          reason: "gradient returned \(results.count) values for \(inputCount) inputs", location: location)
      }
      for i in results.indices {
        let input = inputs[i]
        // Moved out of the results (no reference counting), as each is used once.
        guard scratch.dependsOnX[input.node], let k = terms.index(input.node, input.output), var g = results[i].take()
        else { continue }
        // Un-broadcasting, in one place: sum the gradient back to the input's shape.
        // (Read from the walked graph's nodes when `g` is of the walked graph, as it is unless
        // another tape records the gradients: `g.shape` retains and releases `g`'s graph.)
        let fits =
          g.graph === graph && g.exists
          ? graph.nodes[g.node].outputs[g.output].shape.isFullyKnown
            && graph.nodes[g.node].outputs[g.output].shape == graph.nodes[input.node].outputs[input.output].shape
          : g.shape.isFullyKnown && g.shape == graph.nodes[input.node].outputs[input.output].shape
        if !fits {
          let x = Tensor(graph: graph, node: input.node, output: input.output)
          g = try graph.withNameScope(scope) { try sumToShapeOf(g, x) }
        }
        terms.append(g, at: k)
      }
    }

    return try xs.map { x in
      if let k = terms.index(x.node, x.output), let sum = try terms.total(k) { return sum }
      return unconnected == .zero && x.dtype.isFloatingPoint ? try zerosLike(x) : nil
    }
  }
}

/// The gradient walker's arrays, kept between walks by an eager graph's store
/// (``EagerStore/takeWalkScratch()``). A walk uses the first elements it needs, reset in place
/// (``Swift/Array/reset(first:to:)``); the arrays keep their length from walk to walk, so that
/// neither emptying them nor refilling them runs the standard library's generic range
/// replacement (about 1,400 instructions per eager step for five arrays).
struct WalkScratch {
  /// Per node below the top: whether it depends on some x.
  var dependsOnX: [Bool] = []
  /// ``GradientTerms``'s term-list starts.
  var slot: [Int] = []
  /// ``GradientTerms``'s first terms.
  var firstTerm: [Tensor?] = []
  /// One node's upstream gradients.
  var upstream: [Tensor?] = []
  /// Per node below the top: whether it is one of the xs.
  var isX: [Bool] = []

  /// Lets go of every tensor held (so no graph is kept alive by its own store), keeping the
  /// arrays and their lengths.
  mutating func clear() {
    firstTerm.withUnsafeMutableBufferPointer { terms in
      for i in terms.indices where terms[i] != nil { terms[i] = nil }
    }
    upstream.removeAllKeepingCapacity()
  }
}

extension Array {
  /// Sets the first `count` elements to `value`, appending as many as are missing; elements
  /// after them are left as they are (the gradient walker's kept arrays).
  @inline(__always) mutating func reset(first count: Int, to value: Element) {
    let kept = Swift.min(self.count, count)
    withUnsafeMutableBufferPointer { $0[..<kept].update(repeating: value) }
    if kept < count { append(contentsOf: repeatElement(value, count: count - kept)) }
  }
}

/// The gradient terms reaching each output of the nodes `lowest..<top` (the only ones that can
/// depend on an x), in arrival order: output `o` of node `id` has term list
/// `slot[id - lowest] + o`, whose first term is in `first` and any further ones, in order, in
/// `more` (most outputs get one term: no array per output). A struct with mutating methods, not
/// closures over local variables, so that nothing is boxed and no access is checked at run time.
private struct GradientTerms {
  private var slot: [Int]
  private var firstTerm: [Tensor?]
  private var more: [Int: [Tensor]] = [:]
  private let lowest: Int
  private let top: Int
  private unowned(unsafe) let graph: Graph

  /// The lists of the nodes `lowest..<top`, in the arrays of `scratch` (moved out of it, empty;
  /// ``giveBack(to:)`` returns them).
  init(graph: Graph, lowest: Int, top: Int, scratch: inout WalkScratch) {
    self.graph = graph
    self.lowest = lowest
    self.top = top
    slot = []
    firstTerm = []
    swap(&slot, &scratch.slot)
    swap(&firstTerm, &scratch.firstTerm)
    // Every start is written below; the terms are nil already where the last walk left them
    // (``WalkScratch/clear()``), so only missing ones are appended.
    if slot.count < top - lowest + 1 { slot.append(contentsOf: repeatElement(0, count: top - lowest + 1 - slot.count)) }
    slot[0] = 0
    for id in lowest..<top { slot[id - lowest + 1] = slot[id - lowest] + graph.nodes[id].outputs.count }
    let terms = slot[top - lowest]
    if firstTerm.count < terms { firstTerm.append(contentsOf: repeatElement(nil, count: terms - firstTerm.count)) }
  }

  /// Moves the arrays back into `scratch`.
  mutating func giveBack(to scratch: inout WalkScratch) {
    swap(&slot, &scratch.slot)
    swap(&firstTerm, &scratch.firstTerm)
  }

  /// The term list of node `id`'s first output.
  func first(of id: Int) -> Int { slot[id - lowest] }

  /// The term list of `output` of `node`, if the node is in range and has that output.
  /// (The node's output count is the width of its slot range: reading it from the graph's node
  /// array here copied the whole node, a retain and a release of each of its fields.)
  func index(_ node: Int, _ output: Int) -> Int? {
    node >= lowest && node < top && output >= 0 && output < slot[node - lowest + 1] - slot[node - lowest]
      ? slot[node - lowest] + output : nil
  }

  /// Whether list `k` has a term.
  func hasTerms(_ k: Int) -> Bool { firstTerm[k] != nil }

  /// Adds `term` at the end of list `k`.
  mutating func append(_ term: consuming Tensor, at k: Int) {
    if firstTerm[k] == nil { firstTerm[k] = term } else { more[k, default: []].append(term) }
  }

  /// The sum of list `k`'s terms in arrival order (`((t₀ + t₁) + t₂)...`), `nil` for none. With
  /// `taking`, the first term is moved out of the list instead of copied (the walk reads a
  /// node's totals once; an x's are read again at the end, so they are not taken).
  mutating func total(_ k: Int, taking: Bool = false) throws -> Tensor? {
    guard var sum = taking ? firstTerm[k].take() : firstTerm[k] else { return nil }
    // Most outputs get one term: no dictionary lookup (a hash) then.
    if more.isEmpty { return sum }
    for t in more[k] ?? [] { sum = try sum + t }
    return sum
  }
}

extension PartialShape {
  /// Whether every size is known (``concrete`` without building the shape).
  var isFullyKnown: Bool { !dimensions.contains(nil) }
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

private func lastComponent(_ name: String) -> String {
  name.split(separator: "/").last.map(String.init) ?? name
}
