import ArrayCore
import Foundation
@testable import GraphCore
import Testing
import TestSupport

/// Eager execution: values computed at once by the graph's own builders and kernels, gradients
/// from the primitives' own gradient definitions, and tracing back into a graph.
@Suite struct EagerTests {
  @Test func anEagerOperatorsErrorNamesWhereItsInputsWereMade() throws {
    // Outside a tape the sum goes to a new graph, which brings both values in: the error names
    // each input as the user made it (name and line), not the library's line that brought it in.
    let a = Tensor(NDArray([Float](repeating: 1, count: 6), shape: [2, 3]), name: "a"); let lineA = #line
    let b = Tensor(NDArray([Float](repeating: 1, count: 20), shape: [4, 5]), name: "b"); let lineB = #line
    let error = #expect(throws: GraphError.self) { try a + b }
    let text = error.map { "\($0)" } ?? ""
    #expect(text.contains("'a:0' float32 [2, 3] (built at GraphCoreTests/EagerTests.swift:\(lineA))"))
    #expect(text.contains("'b:0' float32 [4, 5] (built at GraphCoreTests/EagerTests.swift:\(lineB))"))
    #expect(!text.contains("EagerGraph.swift"))
  }

  @Test func aTapeRefusesAValueItDidNotRecordAndSaysSo() throws {
    let tape = GradientTape(), other = GradientTape()
    let x = tape.watch(NDArray([Float(2)]))
    let elsewhere = try other.watch(NDArray([Float(3)])) * 2
    let outside = try Tensor(NDArray([Float(3)])) * 2
    for y in [elsewhere, outside] {
      let error = #expect(throws: GraphError.self) { try tape.gradient(of: y, withRespectTo: [x]) }
      #expect("\(error.map { "\($0)" } ?? "")".contains("was not recorded on this tape"))
    }
    let symbolic = Graph().placeholder(.float32, shape: [1])
    let error = #expect(throws: GraphError.self) { try tape.gradient(of: symbolic, withRespectTo: [x]) }
    #expect("\(error.map { "\($0)" } ?? "")".contains("symbolic graph"))
  }

  @Test func operationsComputeAtOnce() throws {
    let x = Tensor([1, 2, 3] as NDArray)
    let y = try square(x) * 2 + 1
    #expect(try y.value.scalars(as: Float.self) == [3, 9, 19])
    #expect(y.isEager && !y.graph.variables.contains(y))
    // A value's graph does not grow with the operations applied to it.
    var z = x
    for _ in 0..<100 { z = try z + 1 }
    #expect(try z.value.scalars(as: Float.self) == [101, 102, 103])
    #expect(z.graph.operationCount < 5 && x.graph.operationCount == 1)
  }

  @Test func errorsAreTheGraphsErrorsWithTheUsersLine() throws {
    let a = Tensor(try NDArray.zeros([2, 3]))
    let b = Tensor(try NDArray.zeros([4, 5]))
    let line = #line + 1
    let error = try #require(throws: GraphError.self) { try matmul(a, b) }
    let text = "\(error)"
    #expect(text.contains("MatMul") && text.contains("[2, 3]") && text.contains("[4, 5]"))
    #expect(text.contains("EagerTests.swift:\(line)"), "\(text)")
    // Gradients with respect to an integer tensor are an error, not a trap.
    #expect(throws: GraphError.self) { try valueWithGradient(at: [NDArray([Int32(1)])]) { p in try cast(p[0], to: .float32) } }
    let tape = GradientTape()
    let i = tape.watch(NDArray([Int32(2)]))
    let f = try cast(i, to: .float32)
    #expect(throws: GraphError.self) { try tape.gradient(of: f, withRespectTo: [i]) }
    // A symbolic tensor has no value.
    let graph = Graph()
    let p = graph.placeholder(.float32, shape: [1])
    #expect(throws: GraphError.self) { try p.value }
  }

