import ArrayCore
import GraphCore

/// Any ``Optimizer`` applied to eager parameters (PyTorch's `optimizer.step()`, mlx-swift's
/// `optimizer.update(model:gradients:)`): arrays you hold, or the variables of an eager graph
/// (``GraphCore/Graph/eager()``, a layer's).
///
/// The update is the optimizer's own: on the first call it builds, once, a small graph with a
/// variable per parameter, a placeholder per gradient and the optimizer's
/// ``Optimizer/applyGradients(_:name:location:)`` (with its slots, such as Adam's moments, and
/// its step counter), and each call runs it as a prepared step. So an eager run takes exactly the
/// graph run's steps, and the state persists from call to call as in the graph.
///
/// ```swift
/// let optimizer = EagerOptimizer(try AdamOptimizer(learningRate: 0.01))
/// var parameters = [w, b]
/// for batch in batches {
///   let (loss, grads) = try valueWithGradient(at: parameters) { p in try model(p, batch) }
///   try optimizer.update(&parameters, along: grads)
/// }
/// ```
///
/// Update from one thread at a time, as a graph is built from one thread (it may move between
/// threads and tasks): the first call sets the optimizer's state without a lock, and eager
/// variables are not locked while they are updated.
public final class EagerOptimizer<O: Optimizer>: @unchecked Sendable {
  /// The optimizer whose update rule is applied.
  public let optimizer: O
  private var state: State?
  /// The eager variables the slots belong to, from the first successful
  /// ``update(_:along:file:line:)-(_,[Tensor],_,_)`` (an array list has no identity: by position).
  private var boundVariables: [Tensor]?
  /// The eager variables of the first update, if any.
  var boundVariablesOrNil: [Tensor]? { boundVariables }

  /// The update's graph, built on the first call (a class: each update reads it with one
  /// reference count instead of one per field).
  private final class State {
    let dtypes: [DType]
    let shapes: [Shape]
    let session: Session
    let variables: [Tensor]
    let step: PreparedStep

    init(dtypes: [DType], shapes: [Shape], session: Session, variables: [Tensor], step: PreparedStep) {
      self.dtypes = dtypes
      self.shapes = shapes
      self.session = session
      self.variables = variables
      self.step = step
    }
  }

  /// Wraps `optimizer`.
  public init(_ optimizer: O) { self.optimizer = optimizer }

  /// Updates `parameters` in place from `gradients` (one per parameter, same dtype and shape).
  /// The parameters' dtypes and shapes are fixed by the first call (the optimizer's slots are
  /// theirs).
  /// - Throws: ``GraphCore/GraphError/invalidArgument(op:reason:location:)`` when the counts,
  ///   dtypes or shapes differ from the first call's or from each other.
  public func update(
    _ parameters: inout [NDArray], along gradients: [NDArray], file: StaticString = #fileID, line: UInt = #line
  ) throws {
    let location = SourceLocation(file, line)
    guard parameters.count == gradients.count else {
      throw GraphError.invalidArgument(
        op: "EagerOptimizer.update", reason: "\(parameters.count) parameters but \(gradients.count) gradients",
        location: location)
    }
    for i in parameters.indices where parameters[i].dtype != gradients[i].dtype || parameters[i].shape != gradients[i].shape {
      let (p, g) = (parameters[i], gradients[i])
      throw GraphError.invalidArgument(
        op: "EagerOptimizer.update",
        reason: "parameter \(i) is \(p.dtype) \(p.shape) but its gradient is \(g.dtype) \(g.shape)", location: location)
    }
    let state = try prepared(for: parameters, location: location)
    // The parameters are moved into the session (no copy: the arrays are not shared while
    // updated in place) for the optimizer's step, and moved back (also when the step throws).
    try state.step.run(feeds: gradients, lending: &parameters, to: state.variables)
  }

