import ArrayCore

/// Records eager operations so that their gradients can be taken (TF2's `tf.GradientTape`,
/// always persistent).
///
/// Values the tape watches, and every operation on them, are recorded in the tape's graph; the
/// gradients are built by the same ``gradients(of:withRespectTo:gradientSeeds:unconnected:file:line:)``
/// as in a symbolic graph, from each primitive's one gradient definition, and computed at once.
/// Because gradients are recorded operations too, they can be differentiated again.
///
/// ```swift
/// let tape = GradientTape()
/// let x = tape.watch(NDArray([Float(3)]))
/// let y = try x * x * x                                     // 27
/// let dy = try tape.gradient(of: y, withRespectTo: [x])[0]  // 3x² = 27
/// let d2y = try tape.gradient(of: dy, withRespectTo: [x])[0] // 6x = 18
/// ```
///
/// Eager values created inside ``record(_:)`` belong to the tape; eager variables (of a
/// ``Graph/eager()`` graph, such as a layer's) used by recorded operations are brought in by
/// value and can be named in ``gradient(of:withRespectTo:file:line:)``.
public final class GradientTape: @unchecked Sendable {
  /// The tape's graph (eager): every recorded operation is one of its nodes.
  public let graph: Graph

  /// Creates an empty tape.
  public init() { graph = Graph(mode: .tape) }

  /// An eager value recorded by the tape, holding `value` (`tape.watch(tf.constant(...))`).
  public func watch(_ value: NDArray, name: String = "x", file: StaticString = #fileID, line: UInt = #line) -> Tensor {
    graph.constant(value, name: name, file: file, line: line)
  }

  /// Brings eager tensors (a layer's variables, values computed elsewhere) into the tape by
  /// value and returns the tape's tensors for them; later uses of the same tensors inside the
  /// tape use these.
  ///
  /// While ``compile(_:)`` traces a function, an eager variable is returned as it is: the
  /// trace reads it at every call, and ``gradient(of:withRespectTo:file:line:)`` answers for it
  /// (a copy by value would be a constant holding its value at tracing time).
  /// - Throws: ``GraphError`` for a symbolic tensor.
  public func watch(_ tensors: [Tensor], file: StaticString = #fileID, line: UInt = #line) throws -> [Tensor] {
    let location = SourceLocation(file, line)
    let tracing = EagerScope.trace != nil
    return try tensors.map { tracing && $0.isEager && $0.isVariable ? $0 : try graph.watch($0, location: location) }
  }

  /// Runs `body` with this tape recording: eager values it creates belong to the tape, and
  /// every eager operation it runs is recorded (TF2's `with tape:`).
  public func record<R>(_ body: () throws -> R) rethrows -> R {
    try EagerScope.withTape(graph) { try body() }
  }

  /// `∂(Σ y)/∂xᵢ` for each `xᵢ`, computed now and recorded (so it can be differentiated again).
  /// An `x` that `y` does not depend on, or that the tape never saw, gets zeros (JAX's
  /// convention; TF2 gives `None`, PyTorch's `torch.autograd.grad` an error unless
  /// `allow_unused=True`, then `None`).
  ///
  /// Inside a ``compile(_:)`` trace, where operations build the trace instead of being recorded,
  /// `y` is the trace's and the gradients are the trace's own operations, with respect to its
  /// tensors or to the eager variables it captured (a layer's), as TF2's `GradientTape` inside a
  /// `tf.function`.
  /// - Parameters:
  ///   - y: A floating-point tensor recorded by this tape (or of the trace being built).
  ///   - xs: Tensors of the tape, or eager tensors the tape brought in (a layer's variables).
  /// - Throws: ``GraphError`` when `y` is not the tape's, not floating point, or an `x` is not eager.
  public func gradient(
    of y: Tensor, withRespectTo xs: [Tensor], file: StaticString = #fileID, line: UInt = #line
  ) throws -> [Tensor] {
    let location = SourceLocation(file, line)
    if y.graph.isTrace {
      try requireFloatingPoint(xs, op: "GradientTape.gradient", location: location)
      return try Self.localGradients(of: y, withRespectTo: xs, in: y.graph, location: location, file: file, line: line)
    }
    guard y.graph === graph else {
      throw GraphError.invalidArgument(
        op: "GradientTape.gradient",
        reason: y.isEager
          ? "'\(y.name)' was not recorded on this tape: compute it inside the tape's record { } or from values the tape watches"
          : "'\(y.name)' is a tensor of a symbolic graph, not of this tape",
        location: location)
    }
    try requireFloatingPoint(xs, op: "GradientTape.gradient", location: location)
    return try record { try Self.localGradients(of: y, withRespectTo: xs, in: graph, location: location, file: file, line: line) }
  }

