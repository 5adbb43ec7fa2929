import ArrayCore

/// An eager function traced into a graph (TF2's `tf.function`): the first call with a given
/// input signature (each input's dtype and shape) runs the function once on placeholders,
/// building a symbolic graph with the same builders; that call and every later one with the
/// signature run the graph's prepared step (``PreparedStep``), so the session's plan, its
/// buffers and its scalar fast path are reused.
///
/// ```swift
/// let step = compile { inputs in
///   let (x, y, a) = (inputs[0], inputs[1], inputs[2])
///   let (loss, g) = try valueWithGradient(at: [a]) { p in try square(x * p[0] - y) }
///   return [loss, try a - 0.02 * g[0]]
/// }
/// let outputs = try step([x, y, a])     // traced once, then run as a graph
/// ```
///
/// Eager values the function uses without receiving them are captured: constants by value at
/// tracing time; eager variables (a layer's, see ``Graph/eager()``) by reference, fed with their
/// current values at every call, as TF2 captures `tf.Variable`s. Operations on eager variables
/// while the function is traced go to the trace, so they too read the variables at every call.
/// The traced results equal the eager results bit for bit: the same kernels run on the same
/// values.
///
/// Nothing concrete is read while the function is traced (it would be a constant of every later
/// call, as TF2 refuses `.numpy()` inside a `tf.function`): the trace's tensors have no
/// ``Tensor/value``, an eager variable's is refused, and another compiled function is called
/// with tensors (inlined), not arrays. Random values drawn eagerly while tracing
/// (`randomNormal(Graph.eager(), ...)`, or values computed from them) are refused when the trace
/// would capture them: they would be one sample given at every call; drawn in the trace's graph
/// (`randomNormal(x.graph, ...)` with `x` an input), they are new at each call, as in TF2. (A
/// layer made inside the function may still draw its initial values eagerly: they only create
/// its variables.) Under ``withNumericChecks(_:_:)`` each run checks every
/// operation of the trace.
public final class CompiledFunction: @unchecked Sendable {
  private let body: ([Tensor]) throws -> [Tensor]
  private var traces: [Signature: Trace] = [:]
  private let lock = Lock()

  private struct Signature: Hashable {
    var inputs: [TensorInfo]

    /// Whether `arrays` have these dtypes and shapes.
    func matches(_ arrays: [NDArray]) -> Bool {
      guard arrays.count == inputs.count else { return false }
      // Read in place: a `zip` loop copies each type and array (retains and releases per call).
      for i in inputs.indices where inputs[i].dtype != arrays[i].dtype || !inputs[i].shape.isExactly(arrays[i].shape) {
        return false
      }
      return true
    }
  }
  /// The trace of the last call (a training loop calls with one signature), checked first,
  /// without building a key. Only used under ``lock``.
  @exclusivity(unchecked) private var last: Trace?

  private final class Trace {
    let signature: Signature
    let graph: Graph
    let step: PreparedStep
    /// The variables captured by reference, fed after the inputs.
    let captured: [Tensor]
    /// The result array returned by the last call (the caller may still hold it) and the one
    /// returned by the call before, which a training loop has dropped by now: each call fills
    /// the latter again when nothing else holds it, instead of allocating a new array
    /// (double-buffered, as the prepared step's small results are). Kept only while every
    /// result is small (``PreparedStep/spareResultBytes``), so no large value stays alive.
    /// Only used under the function's lock.
    @exclusivity(unchecked) var lastResults: [NDArray] = []
    @exclusivity(unchecked) var spareResults: [NDArray] = []

    init(signature: Signature, graph: Graph, step: PreparedStep, captured: [Tensor]) {
      self.signature = signature
      self.graph = graph
      self.step = step
      self.captured = captured
    }

    /// Runs the traced step on `inputs` (matching ``signature``). The caller holds the
    /// function's lock, which is the only way to this trace's private session.
    func run(_ inputs: [NDArray]) throws -> [NDArray] {
      var results: [NDArray] = []
      swap(&results, &spareResults)
      // Uniquely held (the caller dropped it): emptied in place, its values released before
      // the run so that the step's spare results are free again.
      results.removeAllKeepingCapacity()
      try step.run(matchedInputs: inputs, captured: captured, into: &results)
      if results.allSatisfy({ $0.shape.elementCount &* $0.dtype.byteSize <= PreparedStep.spareResultBytes }) {
        // The last call's array becomes the spare and this one the last, moved (`spareResults`
        // is empty since the swap above): one retain, for the copy returned.
        swap(&spareResults, &lastResults)
        lastResults = results
      } else {
        lastResults = []
      }
      return results
    }
  }

  /// Wraps `body` (use ``compile(_:)``).
  public init(_ body: @escaping ([Tensor]) throws -> [Tensor]) { self.body = body }

  /// The functions being traced on this thread (innermost last): the lock of each is held by
  /// this thread while its body runs, so a call back into one of them must not wait for it.
  @TaskLocal private static var tracing: [ObjectIdentifier] = []

  /// Whether this thread is tracing this function (and so holds ``lock``).
  private var isTracedHere: Bool { Self.tracing.contains(ObjectIdentifier(self)) }

  /// Runs `body` holding ``lock``, or directly when this thread already holds it for a trace.
  private func withLockUnlessTracing<R>(_ body: () throws -> R) rethrows -> R {
    if lock.tryLock() {
      defer { lock.unlock() }
      return try body()
    }
    if isTracedHere { return try body() }
    return try lock.withLock(body)
  }