  /// Updates eager variables (a layer's ``Layer/variables`` in a ``GraphCore/Graph/eager()``
  /// graph) from their gradients, as eager tensors or arrays. The optimizer's slots (Adam's
  /// moments...) belong to the variables of the first call (PyTorch keys them by parameter):
  /// later calls pass the same variables, in the same order.
  /// - Throws: as ``update(_:along:file:line:)-(_,[NDArray],_,_)``,
  ///   ``GraphCore/GraphError/notAVariable(op:tensor:location:)`` when a tensor is not an eager
  ///   variable, and ``GraphCore/GraphError/invalidArgument(op:reason:location:)`` for other
  ///   variables than the first call's (even of the same shapes: they would share its slots).
  public func update(
    _ variables: [Tensor], along gradients: [Tensor], file: StaticString = #fileID, line: UInt = #line
  ) throws {
    let location = SourceLocation(file, line)
    for v in variables where !(v.isEager && v.isVariable) {
      throw GraphError.notAVariable(op: "EagerOptimizer.update", tensor: v.name, location: location)
    }
    if let boundVariables, boundVariables != variables {
      throw GraphError.invalidArgument(
        op: "EagerOptimizer.update",
        reason: "this optimizer updates the variables \(boundVariables.map(\.name)), got \(variables.map(\.name)); "
          + "its slots belong to those (use one optimizer per variable list)",
        location: location)
    }
    // Gradients of a compile trace have no values while it is traced (the update would run once,
    // at tracing time): the compiled function returns them, and the caller updates with its
    // results.
    for g in gradients where !g.isEager {
      throw GraphError.invalidArgument(
        op: "EagerOptimizer.update",
        reason: "'\(g.name)' is a tensor of a graph (a compile trace): return the gradients from the compiled function and update with its results, e.g. optimizer.update(model.variables, along: try step(inputs).map { Tensor($0) })",
        location: location)
    }
    let gradientValues = try gradients.map { try $0.value }
    // Move the values out of the variables (no second reference, so the update is in place, not
    // a copy per variable and step) and back in, also when the update throws.
    var values: [NDArray] = []
    values.reserveCapacity(variables.count)
    defer {
      // Unchecked: the values are the variables' own, moved back (after an update that made NaN
      // or infinity, its checked step has named the operation; the variables keep what it wrote).
      withNumericChecks(false) {
        for (v, value) in zip(variables, values) where !value.isEmptyPlaceholder {
          try? v.assign(value, file: file, line: line)
        }
      }
    }
    for v in variables { values.append(try v.takeEagerValue(op: "EagerOptimizer.update", location: location)) }
    try update(&values, along: gradientValues, file: file, line: line)
    if boundVariables == nil { boundVariables = variables }
  }

  /// The optimizer's state (its slots, such as Adam's moments, and its step counter) under the
  /// names a session's checkpoint gives them for the eager variables it updates
  /// (`dense/kernel/Adam`, `dense/kernel/Adam_1`, `Adam/iterations`): PyTorch's
  /// `optimizer.state_dict()`. Empty before the first update, and for an optimizer of arrays
  /// (they have no names). ``Checkpoint/save(variablesOf:optimizer:to:metadata:)`` writes it
  /// beside the variables.
  /// - Throws: ``GraphCore/SessionError`` if a slot cannot be read.
  public func namedState() throws -> [String: NDArray] {
    guard let state, let variables = boundVariables else { return [:] }
    var named: [String: NDArray] = [:]
    for (slot, name) in stateNames(state, variables) { named[name] = try state.session.value(of: slot) }
    return named
  }

  /// Sets the optimizer's state from `tensors` (as ``namedState()`` names it) for `variables`,
  /// the eager variables it updates from now on (its first update's, when it has made one),
  /// after checking that every slot is there with its dtype and shape; on any difference nothing
  /// changes. `tensors` without any state (an optimizer that never updated, or a file of the
  /// variables alone) leaves the optimizer as it is.
  /// - Parameters:
  ///   - source: the file's name, for errors.
  ///   - ignoring: names of `tensors` that are not the optimizer's (the model's variables).
  /// - Throws: ``GraphCore/CheckpointError`` listing the missing, unexpected and mismatched
  ///   slots; ``GraphCore/GraphError`` when `variables` are not eager variables or not the ones
  ///   the optimizer updates.
  public func restoreState(
    _ tensors: [String: NDArray], for variables: [Tensor], source: String = "<checkpoint>", ignoring: Set<String> = [],
    file: StaticString = #fileID, line: UInt = #line
  ) throws {
    try checkedRestore(tensors.filter { !ignoring.contains($0.key) }, for: variables, source: source, location: SourceLocation(file, line))?()
  }

  /// Checks `saved` as ``restoreState(_:for:source:ignoring:file:line:)`` does and returns what
  /// sets it (`nil` when there is no state to set), so that a checkpoint checks everything before
  /// it sets anything.
  func checkedRestore(
    _ saved: [String: NDArray], for variables: [Tensor], source: String, location: SourceLocation
  ) throws -> (() throws -> Void)? {
    guard !saved.isEmpty else { return nil }
    for v in variables where !(v.isEager && v.isVariable) {
      throw GraphError.notAVariable(op: "EagerOptimizer.restoreState", tensor: v.name, location: location)
    }
    if let boundVariables, boundVariables != variables {
      throw GraphError.invalidArgument(
        op: "EagerOptimizer.restoreState",
        reason: "this optimizer updates the variables \(boundVariables.map(\.name)), got \(variables.map(\.name))", location: location)
    }
    let state = try prepared(for: variables.map { try $0.value }, location: location)
    let names = stateNames(state, variables)
    var mismatched: [CheckpointError.Mismatch] = []
    for (slot, name) in names {
      guard let value = saved[name] else { continue }
      if value.dtype != slot.dtype || !slot.shape.accepts(value.shape) {
        mismatched.append(.init(name: name, expected: "\(slot.dtype) \(slot.shape)", found: "\(value.dtype) \(value.shape)"))
      }
    }
    let expected = Set(names.map(\.name))
    let missing = names.map(\.name).filter { saved[$0] == nil }
    let unexpected = saved.keys.filter { !expected.contains($0) }.sorted()
    guard missing.isEmpty, unexpected.isEmpty, mismatched.isEmpty else {
      throw CheckpointError(source: source, missing: missing, unexpected: unexpected, mismatched: mismatched)
    }
    return {
      for (slot, name) in names { try state.session.setValue(saved[name]!, for: slot) }
      self.boundVariables = variables
    }
  }

