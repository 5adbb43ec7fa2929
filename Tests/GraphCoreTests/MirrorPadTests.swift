import ArrayCore
import Foundation
@testable import GraphCore
import Testing
import TestSupport

/// `mirrorPad` (tf.pad in REFLECT and SYMMETRIC modes) beyond the operation table: TensorFlow's
/// documented examples, the gradient derived by hand, errors, and a GraphDef round trip.
@Suite struct MirrorPadTests {
  /// `[1, 2, 3]` padded by `(2, 2)`: REFLECT `[3, 2, 1, 2, 3, 2, 1]`, SYMMETRIC
  /// `[2, 1, 1, 2, 3, 3, 2]`. The gradient of `sum(y · w)` with `w = [1, 10, 100, …, 10⁶]` adds
  /// each position's weight onto its source: REFLECT sources `[2, 1, 0, 1, 2, 1, 0]`, so
  /// `dx = [100 + 10⁶, 10 + 1000 + 10⁵, 1 + 10⁴]`; SYMMETRIC sources `[1, 0, 0, 1, 2, 2, 1]`,
  /// `dx = [10 + 100, 1 + 1000 + 10⁶, 10⁴ + 10⁵]`.
  @Test func theDocumentedExamplesAndTheirGradients() throws {
    let weights = (0..<7).map { Foundation.pow(10, Double($0)) }
    let cases: [(MirrorPadMode, [Double], [Double])] = [
      (.reflect, [3, 2, 1, 2, 3, 2, 1], [100 + 1e6, 10 + 1000 + 1e5, 1 + 1e4]),
      (.symmetric, [2, 1, 1, 2, 3, 3, 2], [10 + 100, 1 + 1000 + 1e6, 1e4 + 1e5]),
    ]
    for (mode, values, gradient) in cases {
      let g = Graph()
      let x = g.placeholder(.float64, shape: [3])
      let y = try mirrorPad(x, paddings: [(2, 2)], mode: mode)
      let dx = try gradients(of: [sum(y * g.constant(NDArray(weights, shape: [7])))], withRespectTo: [x])[0]!
      let v = try Session(graph: g).run([y, dx], feeding: [x: NDArray([1.0, 2, 3], shape: [3])])
      #expect(v[0].doubles == values, "\(mode)")
      #expect(v[1].doubles == gradient, "\(mode)")

      let tape = GradientTape()
      let e = tape.watch(NDArray([1.0, 2, 3], shape: [3]))
      let ey = try mirrorPad(e, paddings: [(2, 2)], mode: mode)
      #expect(try ey.value.doubles == values)
    }
    // Two axes, int32 and bool (copies of any dtype).
    let g = Graph()
    let i = g.constant(NDArray([Int32(1), 2, 3, 4, 5, 6], shape: [2, 3]))
    let b = g.constant(NDArray([true, false], shape: [2]))
    let v = try Session(graph: g).run([mirrorPad(i, paddings: [(1, 0), (0, 2)], mode: .reflect), mirrorPad(b, paddings: [(1, 2)], mode: .symmetric)])
    #expect(v[0].scalars(as: Int32.self) == [4, 5, 6, 5, 4, 1, 2, 3, 2, 1, 4, 5, 6, 5, 4])
    #expect(v[1].scalars(as: Bool.self) == [true, true, false, false, true])
  }

  @Test func paddingsBeyondTheModesLimitAreErrorsNamingTheShapeAndLine() throws {
    let g = Graph()
    let x = g.placeholder(.float32, shape: [2, 3], name: "x")
    let cases: [(Int, () throws -> Tensor, String)] = [
      (#line, { try mirrorPad(x, paddings: [(2, 0), (0, 0)], mode: .reflect) }, "REFLECT pads at most size − 1 = 1"),
      (#line, { try mirrorPad(x, paddings: [(0, 0), (0, 4)], mode: .symmetric) }, "SYMMETRIC pads at most the size = 3"),
      (#line, { try mirrorPad(x, paddings: [(0, 0), (-1, 0)], mode: .symmetric) }, "must not be negative"),
      (#line, { try mirrorPad(x, paddings: [(0, 0)], mode: .reflect) }, "one (before, after) pair per axis"),
    ]
    for (line, build, words) in cases {
      let error = #expect(throws: GraphError.self) { try build() }
      let text = error.map { "\($0)" } ?? ""
      #expect(text.hasPrefix("[MirrorPad]") && text.contains(words) && text.contains("float32 [2, 3]"), "\(text)")
      #expect(text.contains("MirrorPadTests.swift:\(line)"), "\(text)")
    }
    // A size known only when run is checked by the kernel.
    let unknown = g.placeholder(.float32, shape: [nil], name: "u")
    let y = try mirrorPad(unknown, paddings: [(2, 0)], mode: .reflect)
    #expect(throws: (any Error).self) { try Session(graph: g).run(y, feeding: [unknown: NDArray([Float(1), 2], shape: [2])]) }
  }

  /// Written as TensorFlow's `MirrorPad` and `MirrorPadGrad` nodes and read back to the same bits.
  @Test func mirrorPadAndItsGradientRoundTripThroughAGraphDef() throws {
    let g = Graph()
    let x = g.placeholder(.float32, shape: [nil, 3], name: "x")
    let y = try mirrorPad(mirrorPad(x, paddings: [(0, 0), (2, 1)], mode: .reflect), paddings: [(1, 0), (0, 0)], mode: .symmetric, name: "y")
    let dx = try gradients(of: [sum(y * y)], withRespectTo: [x])[0]!
    let bytes = try g.graphDef()
    let types = try GraphDefDecoder.nodes(bytes, source: "test").map(\.op)
    #expect(types.contains("MirrorPad") && types.contains("MirrorPadGrad"), "\(types)")
    let h = try Graph(graphDef: bytes)
    let input = NDArray([Float(0.5), -1, 2, 1.5, 0.25, -0.75], shape: [2, 3])
    let want = try Session(graph: g).run([y, dx], feeding: [x: input])
    let hx = try #require(h.tensor(named: "x"))
    let got = try Session(graph: h).run([#require(h.tensor(named: "y")), #require(h.tensor(named: dx.name))], feeding: [hx: input])
    for (a, b) in zip(got, want) { #expect(a.isBitIdentical(to: b), "\(a) vs \(b)") }
    // `BACKPROP_MIRROR_PAD_GRAPHDEF=PREFIX` writes PREFIX.pb, the input and Backprop's values
    // (PREFIX_x.npy, PREFIX_y.npy, PREFIX_dx.npy, dx's name in PREFIX_dx.txt) for TensorFlow.
    if let prefix = ProcessInfo.processInfo.environment["BACKPROP_MIRROR_PAD_GRAPHDEF"] {
      try FileIO.writeAtomically(bytes, toPath: prefix + ".pb")
      try input.writeNPY(toPath: prefix + "_x.npy")
      for (value, suffix) in zip(want, ["y", "dx"]) { try value.writeNPY(toPath: prefix + "_\(suffix).npy") }
      try FileIO.writeAtomically(Array(dx.name.utf8), toPath: prefix + "_dx.txt")
    }
  }
}