  /// The gradients of `y`, a tensor of `graph` (this tape, or the ``compile(_:)`` trace being
  /// built), with respect to each `x` as `graph` knows it: its own tensor, or an eager tensor it
  /// brought in (a watched value, a captured variable). An eager `x` that `graph` never read
  /// gets zeros (a constant of `graph`); any other tensor is refused.
  private static func localGradients(
    of y: Tensor, withRespectTo xs: [Tensor], in graph: Graph, location: SourceLocation, file: StaticString, line: UInt
  ) throws -> [Tensor] {
    var locals: [Tensor] = []
    var missing: [Int] = []
    for (i, x) in xs.enumerated() {
      if let local = graph.local(x) {
        locals.append(local)
      } else if x.isEager {
        missing.append(i)
      } else {
        throw GraphError.foreignTensor(op: "GradientTape.gradient", tensor: x.name, location: location)
      }
    }
    var grads = try gradients(of: [y], withRespectTo: locals, unconnected: .zero, file: file, line: line).map { $0! }
    for i in missing {
      let x = xs[i]
      // The known shape, not the value: a variable's value is not read while a function is traced.
      let shape = try x.shape.concrete ?? x.value.shape
      grads.insert(graph.constant(try NDArray.zeros(shape, dtype: x.dtype), name: "zeros"), at: i)
    }
    return grads
  }
}

/// The value of `body` at `xs` and its gradient with respect to each (JAX's `value_and_grad`,
/// mlx-swift's `valueAndGrad`), computed at once.
///
/// ```swift
/// var a = NDArray([Float(0.5)])
/// let (loss, grads) = try valueWithGradient(at: [a]) { p in
///   try square(Tensor(x) * p[0] - 10)
/// }
/// ```
///
/// `body` receives eager tensors holding `xs` and returns a floating-point tensor (summed if it
/// is not a scalar, as `tf.gradients` does). The operations run eagerly on a new tape, with each
/// primitive's one gradient definition: the gradient is bit for bit the graph's.
/// - Returns: The value and one gradient per `x` (zeros where the value does not depend on it).
/// - Throws: what `body` throws, and ``GraphError`` when the value is not floating point.
public func valueWithGradient(
  at xs: [NDArray], file: StaticString = #fileID, line: UInt = #line, of body: ([Tensor]) throws -> Tensor
) throws -> (value: NDArray, gradients: [NDArray]) {
  guard EagerScope.tape == nil else {
    // Inside a running tape: the operations are recorded there (see the tensors' form).
    let tape = GradientTape()
    let inputs = xs.map { tape.watch($0, file: file, line: line) }
    let (value, grads) = try valueWithGradient(at: inputs, file: file, line: line, of: body)
    return (try value.value, try grads.map { try $0.value })
  }
  // The tensors' form for new values on a new tape, without its intermediate arrays (the
  // watched tensors are their own locals; the gradients are read straight into values).
  let location = SourceLocation(file, line)
  let tape = Graph(mode: .tape)
  let inputs = xs.map { tape.constant($0, name: "x", file: file, line: line) }
  try requireFloatingPoint(inputs, op: "valueWithGradient", location: location)
  return try EagerScope.withTape(tape) {
    let y = try tape.adoptValue(try body(inputs), location: location)
    // A backward pass this call site has built before, for the same operations (see
    // `BackwardCache`); else built on the tape, and remembered.
    if let cached = try BackwardCache.gradients(tape: tape, y: y, xs: inputs, file: file, line: line) {
      return (try y.value, cached)
    }
    let forwardCount = tape.nodes.count
    let grads = try gradients(of: [y], withRespectTo: inputs, unconnected: .zero, file: file, line: line)
    var values: [NDArray] = []
    values.reserveCapacity(grads.count)
    for i in grads.indices { values.append(try grads[i]!.value) }
    BackwardCache.remember(tape: tape, forwardCount: forwardCount, y: y, xs: inputs, file: file, line: line)
    return (try y.value, values)
  }
}