  /// Each variable of the update's graph but the parameters, with its checkpoint name: a slot
  /// `parameter_<i>/<suffix>` becomes `<variable i's name>/<suffix>`; the step counter keeps its.
  private func stateNames(_ state: State, _ variables: [Tensor]) -> [(slot: Tensor, name: String)] {
    let parameters = Set(state.variables)
    return state.session.graph.variables.filter { !parameters.contains($0) }.map { slot in
      let name = slot.operation.name
      guard let i = variables.indices.first(where: { name.hasPrefix("parameter_\($0)/") }) else { return (slot, name) }
      return (slot, variables[i].operation.name + name.dropFirst("parameter_\(i)".count))
    }
  }

  private func prepared(for parameters: [NDArray], location: SourceLocation) throws -> State {
    if let state {
      // Compared field by field (no strings built per update); the strings only for the error.
      // Read in place by index (a `zip` copies each array and shape: reference counts).
      guard state.dtypes.count == parameters.count,
        parameters.indices.allSatisfy({ parameters[$0].dtype == state.dtypes[$0] && parameters[$0].shape == state.shapes[$0] })
      else {
        let signature = parameters.map { "\($0.dtype) \($0.shape)" }
        let expected = zip(state.dtypes, state.shapes).map { "\($0) \($1)" }
        throw GraphError.invalidArgument(
          op: "EagerOptimizer.update",
          reason: "this optimizer updates parameters \(expected), got \(signature) (use one optimizer per parameter list)",
          location: location)
      }
      return state
    }
    let graph = Graph()
    var variables: [Tensor] = []
    var pairs: [GradientAndVariable] = []
    var placeholders: [Tensor] = []
    for (i, p) in parameters.enumerated() {
      let v = try graph.variable(p, name: "parameter_\(i)")
      let g = graph.placeholder(p.dtype, shape: PartialShape(p.shape), name: "gradient_\(i)")
      variables.append(v)
      placeholders.append(g)
      pairs.append(GradientAndVariable(gradient: g, variable: v))
    }
    let train = try optimizer.applyGradients(pairs, name: "update", location: location)
    let session = Session(graph: graph)
    try session.initializeVariables()
    let step = try session.prepare(fetches: [], feeds: placeholders, targets: [train])
    let state = State(
      dtypes: parameters.map(\.dtype), shapes: parameters.map(\.shape), session: session, variables: variables, step: step)
    self.state = state
    return state
  }
}

extension Checkpoint {
  /// Writes the variables of an eager graph and the state of the eager optimizer that trains
  /// them (``EagerOptimizer/namedState()``: Adam's moments, the step counter) to `path`,
  /// atomically, under the names a session's checkpoint gives them, so that training resumes
  /// exactly (PyTorch's `torch.save({"model": ..., "optimizer": optimizer.state_dict()})`), in
  /// eager code or in a session of the same model.
  /// - Throws: as ``GraphCore/Checkpoint/save(variablesOf:to:metadata:)``.
  public static func save<O: Optimizer>(
    variablesOf graph: Graph, optimizer: EagerOptimizer<O>, to path: String, metadata: [String: String] = [:]
  ) throws {
    var file = try contents(variablesOf: graph, metadata: metadata)
    for (name, value) in try optimizer.namedState() { file.tensors[name] = value }
    try file.write(toPath: path)
  }

  /// Sets the variables of an eager graph and the state of `optimizer` from the checkpoint at
  /// `path` (written by ``save(variablesOf:optimizer:to:metadata:)``, or by a session training
  /// the same model with the same optimizer), after checking both; on any difference nothing
  /// changes. A file without optimizer state leaves the optimizer as it is.
  /// - Parameter variables: the variables the optimizer updates (by default the ones of its first
  ///   update, or the graph's trainable variables).
  /// - Returns: The file's metadata.
  /// - Throws: ``GraphCore/CheckpointError``, ``ArrayCore/ArrayFileError``, or ``GraphCore/GraphError``.
  @discardableResult
  public static func restore<O: Optimizer>(
    variablesOf graph: Graph, optimizer: EagerOptimizer<O>, updating variables: [Tensor]? = nil, from path: String
  ) throws -> [String: String] {
    let file = try SafetensorsFile(contentsOfFile: path)
    let own = Set(graph.variables.map(\.operation.name))
    let model = SafetensorsFile(tensors: file.tensors.filter { own.contains($0.key) }, metadata: file.metadata)
    let slots = file.tensors.filter { !own.contains($0.key) }
    // The optimizer's state is checked first (nothing is set then), the variables next; the
    // optimizer is set last, once the variables were.
    let updated = variables ?? optimizer.boundVariablesOrNil ?? graph.trainableVariables
    let setOptimizer = try optimizer.checkedRestore(slots, for: updated, source: path, location: SourceLocation(#fileID, #line))
    let metadata = try restore(variablesOf: graph, from: model, source: path)
    try setOptimizer?()
    return metadata
  }
}
