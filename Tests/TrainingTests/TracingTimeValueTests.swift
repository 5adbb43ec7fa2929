import ArrayCore
import GraphCore
import Testing
import TestSupport
import Training

/// Concrete values read inside a function that `compile` traces became constants of the trace:
/// later calls used the values seen while tracing (TF2 raises on `.numpy()` inside a
/// `tf.function`). Each way in now follows the variables at every call, or throws saying what
/// to do instead.
@Suite struct TracingTimeValueTests {
  private func scalar(_ a: NDArray) -> Double { a.doubles[0] }

  /// `v.value` of an eager variable, and another compiled function called with arrays, inside a
  /// trace: the trace kept the value of the variable at tracing time, silently (1, not 5, after
  /// `v.assign(5)`). Both throw now; the tensors' forms follow the variable.
  @Test func valuesReadWhileTracingAreRefused() throws {
    let v = try Graph.eager().variable(NDArray([Float(1)]), name: "v")
    let x = NDArray([Float(0)])
    let reads = compile { i in [try i[0] + Tensor(try v.value)] }
    expectError(["[value]", "'v:0' is an eager variable read while compile traces a function", "compute with the variable itself"]) {
      _ = try reads([x])
    }
    let inner = compile { i in [try i[0] + v] }
    let callsWithArrays = compile { i in [try i[0] + Tensor(try inner([x])[0])] }
    expectError(["[compile]", "called with arrays while compile traces a function", "call it with tensors"]) {
      _ = try callsWithArrays([x])
    }
    // A tensor of the trace: no value, and the message is about compile, not a Session.
    let readsInput = compile { i in _ = try i[0].value; return [i[0]] }
    expectError(["[value]", "'input_0:0' is a tensor of a function traced by compile", "return it from the function"]) {
      _ = try readsInput([x])
    }
    // The forms that follow the variable.
    let follows = compile { i in [try i[0] + v, try i[0] + inner([i[0]])[0]] }
    #expect(try follows([x]).map(scalar) == [1, 1])
    try v.assign(NDArray([Float(5)]))
    #expect(try follows([x]).map(scalar) == [5, 5])
    // Outside a trace, the value and the array form are as before.
    #expect(scalar(try v.value) == 5)
    #expect(scalar(try inner([x])[0]) == 5)
  }

  /// `GradientTape.watch` of an eager variable inside a trace copied its value at tracing time
  /// into the tape: the function's value and gradient ignored later assignments (1, 1 after
  /// `v.assign(3)`, not 3, 6). The variable is now watched as it is, captured by the trace.
  @Test func aTapeInsideATraceWatchesTheVariableItself() throws {
    let v = try Graph.eager().variable(NDArray([Float(1)]), name: "v")
    let f = compile { i in
      let tape = GradientTape()
      let w = try tape.watch([v])[0]
      let y = try tape.record { try sum(i[0] + square(w)) }
      return [y] + (try tape.gradient(of: y, withRespectTo: [w]))
    }
    let x = NDArray([Float(0)])
    #expect(try f([x]).map(scalar) == [1, 2])
    try v.assign(NDArray([Float(3)]))
    #expect(try f([x]).map(scalar) == [9, 6])
  }

  /// `assign` (and an eager optimizer's update) inside a trace ran once, while tracing: the
  /// first call saw the assigned 7, later calls the variable's own value, silently. Both throw
  /// now, and the variable keeps its value.
  @Test func variablesChangedWhileTracingAreRefused() throws {
    let v = try Graph.eager().variable(NDArray([Float(1)]), name: "v")
    let assigns = compile { i in
      try v.assign(NDArray([Float(7)]))
      return [try i[0] + v]
    }
    expectError(["[assign]", "'v:0' is an eager variable changed while compile traces a function", "return the new value"]) {
      _ = try assigns([NDArray([Float(0)])])
    }
    let optimizer = EagerOptimizer(try GradientDescentOptimizer(learningRate: 1))
    let updates = compile { i in
      try optimizer.update([v], along: [Tensor(NDArray([Float(1)]))])
      return [try i[0] + v]
    }
    expectError(["[EagerOptimizer.update]", "changed while compile traces a function"]) { _ = try updates([NDArray([Float(0)])]) }
    #expect(scalar(try v.value) == 1)
  }

