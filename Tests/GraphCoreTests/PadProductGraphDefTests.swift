import ArrayCore
import Foundation
@testable import GraphCore
import Testing
import TestSupport

/// `Pad`/`PadV2`, `Prod`, `Cumprod` and `Conv2D` with `padding: EXPLICIT` in GraphDefs: written
/// as TensorFlow's nodes and read back, and the attributes the importer cannot honour refused
/// naming the node. (Graphs TensorFlow itself wrote are in GraphDefProbeTests: op_pad,
/// op_pad_v2, op_prod, op_prod_keep_zero, op_prod_int, attr_conv_explicit_padding,
/// attr_conv_explicit_strided, keras_zero_padding, v1_pad_prod_sgd.)
@Suite struct PadProductGraphDefTests {
  /// GraphDef bytes of hand-written nodes (for attributes TensorFlow would not write).
  private func graphDef(_ nodes: [TFNode]) -> [UInt8] {
    var g = ProtobufWriter()
    for n in nodes { g.message(1, n.encoded()) }
    return g.bytes
  }

  private func const(_ name: String, _ value: NDArray) -> TFNode {
    TFNode(name: name, op: "Const", attrs: [("dtype", .type(value.dtype)), ("value", .tensor(value))])
  }

  private func placeholder(_ name: String, _ shape: PartialShape) -> TFNode {
    TFNode(name: name, op: "Placeholder", attrs: [("dtype", .type(.float32)), ("shape", .shape(shape))])
  }