  /// The number of signatures traced so far (a retrace costs one eager-speed call).
  public var traceCount: Int { withLockUnlessTracing { traces.count } }

  /// The graph traced for inputs of these dtypes and shapes, if any (to draw or export).
  public func graph(for inputs: [NDArray]) -> Graph? {
    withLockUnlessTracing { traces[Signature(inputs: inputs.map(Self.info))]?.graph }
  }

  /// Runs the function on `inputs`, tracing it first for a new signature.
  ///
  /// Not while a function is being traced on this thread: the arrays returned would be constants
  /// of that trace, computed once from the values seen while tracing (the eager variables' too),
  /// so every later call would use them. Call it with tensors there (`f([Tensor])`), which
  /// inlines its body into the trace, as TF2 inlines a `tf.function` called by another.
  /// - Throws: what the function throws while tracing (with its source lines),
  ///   ``SessionError`` from the run, and ``GraphError`` when called while a function is traced
  ///   on this thread, this one included (a call of itself would wait for the trace it is part
  ///   of, forever).
  public func callAsFunction(_ inputs: [NDArray]) throws -> [NDArray] {
    // One thread-slot load on the common call; the (task-local) list of functions traced on
    // this thread is read only while one is.
    if EagerScope.trace != nil {
      if isTracedHere { throw Self.callsItself }
      throw GraphError.invalidArgument(
        op: "compile",
        reason: "a compiled function called with arrays while compile traces a function: its results would be "
          + "constants of that trace, computed once from the values seen while tracing; call it with tensors, "
          + "f([Tensor]), which inlines it into the trace",
        location: nil)
    }
    lock.lock()
    // Held through the run: the trace's session is reachable only through this function, so
    // this one lock serializes its runs (the step takes no lock of its own).
    defer { lock.unlock() }
    // The last call's trace, used without a retain and release (`last` keeps it alive while the
    // lock is held): the common call of a training loop.
    if let current = last.map(Unmanaged.passUnretained),
      current._withUnsafeGuaranteedRef({ $0.signature.matches(inputs) })
    {
      return try current._withUnsafeGuaranteedRef { try $0.run(inputs) }
    }
    let signature = Signature(inputs: inputs.map(Self.info))
    let trace = try traces[signature] ?? makeTrace(signature)
    traces[signature] = trace
    last = trace
    // The inputs match the placeholders' dtypes and shapes exactly (the signature): they are
    // bound by position without checks; the captured variables' current values are checked.
    return try trace.run(inputs)
  }

  /// Runs the function on tensors. Eager values outside any tape run the traced graph and
  /// give eager values. On a tape (inside ``GradientTape/record(_:)`` or
  /// ``valueWithGradient(at:of:)``, or on values a tape recorded) and on symbolic tensors (a
  /// graph being built, another function being traced), the body runs on the tensors
  /// themselves, as TF2 records a `tf.function`'s operations on a `GradientTape` and inlines one
  /// called while another is traced: gradients flow through the call (the traced graph's
  /// results would be constants to the tape, their gradient with respect to the inputs silently
  /// zero), and the values are the trace's, bit for bit (eager operations run the graph's
  /// kernels).
  /// - Throws: what the function throws, ``SessionError`` from a run, and ``GraphError`` when
  ///   the function calls itself while it is being traced.
  public func callAsFunction(_ inputs: [Tensor]) throws -> [Tensor] {
    if EagerScope.tape != nil || EagerScope.trace != nil || inputs.contains(where: { $0.graph.mode != .values }) {
      if isTracedHere { throw Self.callsItself }
      return try body(inputs)
    }
    return try self(inputs.map { try $0.value }).map { Tensor($0) }
  }

  /// The error of a function called while it is being traced.
  private static var callsItself: GraphError {
    GraphError.invalidArgument(
      op: "compile",
      reason: "the compiled function calls itself while it is being traced; call the traced body directly instead",
      location: nil)
  }

  private static func info(_ array: NDArray) -> TensorInfo {
    TensorInfo(dtype: array.dtype, shape: PartialShape(array.shape))
  }

  private func makeTrace(_ signature: Signature) throws -> Trace {
    let graph = Graph()
    graph.isTrace = true
    let placeholders = signature.inputs.enumerated().map { i, info in
      graph.placeholder(info.dtype, shape: info.shape, name: "input_\(i)")
    }
    // No tape records while tracing: the operations go to the symbolic graph, and so do those
    // on the eager variables it captures (see `Graph.target(for:default:)`).
    let outputs = try EagerScope.withTrace(graph) {
      try EagerScope.withTape(nil) {
        try Self.$tracing.withValue(Self.tracing + [ObjectIdentifier(self)]) {
          try body(placeholders).map { try graph.adopt($0, op: "compile", location: nil) }
        }
      }
    }
    let captured = graph.capturedVariables
    let session = Session(graph: graph)
    let step = try session.prepare(
      fetches: outputs, feeds: placeholders + captured.map { Tensor(graph: graph, node: $0.placeholder, output: 0) },
      targets: [])
    return Trace(signature: signature, graph: graph, step: step, captured: captured.map(\.variable))
  }
}

/// Traces `body` into a graph per input signature and runs it as a prepared step from then on
/// (TF2's `tf.function`); see ``CompiledFunction``.
public func compile(_ body: @escaping ([Tensor]) throws -> [Tensor]) -> CompiledFunction {
  CompiledFunction(body)
}