/// The value of `body` at `x` and its gradient (one parameter; see
/// ``valueWithGradient(at:file:line:of:)-([NDArray],_,_,_)``).
public func valueWithGradient(
  at x: NDArray, file: StaticString = #fileID, line: UInt = #line, of body: (Tensor) throws -> Tensor
) throws -> (value: NDArray, gradient: NDArray) {
  let (value, grads) = try valueWithGradient(at: [x], file: file, line: line) { try body($0[0]) }
  return (value, grads[0])
}

/// The gradient of `body` at `x` (JAX's `grad`).
public func gradient(
  at x: NDArray, file: StaticString = #fileID, line: UInt = #line, of body: (Tensor) throws -> Tensor
) throws -> NDArray {
  try valueWithGradient(at: x, file: file, line: line, of: body).gradient
}

/// The value of `body` at the tensors `xs` and its gradients, as tensors: the form to nest
/// (second derivatives) and to use inside ``compile(_:)``.
///
/// - Eager `xs` of a tape (nested calls, or a ``GradientTape``'s values): recorded on that tape,
///   so the results can be differentiated again.
/// - Other eager `xs` (a layer's variables): brought into a new tape by value; while
///   ``compile(_:)`` traces, eager variables are the trace's captures instead (read at every call).
/// - Symbolic `xs` (while ``compile(_:)`` traces): the gradient operations are added to their
///   graph, as ``gradients(of:withRespectTo:gradientSeeds:unconnected:file:line:)`` does.
///
/// ```swift
/// let (_, g) = try valueWithGradient(at: [x]) { p in
///   let (_, inner) = try valueWithGradient(at: p) { q in try q[0] * q[0] * q[0] }
///   return inner[0]                                 // 3x²
/// }                                                 // g[0] = 6x
/// ```
/// - Throws: what `body` throws, and ``GraphError``.
public func valueWithGradient(
  at xs: [Tensor], file: StaticString = #fileID, line: UInt = #line, of body: ([Tensor]) throws -> Tensor
) throws -> (value: Tensor, gradients: [Tensor]) {
  let location = SourceLocation(file, line)
  try requireFloatingPoint(xs, op: "valueWithGradient", location: location)
  if let symbolic = xs.first(where: { !$0.isEager }) {
    for x in xs { try symbolic.graph.check(x, op: "valueWithGradient", location: location) }
    let y = try body(xs)
    let grads = try gradients(of: [y], withRespectTo: xs, unconnected: .zero, file: file, line: line)
    return (y, grads.map { $0! })
  }
  if let trace = EagerScope.trace, !xs.contains(where: { $0.graph.mode == .tape }) {
    // Inside a compile trace, at eager values outside any tape (a layer's variables, constants):
    // the body runs on the trace's tensors for them (variables captured, read at every call), so
    // its operations are the trace's, whatever else it reads (on a tape's copies, the value and
    // gradients would be constants of the trace, and the trace's tensors foreign to the tape).
    let locals = try xs.map { try trace.adopt($0, op: "valueWithGradient", location: location) }
    let y = try trace.adopt(try body(locals), op: "valueWithGradient", location: location)
    let grads = try gradients(of: [y], withRespectTo: locals, unconnected: .zero, file: file, line: line)
    return (y, grads.map { $0! })
  }
  let tape = EagerScope.tape ?? xs.first(where: { $0.graph.mode == .tape })?.graph ?? Graph(mode: .tape)
  return try EagerScope.withTape(tape) {
    let locals = try xs.map { try tape.watch($0, location: location) }
    let y = try tape.adoptValue(try body(locals), location: location)
    let grads = try gradients(of: [y], withRespectTo: locals, unconnected: .zero, file: file, line: line)
    return (y, grads.map { $0! })
  }
}

