import ArrayCore
import Foundation
import Synchronization
import GraphCore
import Testing
import TestSupport
import Training

/// The sixth probe (session 24): this session's features combined.
@Suite struct SixthProbeTests {
  private func scalar(_ a: NDArray) -> Double { a.doubles[0] }

  /// An operation on eager variables alone inside a `compile` trace (`v * 2`, `l2Penalty` of a
  /// layer's weights) ran eagerly at tracing time and became a constant of the trace: later
  /// calls used the variable's old value, and a tape's gradient with respect to it missed that
  /// term, silently.
  @Test func operationsOnCapturedVariablesAreTraced() throws {
    let p = Graph.eager()
    let v = try p.variable(NDArray([Float(1)]), name: "v")
    let x = NDArray([Float(0)])
    let f = compile { i in [try i[0] + v * 2] }
    #expect(scalar(try f([x])[0]) == 2)
    try v.assign(NDArray([Float(5)]))
    #expect(scalar(try f([x])[0]) == 10)

    // A tape inside the trace: d/dv (x·v + ½v²) = x + v.
    let g = compile { i in
      let tape = GradientTape()
      let loss = try tape.record { try sum(i[0] * v) + l2Penalty([v], scale: 1) }
      return try tape.gradient(of: loss, withRespectTo: [v])
    }
    #expect(scalar(try g([x])[0]) == 5)
    try v.assign(NDArray([Float(3)]))
    #expect(scalar(try g([x])[0]) == 3)

    // A compiled function called inside another's trace is inlined, also without inputs.
    let inner = compile { _ in [try v * 3] }
    let outer = compile { i in [try i[0] + inner([])[0]] }
    #expect(scalar(try outer([x])[0]) == 9)
    try v.assign(NDArray([Float(4)]))
    #expect(scalar(try outer([x])[0]) == 12)
    #expect(inner.traceCount == 0)

    // valueWithGradient at the variables themselves inside a trace: d/dv Σ(v²) = 2v.
    let h = compile { i in
      let (loss, grads) = try valueWithGradient(at: [v]) { q in try sum(square(q[0]) + i[0]) }
      return [loss] + grads
    }
    #expect(try h([x]).map { scalar($0) } == [16, 8])
    try v.assign(NDArray([Float(1)]))
    #expect(try h([x]).map { scalar($0) } == [1, 2])
  }

  @Test func probesThatShouldHold() throws {
    // Second derivatives through nested compiled functions on a tape.
    let cube = compile { i in [try i[0] * i[0] * i[0]] }
    let outer = compile { i in [try cube(i)[0] * 1] }
    let tape = GradientTape()
    let t = tape.watch(NDArray([2.0]))
    let y = try tape.record { try outer([t])[0] }
    let dy = try tape.gradient(of: y, withRespectTo: [t])[0]
    let d2 = try tape.gradient(of: dy, withRespectTo: [t])[0]
    #expect(scalar(try dy.value) == 12)
    #expect(scalar(try d2.value) == 12)
    #expect(cube.traceCount == 0 && outer.traceCount == 0)
    // Through a trace: compiled twice-differentiated.
    let second = compile { i in
      let (_, g) = try valueWithGradient(at: i) { p in
        let (_, inner) = try valueWithGradient(at: p) { q in try cube(q)[0] }
        return inner[0]
      }
      return g
    }
    #expect(scalar(try second([NDArray([2.0])])[0]) == 12)

    // No outputs and integer outputs on a tape.
    let none = compile { _ in [] }
    let am = compile { i in [try argMax(i[0], axis: 0)] }
    let tape2 = GradientTape()
    let u = tape2.watch(NDArray([Float(1), 3, 2]))
    try tape2.record { () throws -> Void in
      #expect(try none([u]).isEmpty)
      #expect(try am([u])[0].value.doubles == [1])
    }
    #expect(try none([NDArray([Float(1)])]).isEmpty)
    #expect(try am([NDArray([Float(1), 3, 2])])[0].doubles == [1])

    // Numeric checks restored after a throw.
    struct Oops: Error {}
    #expect(throws: Oops.self) { try withNumericChecks { throw Oops() } }
    let l = try log(Tensor(NDArray([Float(0)])))
    #expect(try l.value.doubles[0] == -.infinity)
    #expect(throws: SessionError.self) { try withNumericChecks { _ = try log(Tensor(NDArray([Float(0)]))) } }

    // Trace gradients: another graph's x, int x, a never-read eager value.
    let p = Graph.eager()
    let w = try p.variable(NDArray([Float(2)]), name: "w")
    let unused = Tensor(NDArray([Float(1), 2]))
    let other = Graph().placeholder(.float32, shape: [1], name: "o")
    let grads = compile { i in
      let tape = GradientTape()
      let loss = try tape.record { try sum(i[0] * w) }
      return try tape.gradient(of: loss, withRespectTo: [w, unused, i[0]])
    }
    let out = try grads([NDArray([Float(3)])])
    #expect(out.map(\.doubles) == [[3], [0, 0], [2]])
    let foreign = compile { i in
      let tape = GradientTape()
      let loss = try tape.record { try sum(i[0] * w) }
      return try tape.gradient(of: loss, withRespectTo: [other])
    }
    #expect(throws: GraphError.self) { _ = try foreign([NDArray([Float(3)])]) }
    let integer = compile { i in
      let tape = GradientTape()
      let loss = try tape.record { try sum(i[0] * w) }
      return try tape.gradient(of: loss, withRespectTo: [Tensor(NDArray([Int32(1)]))])
    }
    #expect(throws: GraphError.self) { _ = try integer([NDArray([Float(3)])]) }
  }