  @Test func valueWithGradientMatchesHandDerivatives() throws {
    // f(a) = (x·a − 10)², f'(a) = 2x(x·a − 10).
    let x: Float = 1.5, a: Float = 2
    let (value, gradient) = try valueWithGradient(at: NDArray([a])) { p in
      try square(Tensor(NDArray([x])) * p - 10)
    }
    #expect(value.scalars(as: Float.self) == [(x * a - 10) * (x * a - 10)])
    #expect(gradient.scalars(as: Float.self) == [2 * x * (x * a - 10)])
    // A parameter the value does not depend on gets zeros.
    let (_, grads) = try valueWithGradient(at: [NDArray([Float(1)]), NDArray([Float(2), 3])]) { p in try p[0] * 3 }
    #expect(grads[1].scalars(as: Float.self) == [0, 0])
  }

  @Test func aTapeBuildsOnlyTheGradientsItUses() throws {
    // y = (x·c − d)² with respect to x only: the walk needs ∂/∂x of the product and of the
    // difference, not ∂/∂c (g·x) nor ∂/∂d (−g), which a symbolic graph keeps (TF1's structure,
    // pruned by the session) and a tape would compute for nothing.
    let tape = GradientTape()
    let x = tape.watch(NDArray([Float(1.5)]))
    let c = tape.watch(NDArray([Float(2)]))
    let d = tape.watch(NDArray([Float(10)]))
    let y = try square(x * c - d)
    let before = tape.graph.operationCount
    let g = try tape.gradient(of: y, withRespectTo: [x])[0]
    #expect(try g.value.scalars(as: Float.self) == [2 * 2 * (1.5 * 2 - 10)])
    // The seed, square's t = g·x and t + t, and the product's g·c: four operations.
    #expect(tape.graph.operationCount - before == 4)
    #expect(!tape.graph.operations[before...].contains { $0.type == "Neg" })
    // With respect to c and d as well: the skipped products are built, with the same values.
    let all = try tape.gradient(of: y, withRespectTo: [x, c, d])
    #expect(try all[0].value.scalars(as: Float.self) == g.value.scalars(as: Float.self))
    #expect(try all[1].value.scalars(as: Float.self) == [2 * 1.5 * (1.5 * 2 - 10)])
    #expect(try all[2].value.scalars(as: Float.self) == [-2 * (1.5 * 2 - 10)])
    // A symbolic graph keeps every input's gradient operation.
    let graph = Graph()
    let gx = graph.placeholder(.float32, shape: [1])
    let gy = try square(gx * graph.constant(NDArray([Float(2)])) - graph.constant(NDArray([Float(10)])))
    let count = graph.operationCount
    _ = try gradients(of: gy, withRespectTo: [gx])
    #expect(graph.operations[count...].contains { $0.type == "Neg" })
  }