extension Graph {
  /// The value of a `valueWithGradient` body, `value`, as a tensor of this tape.
  /// - Throws: ``GraphError/invalidArgument(op:reason:location:)`` for a tensor of a function
  ///   compile is tracing (the body read the trace's tensors or an eager variable, which the
  ///   tape's values cannot follow), what ``adopt(_:op:location:)`` throws otherwise.
  fileprivate func adoptValue(_ value: Tensor, location: SourceLocation) throws -> Tensor {
    if value.graph.isTrace {
      throw GraphError.invalidArgument(
        op: "valueWithGradient",
        reason: "the value '\(value.name)' is a tensor of a function traced by compile (the body read its tensors or an "
          + "eager variable), not of the tape of the values given; inside the function, take gradients at eager values "
          + "outside any tape (Tensor(array), the variables) or at the trace's tensors, and return the results",
        location: location)
    }
    return try adopt(value, op: "valueWithGradient", location: location)
  }
}

/// Gradients exist only with respect to floating-point tensors (an integer or boolean one has
/// none, so it is an error to ask, not a missing value).
/// - Throws: ``GraphError/invalidArgument(op:reason:location:)`` naming the first other tensor.
private func requireFloatingPoint(_ xs: [Tensor], op: String, location: SourceLocation) throws {
  for i in xs.indices where !xs[i].dtype.isFloatingPoint {
    throw GraphError.invalidArgument(
      op: op, reason: "cannot differentiate with respect to '\(xs[i].name)' of dtype \(xs[i].dtype)", location: location)
  }
}

/// Runs `body` with the result of every eager operation it runs on this thread checked for NaN
/// and infinity (TF2's `tf.debugging.enable_check_numerics`, PyTorch's anomaly detection): the
/// first operation that produces one throws ``SessionError/nonFinite(op:name:location:)``
/// naming it and the line that made it, as a ``Session`` with `checkNumerics` does for a graph.
/// Checked too: gradients computed inside; every operation of a ``compile(_:)``d function's runs
/// (as TF2 checks the operations inside a `tf.function`) and of an eager optimizer's update;
/// eager constants made inside (`Tensor(array)`, named by the first operation that reads them,
/// since making one cannot throw); values given to an eager variable (`assign`, or its initial
/// value). Not checked, as neither a session nor TF2 checks them: values read without an
/// operation (`.value`), and the variables written in place by update kernels without outputs
/// (`AssignSub`, `ApplyAdam`: an update that overflows is named by the next operation that
/// reads the variable).
/// `enabled: false` runs `body` unchecked (inside a checked scope, for code that expects
/// infinities).
/// The setting belongs to the calling thread: a `Task` or thread started inside `body` does not
/// inherit it (call `withNumericChecks` there too), and it is restored when `body` returns or throws.
///
/// ```swift
/// try withNumericChecks {
///   let (_, g) = try valueWithGradient(at: [a]) { p in try log(p[0]) }   // a = 0: throws at Log
/// }
/// ```
public func withNumericChecks<R>(_ enabled: Bool = true, _ body: () throws -> R) rethrows -> R {
  try EagerScope.withNumericChecks(enabled, body)
}