  @Test func compiledFunctionsFromSeveralThreads() throws {
    let p = Graph.eager()
    let w = try p.variable(NDArray([Float(2)]), name: "w")
    let f = compile { i in [try square(i[0] * w)] }
    let errors = Mutex<[String]>([])
    DispatchQueue.concurrentPerform(iterations: 8) { k in
      for j in 0..<50 {
        let xv = Float(k * 100 + j)
        do {
          if k % 2 == 0 {
            let tape = GradientTape()
            let x = tape.watch(NDArray([xv]))
            let y = try tape.record { try f([x])[0] }
            let g = try tape.gradient(of: y, withRespectTo: [x])[0].value
            if g.doubles != [Double(8 * xv)] { errors.withLock { $0.append("grad \(k) \(j) \(g.doubles)") } }
          } else {
            let y = try f([NDArray([xv])])[0]
            if y.doubles != [Double(4 * xv * xv)] { errors.withLock { $0.append("value \(k) \(j) \(y.doubles)") } }
          }
        } catch { errors.withLock { $0.append("\(error)") } }
      }
    }
    #expect(errors.withLock { $0 } == [])
    #expect(f.traceCount == 1)
  }
}

@Suite struct SixthProbeLossTests {
  @Test func lossShapeChecksEverywhere() throws {
    for dtype in [DType.float32, .float64] {
      let g = Graph()
      let p = g.placeholder(dtype, shape: [nil], name: "p")
      let e = g.placeholder(dtype, shape: [nil], name: "e")
      let loss = try meanSquaredError(predicted: p, expected: e)
      let s = Session(graph: g)
      let two = NDArray(converting: [1.0, 2], shape: [2], dtype: dtype)
      let three = NDArray(converting: [1.0, 2, 3], shape: [3], dtype: dtype)
      #expect(throws: SessionError.self) { _ = try s.run(loss, feeding: [p: two, e: three]) }
      // Round trip through a GraphDef.
      let h = try Graph(graphDef: try g.graphDef())
      let hs = Session(graph: h)
      let hp = try #require(h.tensor(named: "p:0")), he = try #require(h.tensor(named: "e:0"))
      let hl = try #require(h.tensor(named: loss.name))
      #expect(throws: SessionError.self) { _ = try hs.run(hl, feeding: [hp: two, he: three]) }
      #expect(try hs.run(hl, feeding: [hp: two, he: two]).doubles == [0])
      // Empty batches: NaN, as the mean of nothing (TF).
      let empty = NDArray(converting: [Double](), shape: [0], dtype: dtype)
      #expect(try s.run(loss, feeding: [p: empty, e: empty]).doubles[0].isNaN)
      // Gradients, first and second order, eager.
      let x = Tensor(two)
      let (_, g1) = try valueWithGradient(at: [x]) { q in
        let (_, inner) = try valueWithGradient(at: q) { r in try meanSquaredError(predicted: r[0] * r[0], expected: Tensor(two)) }
        return try sum(inner[0])
      }
      #expect(g1[0].shape == [2])
      // Compiled with mismatched shapes: thrown, naming the loss.
      let f = compile { i in [try meanSquaredError(predicted: i[0], expected: i[1])] }
      #expect(throws: GraphError.self) { _ = try f([two, three]) }
    }
  }
}