  @Test func aTapeSkipsTheInputGradientOfAFirstLayer() throws {
    // loss = Σ (x·W) with respect to W only: the walk builds Wᵀ's product xᵀ·g, not g·Wᵀ (the
    // gradient for the data x, as large as the layer's own product), in every transpose case.
    for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
      let tape = GradientTape()
      let xv = NDArray((0..<6).map { Double($0) - 2.5 }, shape: ta ? [3, 2] : [2, 3])
      let wv = NDArray((0..<12).map { 0.25 * Double($0) - 1 }, shape: tb ? [4, 3] : [3, 4])
      let x = tape.watch(xv), w = tape.watch(wv)
      let loss = try sum(matmul(x, w, transposeA: ta, transposeB: tb))
      let before = tape.graph.operationCount
      let gw = try tape.gradient(of: loss, withRespectTo: [w])[0]
      let products = tape.graph.operations[before...].filter { $0.type == "MatMul" }.count
      #expect(products == 1, "transposes \(ta) \(tb): \(products) products built")
      // The same value as the full gradient's.
      let both = try tape.gradient(of: loss, withRespectTo: [x, w])
      #expect(try gw.value.doubles == both[1].value.doubles)
    }
  }

  @Test func secondDerivativesByNestingAndByTape() throws {
    // d/dx (d/dx x³) = 6x.
    let x = NDArray([2.0])
    let (_, outer) = try valueWithGradient(at: x) { p in
      let (_, inner) = try valueWithGradient(at: [p]) { q in try q[0] * q[0] * q[0] }
      return inner[0]
    }
    #expect(outer.scalars(as: Double.self) == [12])
    let tape = GradientTape()
    let t = tape.watch(x)
    let y = try t * t * t
    let dy = try tape.gradient(of: y, withRespectTo: [t])[0]
    let d2y = try tape.gradient(of: dy, withRespectTo: [t])[0]
    #expect(try dy.value.scalars(as: Double.self) == [12] && d2y.value.scalars(as: Double.self) == [12])
    // stopGradient blocks the flow: d/dx (x · stop(x)) = stop(x) = 2.
    let g = try gradient(at: x) { p in try p * stopGradient(p) }
    #expect(g.scalars(as: Double.self) == [2])
  }

  @Test func eagerVariablesAndTheirGradients() throws {
    let parameters = Graph.eager()
    let w = try parameters.variable(NDArray([Float(3)]), name: "w")
    let tape = GradientTape()
    let loss = try tape.record { try square(w * Tensor(NDArray([Float(2)]))) }  // (2w)² = 36
    let g = try tape.gradient(of: loss, withRespectTo: [w])[0]                 // 8w = 24
    #expect(try loss.value.scalars(as: Float.self) == [36] && g.value.scalars(as: Float.self) == [24])
    #expect(parameters.operationCount == 2)  // the initial value and the variable: no recorded operations
    try parameters.assignEagerly(NDArray([Float(5)]), to: w, location: nil)
    #expect(try w.value.scalars(as: Float.self) == [5])
  }

  @Test func compiledFunctionTracesOncePerSignatureAndMatchesEager() throws {
    var calls = 0
    let f = compile { inputs in
      calls += 1
      let (x, a) = (inputs[0], inputs[1])
      let (loss, g) = try valueWithGradient(at: [a]) { p in try square(x * p[0] - 10) }
      return [loss, try a - 0.02 * g[0]]
    }
    let x = NDArray([Float(1.1)]), a = NDArray([Float(0.3)])
    let traced = try f([x, a])
    _ = try f([NDArray([Float(0.9)]), a])
    #expect(calls == 1 && f.traceCount == 1)
    _ = try f([NDArray([Float(1), 2]), NDArray([Float(0.3), 0.4])])
    #expect(f.traceCount == 2)
    // The same function run eagerly gives the same bits.
    let (loss, g) = try valueWithGradient(at: [a]) { p in try square(Tensor(x) * p[0] - 10) }
    let updated = try (Tensor(a) - 0.02 * Tensor(g[0])).value
    #expect(traced[0].isBitIdentical(to: loss) && traced[1].isBitIdentical(to: updated))
  }

  /// After its first call, a compiled step whose values all have one element takes its inputs
  /// and captured variables straight into its scalar program's registers. Every call must still
  /// give what the same body gives eagerly, bit for bit: a new input at each call, the captured
  /// variable reassigned between calls, another signature traced and called in between.
  @Test func compiledScalarStepsTakeEachCallsValues() throws {
    let parameters = Graph.eager()
    let w = try parameters.variable(NDArray([Float(0.5)]), name: "w")
    func body(_ x: Tensor, _ a: Tensor) throws -> [Tensor] {
      let (loss, g) = try valueWithGradient(at: [a]) { p in try square(x * p[0] * w - 10) }
      return [loss, try a - 0.02 * g[0]]
    }
    let f = compile { i in try body(i[0], i[1]) }
    var rng = SeededGenerator(seed: 8)
    var a = NDArray([Float(0.3)])
    for i in 0..<40 {
      let x = NDArray([Float(rng.normal(mean: 1, standardDeviation: 0.3))])
      if i % 7 == 3 { try parameters.assignEagerly(NDArray([Float(i) / 8]), to: w, location: nil) }
      if i % 11 == 5 { _ = try f([NDArray([Float(1), 2]), NDArray([Float(0.3), 0.4])]) }
      let got = try f([x, a])
      let expected = try body(Tensor(x), Tensor(a)).map { try $0.value }
      #expect(got[0].isBitIdentical(to: expected[0]) && got[1].isBitIdentical(to: expected[1]), "call \(i)")
      a = got[1]
    }
    #expect(f.traceCount == 2)
  }

  @Test func compiledFunctionsReadEagerVariablesAtEachCall() throws {
    let parameters = Graph.eager()
    let w = try parameters.variable(NDArray([Float(2)]), name: "w")
    let f = compile { inputs in [try inputs[0] * w] }
    #expect(try f([NDArray([Float(3)])])[0].scalars(as: Float.self) == [6])
    try parameters.assignEagerly(NDArray([Float(4)]), to: w, location: nil)
    #expect(try f([NDArray([Float(3)])])[0].scalars(as: Float.self) == [12])
    #expect(f.traceCount == 1)
  }

  /// Gradients flow through a compiled function called on a tape, as through TF2's
  /// `tf.function` under a `GradientTape`: its results were constants to the tape, so
  /// `valueWithGradient` of `3x²` through it gave a gradient of 0 instead of 12, silently. The
  /// values stay the trace's bit for bit; a variable the function captures gets its gradient
  /// too; a second derivative goes through; a compiled function called while another is traced
  /// is inlined (it threw: a symbolic tensor has no value).
  @Test func gradientsFlowThroughCompiledFunctions() throws {
    let parameters = Graph.eager()
    let w = try parameters.variable(NDArray([Float(0.5)]), name: "w")
    let f = compile { i in [try square(i[0]) * 3 + w * i[0]] }
    let x = NDArray([Float(2)])
    let traced = try f([x])[0]
    let (value, g) = try valueWithGradient(at: [x]) { p in try f([p[0]])[0] }
    #expect(value.isBitIdentical(to: traced))
    #expect(g[0].scalars(as: Float.self) == [12.5])  // 6x + w
    let tape = GradientTape()
    let t = tape.watch(x)
    let y = try tape.record { try f([t])[0] }
    let grads = try tape.gradient(of: y, withRespectTo: [t, w])
    #expect(try grads[0].value.scalars(as: Float.self) == [12.5] && grads[1].value.scalars(as: Float.self) == [2])
    #expect(try tape.gradient(of: grads[0], withRespectTo: [t])[0].value.scalars(as: Float.self) == [6])
    #expect(f.traceCount == 1)  // the calls on the tape ran the body, not a new trace
    let outer = compile { i in [try f([i[0]])[0] + 1] }
    #expect(try outer([x])[0].isBitIdentical(to: (Tensor(traced) + 1).value))
  }

  /// `withNumericChecks` (TF2's `enable_check_numerics`): the first eager operation that makes
  /// a NaN or an infinity throws, naming it and its line, gradients included; outside, or with
  /// `enabled: false`, the value is kept; the tape stays usable after the error.
  @Test func numericChecksStopAtTheFirstNonFiniteResult() throws {
    let zero = Tensor(NDArray([Float(0)]))
    #expect(try log(zero).value.scalars(as: Float.self) == [-.infinity])
    expectError(["[Log]", "produced NaN or infinity", "EagerTests.swift"]) { try withNumericChecks { _ = try log(zero) } }
    try withNumericChecks {
      #expect(try withNumericChecks(false) { try log(zero) }.value.scalars(as: Float.self) == [-.infinity])
      // The gradient of sqrt at 0 is infinite: the walk stops at that gradient operation.
      expectError(["produced NaN or infinity"]) { _ = try valueWithGradient(at: [NDArray([Float(0)])]) { p in try sqrt(p[0]) } }
      let tape = GradientTape()
      let x = tape.watch(NDArray([Float(2)]))
      expectError(["[Log]"]) { _ = try tape.record { try log(x - 2) } }
      let y = try tape.record { try x * x }
      #expect(try tape.gradient(of: y, withRespectTo: [x])[0].value.scalars(as: Float.self) == [4])
    }
  }

  /// A tape's graph (an eager training step, for TensorBoard's Graphs tab or a GraphDef file)
  /// keeps its operations' names without making them unique: `graphDef()` wrote two nodes
  /// named `MatMul`, a file TensorFlow and `Graph(graphDef:)` refuse. It is refused when
  /// exported, saying to export a compiled function's trace, which is written as before.
  @Test func eagerGraphsWithRepeatedNamesAreNotExported() throws {
    let w = Tensor(NDArray([Float(1), 2, 3, 4], shape: [2, 2]))
    let x = Tensor(NDArray([Float(1), -1], shape: [1, 2]))
    let tape = GradientTape()
    let loss = try tape.record { try sum(matmul(matmul(x, w), w)) }
    expectError(["[graphDef]", "two operations are named", "compile(f).graph(for: inputs)"]) { _ = try loss.graph.graphDef() }
    expectError(["two operations are named"]) { _ = try loss.graph.graphDef(lenient: true) }
    // The same code traced by compile exports, and comes back with the same value.
    let step = compile { i in [try sum(matmul(matmul(i[0], i[1]), i[1]))] }
    let inputs = [try x.value, try w.value]
    let value = try step(inputs)[0]
    let traced = try #require(step.graph(for: inputs))
    let imported = try Graph(graphDef: traced.graphDef())
    let output = try #require(imported.tensor(named: traced.operations[traced.operationCount - 1].name + ":0"))
    let feeds = [try #require(imported.tensor(named: "input_0:0")): inputs[0], try #require(imported.tensor(named: "input_1:0")): inputs[1]]
    #expect(try Session(graph: imported).run(output, feeding: feeds).isBitIdentical(to: value))
    // An eager graph of uniquely named variables (a model's parameters) exports as before.
    let parameters = Graph.eager()
    _ = try parameters.variable(NDArray([Float(1)]), name: "a")
    _ = try parameters.variable(NDArray([Float(2)]), name: "b")
    _ = try Graph(graphDef: parameters.graphDef())
  }

  @Test func eagerCheckpointsRoundTrip() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("eager-\(getpid())").path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let parameters = Graph.eager()
    let w = try parameters.variable(NDArray([Float(1), 2]), name: "w")
    let b = try parameters.variable(NDArray([Float(3)]), name: "b")
    try Checkpoint.save(variablesOf: parameters, to: directory + "/p.safetensors", metadata: ["step": "7"])
    try parameters.assignEagerly(NDArray([Float(0), 0]), to: w, location: nil)
    let metadata = try Checkpoint.restore(variablesOf: parameters, from: directory + "/p.safetensors")
    #expect(metadata["step"] == "7")
    #expect(try w.value.scalars(as: Float.self) == [1, 2] && b.value.scalars(as: Float.self) == [3])
  }

  /// Every row of the operation table, run eagerly: the forward value and the gradient equal the
  /// graph's bit for bit (same kernels, same gradient definitions, same order of operations).
  @Test(arguments: makeOpTable().filter { $0.draw != nil }.map(\.name))
  func eagerEqualsGraphOverTheOpTable(name: String) throws {
    let entry = try #require(makeOpTable().first { $0.name == name })
    let draw = try #require(entry.draw)
    for k in 0..<4 {
      var g = SeededGenerator(seed: OpTableTests.seed(name, k))
      let c = draw(&g, k)
      for d in entry.dtypes {
        let ins = converted(c.inputs, to: d)
        let (graphValue, _) = try runCase(c, ins, dtype: d)
        let eagerValue = try c.build(ins.map { Tensor($0) }, d).value
        #expect(eagerValue.isBitIdentical(to: graphValue), "\(name) draw \(k) \(d): eager \(eagerValue) vs graph \(graphValue)")
        guard entry.differentiable, d.isFloatingPoint, ins.allSatisfy({ $0.elementCount > 0 }) else { continue }
        let slots = ins.indices.filter { ins[$0].dtype == d }
        guard !slots.isEmpty, graphValue.elementCount > 0, graphValue.dtype.isFloatingPoint else { continue }
        let r = Domain.real(-1, 1).array(graphValue.shape.dimensions, &g).converted(to: graphValue.dtype)
        // The graph's gradient of sum(y · r).
        let graph = Graph()
        let xs = ins.enumerated().map { i, v in graph.placeholder(v.dtype, shape: PartialShape(v.shape), name: "x\(i)") }
        let y = try c.build(xs, d)
        let grads = try gradients(of: [sum(y * graph.constant(r))], withRespectTo: slots.map { xs[$0] }, unconnected: .zero)
        let session = Session(graph: graph)
        let expected = try session.run(grads.map { $0! }, feeding: Dictionary(uniqueKeysWithValues: zip(xs, ins)))
        // The same expression eagerly.
        let (_, eager) = try valueWithGradient(at: slots.map { ins[$0] }) { p in
          var it = p.makeIterator()
          let inputs = ins.indices.map { slots.contains($0) ? it.next()! : Tensor(ins[$0]) }
          return try sum(c.build(inputs, d) * Tensor(r))
        }
        for (e, x) in zip(eager, expected) {
          #expect(e.isBitIdentical(to: x), "\(name) draw \(k) \(d): eager gradient \(e) vs graph \(x)")
        }
      }
    }
  }

  /// The running tape is scoped to the synchronous body on its thread (a C thread-local slot,
  /// see ARCHITECTURE.md): nested scopes restore the outer tape, also when the body throws, and
  /// another thread never records on it.
  @Test func theRunningTapeIsScopedToItsBodyAndThread() throws {
    #expect(EagerScope.tape == nil)
    let outer = GradientTape(), inner = GradientTape()
    struct Failure: Error {}
    outer.record {
      #expect(EagerScope.tape === outer.graph)
      inner.record { #expect(EagerScope.tape === inner.graph) }
      #expect(EagerScope.tape === outer.graph)
      #expect(throws: Failure.self) { try inner.record { throw Failure() } }
      #expect(EagerScope.tape === outer.graph)
      // A value made here belongs to the tape; one made on another thread does not.
      let here = Tensor(NDArray([Float(1)]))
      #expect(here.graph === outer.graph)
      final class Box: @unchecked Sendable { var graph: Graph?; var tape: Graph? }
      let box = Box()
      let done = DispatchSemaphore(value: 0)
      let thread = Thread {
        box.tape = EagerScope.tape
        box.graph = Tensor(NDArray([Float(2)])).graph
        done.signal()
      }
      thread.start()
      done.wait()
      #expect(box.tape == nil)
      #expect(box.graph !== outer.graph && box.graph?.isEager == true)
      // The variable store's scope works the same way.
      let variables = EagerVariables()
      variables.use { #expect(EagerScope.variables === variables) }
      #expect(EagerScope.variables == nil)
    }
    #expect(EagerScope.tape == nil)
  }

  /// A location made from a `String` (interned) equals and hashes as the same place made from
  /// the compiler's literal, and keeps its text.
  @Test func sourceLocationsFromStringsAndLiterals() {
    let named = SourceLocation(file: "Module/Model.swift", line: 12)
    let literal = SourceLocation("Module/Model.swift", 12)
    #expect(named.file == "Module/Model.swift" && named == literal && named.hashValue == literal.hashValue)
    var moved = literal
    moved.file = "Other.swift"
    #expect(moved.file == "Other.swift" && moved.description == "Other.swift:12" && moved != literal)
    #expect(SourceLocation(file: "Module/Model.swift", line: 13) != named)
  }
}

@Suite struct EagerMemoryTests {
  @Test func graphsAreFreedWithTheirValues() throws {
    // A graph must not hold a tensor of itself (a reference cycle): each is freed with its values.
    weak var a: Graph?
    weak var b: Graph?
    weak var c: Graph?
    weak var d: Graph?
    do {
      let g = Graph(mode: .values)
      a = g
    }
    do {
      let x = Tensor(NDArray([Float(2)]))
      b = x.graph
    }
    do {
      let x = Tensor(NDArray([Float(2)]))
      let y = try x + x
      c = y.graph
    }
    do {
      let t = GradientTape()
      d = t.graph
    }
    #expect(a == nil, "plain")
    #expect(b == nil, "constant")
    #expect(c == nil, "op")
    #expect(d == nil, "tape")
  }
  @Test func aTapeFindsEveryValueItBroughtIn() throws {
    // 40 values of other graphs, each used three times on one tape: past the import table's
    // linear search (16 entries) every later use must find the leaf its first use made, so that
    // the gradient with respect to each value sums its three uses (d/dxᵢ Σ 3·i·xᵢ = 3i).
    weak var firstSource: Graph?
    do {
      let xs = (0..<40).map { Tensor(NDArray([Float($0)])) }
      firstSource = xs[0].graph
      let tape = GradientTape()
      let total = try tape.record {
        var sum = try xs[0] * 0
        for _ in 0..<3 {
          for (i, x) in xs.enumerated() { sum = try sum + x * Double(i) }
        }
        return sum
      }
      let grads = try tape.gradient(of: total, withRespectTo: xs)
      // (A value brought in again as a second leaf would get only its first use's gradient, i.)
      #expect(try grads.map { try $0.value.scalars(as: Float.self)[0] } == (0..<40).map { Float(3 * $0) })
      #expect(try total.value.scalars(as: Float.self) == [Float(3 * (0..<40).map { $0 * $0 }.reduce(0, +))])
    }
    #expect(firstSource == nil, "the tape kept a source graph alive after it died")
  }

  @Test func tapesAndValuesAreFreed() throws {
    weak var tapeGraph: Graph?
    weak var valueGraph: Graph?
    do {
      let x = Tensor(NDArray([Float(2)]))
      valueGraph = x.graph
      let (loss, grads) = try valueWithGradient(at: [x]) { p in
        try square(p[0] * Tensor(NDArray([Float(3)])) - 10)
      }
      tapeGraph = loss.graph
      _ = grads
    }
    #expect(tapeGraph == nil, "a tape outlived its values")
    #expect(valueGraph == nil, "a value's graph outlived it")
  }
}

@Suite struct EagerVariableStoreTests {
  @Test func variablesAreCreatedOnceAndReusedByName() throws {
    let variables = EagerVariables()
    func model(_ x: Tensor) throws -> Tensor {
      try x * x.graph.variable(randomNormal(x.graph, shape: [1], seed: 3), name: "A")
    }
    var firstA: NDArray?
    for step in 0..<3 {
      let tape = GradientTape()
      let y = try tape.record { try variables.use { try model(Tensor(NDArray([Float(2)]))) } }
      let g = try tape.gradient(of: y, withRespectTo: variables.trainable)
      #expect(variables.trainable.count == 1)
      #expect(try g[0].value.scalars(as: Float.self) == [2])  // d(x·A)/dA = x
      let a = try variables.trainable[0].value
      if step == 0 { firstA = a } else { #expect(a.isBitIdentical(to: firstA!)) }
    }
    #expect(variables.graph.variables.map(\.operation.name) == ["A"])
  }

  /// Dead eager graphs hand their uniquely held values to later graphs as result memory
  /// (`EagerStore.spares`): values a user still holds, from `valueWithGradient` or
  /// `Tensor.value`, must keep their numbers while later tapes compute into recycled memory.
  @Test func heldValuesKeepTheirNumbersWhileLaterTapesReuseMemory() throws {
    var held: [(value: NDArray, gradient: NDArray, intermediate: NDArray)] = []
    for i in 0..<40 {
      let x = Float(i)
      var intermediate = NDArray()
      let (v, g) = try valueWithGradient(at: NDArray([x, 2 * x])) { p in
        let y = try p * p + 1
        intermediate = try y.value
        return try y * 3
      }
      held.append((v, g, intermediate))
    }
    for (i, h) in held.enumerated() {
      let x = Float(i)
      #expect(h.value.scalars(as: Float.self) == [3 * (x * x + 1), 3 * (4 * x * x + 1)])
      #expect(h.gradient.scalars(as: Float.self) == [6 * x, 12 * x])
      #expect(h.intermediate.scalars(as: Float.self) == [x * x + 1, 4 * x * x + 1])
    }
  }

  /// Nodes keep up to two inputs and one output type inline (`NodeInputs`, `NodeOutputs`); more
  /// inputs or outputs go to arrays, and both read the same.
  @Test func nodeListsReadLikeArrays() {
    let refs = (0..<5).map { ValueRef(node: $0, output: $0 % 2) }
    for n in 0...5 {
      #expect(Array(NodeInputs(Array(refs.prefix(n)))) == Array(refs.prefix(n)))
    }
    let infos = (1...3).map { TensorInfo(dtype: .float32, shape: PartialShape([$0])) }
    for n in 0...3 {
      var outputs = NodeOutputs(Array(infos.prefix(n)))
      #expect(Array(outputs) == Array(infos.prefix(n)))
      if n > 0 {
        outputs[n - 1] = TensorInfo(dtype: .float64, shape: [nil])
        #expect(outputs[n - 1] == TensorInfo(dtype: .float64, shape: [nil]) && outputs.count == n)
      }
    }
  }
}