  /// `valueWithGradient(at:)` inside a trace at an eager constant, with a body that reads an
  /// eager variable, threw "belongs to another graph" (the tape's copy met the trace); it is
  /// now differentiated in the trace. The arrays' form, which cannot follow the trace, says so.
  @Test func valueWithGradientInsideATraceAtEagerValues() throws {
    let v = try Graph.eager().variable(NDArray([Float(2)]), name: "v")
    let f = compile { i in
      let (value, grads) = try valueWithGradient(at: [Tensor(NDArray([Float(3)]))]) { q in try sum(q[0] * v) }
      return [try value + i[0], grads[0]]
    }
    let x = NDArray([Float(0)])
    #expect(try f([x]).map(scalar) == [6, 2])
    try v.assign(NDArray([Float(4)]))
    #expect(try f([x]).map(scalar) == [12, 4])
    let arrays = compile { i in
      let (value, _) = try valueWithGradient(at: [NDArray([Float(3)])]) { q in try sum(q[0] * v) }
      return [try i[0] + Tensor(value)]
    }
    expectError(["[valueWithGradient]", "is a tensor of a function traced by compile", "take gradients at eager values"]) {
      _ = try arrays([x])
    }
  }

  /// A random operation on an eager graph with no inputs inside a traced function
  /// (`randomNormal(Graph.eager(), ...)`) was drawn once, while tracing, and captured as a
  /// constant: every call got the same sample, silently (TF2's `tf.function` draws anew). Such a
  /// value is now refused when the trace would capture it, naming the operation and saying to draw
  /// it in the trace's graph, which draws at each call; a layer made inside the function (its
  /// initial values are eager draws that only create its variables) still works.
  @Test func randomValuesDrawnWhileTracingAreRefusedWhenCaptured() throws {
    let x = NDArray([Float(0), 0, 0])
    let noisy = compile { i in [try i[0] + randomNormal(Graph.eager(), shape: [3], seed: 7)] }
    expectError(["[Add]", "'RandomStandardNormal' holds eager random values drawn by RandomStandardNormal while compile traces", "randomNormal(x.graph, ...)"]) {
      _ = try noisy([x])
    }
    // Computed from a draw (and met with an eager variable, which sends the operation to the trace).
    let v = try Graph.eager().variable(NDArray([Float(1), 1, 1]), name: "v")
    let scaled = compile { i in [try i[0] + v * (randomUniform(Graph.eager(), shape: [3], seed: 8) * 2)] }
    expectError(["[Mul]", "computed by Mul from random values drawn while compile traces", "draw them in the trace's graph"]) {
      _ = try scaled([x])
    }
    // Drawn in the trace's graph: new values at each call, the same sequence for the same seed.
    let fresh = compile { i in [try i[0] + randomNormal(i[0].graph, shape: [3], seed: 7)] }
    let first = try fresh([x])[0], second = try fresh([x])[0]
    #expect(first.doubles != second.doubles)
    let again = compile { i in [try i[0] + randomNormal(i[0].graph, shape: [3], seed: 7)] }
    #expect(try again([x])[0].isBitIdentical(to: first))
    // A layer made inside the traced function: its eager initial draws only create variables.
    let p = Graph.eager()
    let layered = compile { i in
      let dense = try Dense(graph: p, inputSize: 3, units: 2, seed: 1, name: "inside")
      return [try dense(i[0])]
    }
    let row = NDArray([Float(1), 2, 3], shape: [1, 3])
    let twin = try Dense(graph: Graph.eager(), inputSize: 3, units: 2, seed: 1, name: "inside")
    #expect(try layered([row])[0].isBitIdentical(to: twin(Tensor(row)).value))
    // Other layers whose initial values are random draws: an embedding, a convolution, and a
    // layer normalization after them.
    let tokens = NDArray([Int32(0), 3, 1, 3], shape: [2, 2])
    let embedded = compile { i in
      let embedding = try Embedding(graph: p, vocabulary: 4, dimension: 3, seed: 2, name: "tokens")
      let conv = try Conv2D(graph: p, inputChannels: 1, filters: 2, kernelSize: [1, 2], seed: 3, name: "conv")
      let norm = try LayerNorm(graph: p, features: 2, name: "norm")
      return [try norm(conv(expandDims(embedding(i[0]), axis: 3)))]
    }
    let q = Graph.eager()
    let embedding = try Embedding(graph: q, vocabulary: 4, dimension: 3, seed: 2, name: "tokens")
    let conv = try Conv2D(graph: q, inputChannels: 1, filters: 2, kernelSize: [1, 2], seed: 3, name: "conv")
    let norm = try LayerNorm(graph: q, features: 2, name: "norm")
    #expect(try embedded([tokens])[0].isBitIdentical(to: norm(conv(expandDims(embedding(Tensor(tokens)), axis: 3))).value))
    // Outside a trace, eager draws are values as before.
    #expect(try randomNormal(Graph.eager(), shape: [3], seed: 7).value.elementCount == 3)
  }
}