  /// The forward values and the gradients (through `Cumprod`, `Slice`, `Split`) survive a
  /// GraphDef written by Backprop and read back; the nodes are TensorFlow's `Pad`, `PadV2`,
  /// `Prod` and `Cumprod`.
  @Test func padAndProductRoundTripWithTheirGradients() throws {
    let g = Graph()
    let x = g.placeholder(.float32, shape: [nil, 3], name: "x")
    let zeros = try pad(x, paddings: [(1, 0), (0, 2)], name: "zeros")
    let ones = try pad(x, paddings: [(0, 1), (1, 1)], value: 1, name: "ones")
    let p = try product(zeros + ones, axes: [1], keepDims: true, name: "prod")
    let c = try cumprod(ones, axis: 1, exclusive: true, reverse: true, name: "cumprod")
    let loss = try sum(p) + sum(c)
    let dx = try gradients(of: [loss], withRespectTo: [x])[0]!
    let bytes = try g.graphDef()
    let types = try GraphDefDecoder.nodes(bytes, source: "test").map(\.op)
    for op in ["Pad", "PadV2", "Prod", "Cumprod"] { #expect(types.contains(op), "\(op) in \(types)") }

    let h = try Graph(graphDef: bytes)
    let input = NDArray([Float(0.5), 0, -1.5, 2, 1.25, -0.75], shape: [2, 3])
    let want = try Session(graph: g).run([p, c, dx], feeding: [x: input])
    let hx = try #require(h.tensor(named: "x")), hp = try #require(h.tensor(named: "prod")), hc = try #require(h.tensor(named: "cumprod"))
    let hdx = try #require(h.tensor(named: dx.name))
    let got = try Session(graph: h).run([hp, hc, hdx], feeding: [hx: input])
    for (a, b) in zip(got, want) { #expect(a.isBitIdentical(to: b), "\(a) vs \(b)") }
    // `BACKPROP_PAD_PROD_GRAPHDEF=PREFIX` writes PREFIX.pb, the input and Backprop's values
    // (PREFIX_x.npy, PREFIX_prod.npy, PREFIX_cumprod.npy, PREFIX_dx.npy, dx's node name in
    // PREFIX_dx.txt) for running the file in TensorFlow itself.
    if let prefix = ProcessInfo.processInfo.environment["BACKPROP_PAD_PROD_GRAPHDEF"] {
      try FileIO.writeAtomically(bytes, toPath: prefix + ".pb")
      try input.writeNPY(toPath: prefix + "_x.npy")
      for (value, suffix) in zip(want, ["prod", "cumprod", "dx"]) { try value.writeNPY(toPath: prefix + "_\(suffix).npy") }
      try FileIO.writeAtomically(Array(dx.name.utf8), toPath: prefix + "_dx.txt")
    }
    // The gradients of the imported graph are built again from the imported primitives.
    let again = try gradients(of: [sum(hp)], withRespectTo: [hx])[0]!
    #expect(try Session(graph: h).run(again, feeding: [hx: input]).shape == [2, 3])
  }

  /// `padding: EXPLICIT` is a `Pad` of the image and a VALID convolution: the values of a
  /// padding and a convolution built by hand. Paddings of the batch or channel axes, a missing
  /// or short `explicit_paddings`, are refused naming the node.
  @Test func explicitConvolutionPaddingIsAPadThenAValidConvolution() throws {
    let filter = NDArray((0..<12).map { Float($0) - 5 }, shape: [3, 2, 1, 2])
    func conv(_ paddings: [Int]?) -> [TFNode] {
      var attrs: [(String, TFAttr)] = [
        ("T", .type(.float32)), ("strides", .ints([1, 2, 1, 1])), ("padding", .string("EXPLICIT")), ("data_format", .string("NHWC")),
      ]
      if let paddings { attrs.append(("explicit_paddings", .ints(paddings))) }
      return [placeholder("x", [2, 3, 4, 1]), const("w", filter), TFNode(name: "conv", op: "Conv2D", inputs: ["x", "w"], attrs: attrs)]
    }
    let h = try Graph(graphDef: graphDef(conv([0, 0, 2, 1, 1, 1, 0, 0])))
    let hx = try #require(h.tensor(named: "x")), hy = try #require(h.tensor(named: "conv"))
    #expect(hy.shape == [2, 2, 5, 2])  // heights 3 + 2 + 1 = 6, a window of 3 at stride 2: 2; widths 4 + 1 + 1 = 6, a window of 2: 5
    #expect(h.operations.contains { $0.type == "Pad" && $0.name == "conv/explicit_padding" })

    let g = Graph()
    let x = g.placeholder(.float32, shape: [2, 3, 4, 1])
    let y = try conv2d(pad(x, paddings: [(0, 0), (2, 1), (1, 1), (0, 0)]), g.constant(filter), strides: [2, 1])
    let input = NDArray((0..<24).map { Float($0) * 0.25 - 3 }, shape: [2, 3, 4, 1])
    let got = try Session(graph: h).run(hy, feeding: [hx: input])
    #expect(got.isBitIdentical(to: try Session(graph: g).run(y, feeding: [x: input])))

    for (paddings, words) in [([1, 0, 0, 0, 0, 0, 0, 0], "none on the batch and channel axes"), ([0, 0, 1, 1], "8 non-negative sizes")] as [([Int], String)] {
      let error = #expect(throws: GraphDefError.self) { try Graph(graphDef: graphDef(conv(paddings))) }
      let text = error.map { "\($0)" } ?? ""
      #expect(text.contains("node 'conv' (Conv2D)") && text.contains(words), "\(text)")
    }
    let missing = #expect(throws: GraphDefError.self) { try Graph(graphDef: graphDef(conv(nil))) }
    #expect("\(missing.map { "\($0)" } ?? "")".contains("node 'conv' (Conv2D): padding EXPLICIT"))
  }

  /// A paddings tensor of another rank than the input's, a negative padding, and a PadV2 value
  /// that is not a constant: errors naming the node.
  @Test func badPaddingsAreRefusedNamingTheNode() throws {
    func padNode(_ paddings: NDArray, op: String = "Pad", value: [TFNode] = []) -> [UInt8] {
      graphDef(
        [placeholder("x", [2, 3]), const("p", paddings)] + value + [
          TFNode(name: "pad", op: op, inputs: ["x", "p"] + (value.isEmpty ? [] : ["v"]), attrs: [("T", .type(.float32)), ("Tpaddings", .type(.int32))])
        ])
    }
    let short = #expect(throws: GraphDefError.self) { try Graph(graphDef: padNode(NDArray([Int32(1), 1], shape: [1, 2]))) }
    #expect("\(short.map { "\($0)" } ?? "")".contains("node 'pad' (Pad): paddings [1, 1] need a (before, after) pair per axis"))
    let negative = #expect(throws: GraphError.self) { try Graph(graphDef: padNode(NDArray([Int32(1), 1, 0, -1], shape: [2, 2]))) }
    let text = "\(negative.map { "\($0)" } ?? "")"
    #expect(text.contains("[Pad] 'pad'") && text.contains("must not be negative"), "\(text)")
    let fed = #expect(throws: GraphDefError.self) {
      try Graph(graphDef: padNode(NDArray([Int32(1), 1, 0, 1], shape: [2, 2]), op: "PadV2", value: [self.placeholder("v", [])]))
    }
    #expect("\(fed.map { "\($0)" } ?? "")".contains("node 'pad' (PadV2): input 2 must be a one-element constant"))
    let h = try Graph(graphDef: padNode(NDArray([Int32(1), 1, 0, 1], shape: [2, 2]), op: "PadV2", value: [const("v", NDArray([Float(2.5)], shape: []))]))
    let v = try Session(graph: h).run(#require(h.tensor(named: "pad")), feeding: [#require(h.tensor(named: "x")): NDArray([Float](repeating: 1, count: 6), shape: [2, 3])])
    #expect(v.shape == [4, 4] && v.doubles.filter { $0 == 2.5 }.count == 10)
  }
}
