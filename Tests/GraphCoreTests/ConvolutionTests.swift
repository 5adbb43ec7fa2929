import ArrayCore
import Foundation
@testable import GraphCore
import Testing
import TestSupport

/// Convolution and pooling beyond the operation table: values TensorFlow computed
/// (Tests/Fixtures/conv_reference.json, written by Scripts/reference/conv_fixture.py), shapes with
/// an unknown batch, the kernels' block and thread paths, and the errors for bad input.
@Suite struct ConvolutionTests {
  static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

  private static func array(_ any: Any?) throws -> NDArray {
    let d = try #require(any as? [String: Any])
    let shape = try #require(d["shape"] as? [Int]), data = try #require(d["data"] as? [Double])
    return NDArray(data, shape: Shape(shape))
  }

  /// Runs `build` on constants in `dtype` and returns the fetched values.
  private static func run(_ dtype: DType, _ inputs: [NDArray], _ build: (Graph, [Tensor]) throws -> [Tensor]) throws -> [NDArray] {
    let g = Graph()
    let xs = inputs.map { g.constant($0.converted(to: dtype)) }
    return try Session(graph: g).run(try build(g, xs))
  }

  @Test("values and gradients match those TensorFlow computed (committed fixture)", arguments: [DType.float64, .float32])
  func tensorFlowFixture(dtype: DType) throws {
    let data = try Data(contentsOf: URL(fileURLWithPath: Self.root + "/Tests/Fixtures/conv_reference.json"))
    let doc = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    let cases = try #require(doc["cases"] as? [[String: Any]])
    #expect(cases.count >= 15)
    let (atol, rtol) = dtype == .float64 ? (1e-10, 1e-10) : (1e-4, 1e-5)
    var checked = 0
    for (i, c) in cases.enumerated() {
      let op = try #require(c["op"] as? String)
      let strides = try #require(c["strides"] as? [Int])
      let paddingName = try #require(c["padding"] as? String)
      let padding = try #require(Padding(rawValue: paddingName))
      let x = try Self.array(c["x"])
      let label = "case \(i) \(op) \(dtype)"
      switch op {
      case "conv2d":
        let w = try Self.array(c["w"]), r = try Self.array(c["r"])
        let dilations = try #require(c["dilations"] as? [Int]), groups = try #require(c["groups"] as? Int)
        let withGradients = c["dx"] != nil
        let out = try Self.run(dtype, [x, w, r]) { _, t in
          let y = try conv2d(t[0], t[1], strides: strides, padding: padding, dilations: dilations, groups: groups)
          guard withGradients else { return [y] }
          let gs = try gradients(of: [sum(y * t[2])], withRespectTo: [t[0], t[1]])
          return [y, gs[0]!, gs[1]!]
        }
        #expect(toleranceRatio(out[0], try Self.array(c["y"]), atol: atol, rtol: rtol) <= 1, "\(label) y")
        if withGradients {
          #expect(toleranceRatio(out[1], try Self.array(c["dx"]), atol: atol, rtol: rtol) <= 1, "\(label) dx")
          #expect(toleranceRatio(out[2], try Self.array(c["dw"]), atol: atol, rtol: rtol) <= 1, "\(label) dw")
        }
      case "conv2d_transpose":
        let w = try Self.array(c["w"]), shape = try #require(c["output_shape"] as? [Int])
        let out = try Self.run(dtype, [x, w]) { _, t in
          [try conv2dTranspose(t[0], t[1], outputShape: shape, strides: strides, padding: padding)]
        }
        #expect(toleranceRatio(out[0], try Self.array(c["y"]), atol: atol, rtol: rtol) <= 1, "\(label) y")
      default:
        let window = try #require(c["window"] as? [Int]), r = try Self.array(c["r"])
        let out = try Self.run(dtype, [x, r]) { _, t in
          let y = op == "max_pool"
            ? try maxPool2d(t[0], window: window, strides: strides, padding: padding)
            : try avgPool2d(t[0], window: window, strides: strides, padding: padding)
          return [y, try gradients(of: [sum(y * t[1])], withRespectTo: [t[0]])[0]!]
        }
        #expect(toleranceRatio(out[0], try Self.array(c["y"]), atol: atol, rtol: rtol) <= 1, "\(label) y")
        #expect(toleranceRatio(out[1], try Self.array(c["dx"]), atol: atol, rtol: rtol) <= 1, "\(label) dx")
      }
      checked += 1
    }
    #expect(checked == cases.count)
  }

  @Test("an unknown batch size flows through the shape rules and gradients")
  func unknownBatch() throws {
    let g = Graph()
    let x = g.placeholder(.float32, shape: [nil, 28, 28, 1])
    let w1 = g.constant(try NDArray(repeating: 0.1, shape: [3, 3, 1, 4], dtype: .float32))
    let w2 = g.constant(try NDArray(repeating: 0.1, shape: [3, 3, 4, 8], dtype: .float32))
    let c1 = try conv2d(x, w1)
    #expect(c1.shape == [nil, 26, 26, 4])
    let p1 = try maxPool2d(relu(c1), window: [2, 2])
    #expect(p1.shape == [nil, 13, 13, 4])
    let c2 = try conv2d(p1, w2, strides: [2, 2], padding: .same)
    #expect(c2.shape == [nil, 7, 7, 8])
    let a = try avgPool2d(c2, window: [3, 3], strides: [2, 2], padding: .same)
    #expect(a.shape == [nil, 4, 4, 8])
    let gap = try globalAveragePool(a)
    #expect(gap.shape == [nil, 8])
    let loss = try sum(gap)
    let grads = try gradients(of: [loss], withRespectTo: [x])
    #expect(grads[0]?.shape == [nil, 28, 28, 1])
    let session = Session(graph: g)
    for n in [1, 3] {
      let v = try session.run([loss, grads[0]!], feeding: [x: try NDArray(repeating: 1, shape: [n, 28, 28, 1], dtype: .float32)])
      #expect(v[1].shape == [n, 28, 28, 1])
    }
  }

  @Test("large batches (several im2col blocks, all threads) agree with the plain loops")
  func blocksAndThreads() throws {
    var gen = SeededGenerator(seed: 11)
    let configs: [([Int], [Int], RefConvConfig)] = [
      ([40, 12, 12, 3], [3, 3, 3, 8], RefConvConfig(strides: [1, 1], same: false, dilations: [1, 1], groups: 1)),
      ([33, 10, 9, 4], [3, 3, 2, 6], RefConvConfig(strides: [2, 1], same: true, dilations: [1, 1], groups: 2)),
      ([17, 8, 8, 16], [1, 1, 16, 24], RefConvConfig(strides: [1, 1], same: true, dilations: [1, 1], groups: 1)),
    ]
    for (xs, ws, c) in configs {
      let x = Domain.real(-1, 1).array(xs, &gen), w = Domain.real(-1, 1).array(ws, &gen)
      let y = refConv2d(x, w, c)
      let r = Domain.real(-1, 1).array(y.shape.dimensions, &gen)
      let out = try Self.run(.float64, [x, w, r]) { _, t in
        let yy = try conv2d(t[0], t[1], strides: c.strides, padding: c.padding, dilations: c.dilations, groups: c.groups)
        let gs = try gradients(of: [sum(yy * t[2])], withRespectTo: [t[0], t[1]])
        return [yy, gs[0]!, gs[1]!]
      }
      #expect(toleranceRatio(out[0], y, atol: 1e-11, rtol: 1e-11) <= 1, "\(c) y")
      #expect(toleranceRatio(out[1], refConv2dTranspose(r, w, inputShape: xs, c), atol: 1e-11, rtol: 1e-11) <= 1, "\(c) dx")
      #expect(toleranceRatio(out[2], refConv2dFilter(x, r, filterShape: ws, c), atol: 1e-10, rtol: 1e-10) <= 1, "\(c) dw")
      let p = try Self.run(.float64, [x]) { _, t in
        [try maxPool2d(t[0], window: [3, 3], strides: [2, 2], padding: .same), try avgPool2d(t[0], window: [2, 2], padding: .same)]
      }
      #expect(toleranceRatio(p[0], refPool(x, window: [3, 3], strides: [2, 2], same: true, max: true), atol: 0, rtol: 0) <= 1)
      #expect(toleranceRatio(p[1], refPool(x, window: [2, 2], strides: [2, 2], same: true, max: false), atol: 1e-12, rtol: 1e-12) <= 1)
    }
  }

  /// Float32 convolutions with a short reduction (K = kh·kw·c ≤ 16, output channels a multiple
  /// of 8 up to 64: a first layer) take the direct AVX2 kernel where the CPU has AVX2; its
  /// forward pass and filter gradient agree with the float64 plain loops, padding, strides and
  /// an odd batch included.
  @Test(
    "the direct first-layer kernel agrees with the plain loops",
    arguments: [
      ([5, 28, 28, 1], [3, 3, 1, 32], RefConvConfig(strides: [1, 1], same: false, dilations: [1, 1], groups: 1)),
      ([3, 9, 11, 1], [3, 3, 1, 16], RefConvConfig(strides: [2, 2], same: true, dilations: [1, 1], groups: 1)),
      ([4, 7, 7, 3], [2, 2, 3, 64], RefConvConfig(strides: [1, 2], same: true, dilations: [1, 1], groups: 1)),
      ([2, 10, 10, 2], [2, 3, 2, 24], RefConvConfig(strides: [1, 1], same: false, dilations: [1, 1], groups: 1)),
      ([2, 12, 12, 1], [4, 4, 1, 8], RefConvConfig(strides: [1, 1], same: true, dilations: [1, 1], groups: 1)),
      ([3, 6, 6, 1], [1, 1, 1, 40], RefConvConfig(strides: [2, 2], same: true, dilations: [1, 1], groups: 1)),
    ])
  func directKernel(_ xs: [Int], _ ws: [Int], _ c: RefConvConfig) throws {
    var gen = SeededGenerator(seed: 5)
    let x = Domain.real(-1, 1).array(xs, &gen), w = Domain.real(-1, 1).array(ws, &gen)
    let y = refConv2d(x, w, c)
    let r = Domain.real(-1, 1).array(y.shape.dimensions, &gen)
    func compute() throws -> [NDArray] {
      try Self.run(.float32, [x, w, r]) { _, t in
        let yy = try conv2d(t[0], t[1], strides: c.strides, padding: c.padding, dilations: c.dilations, groups: c.groups)
        let gs = try gradients(of: [sum(yy * t[2])], withRespectTo: [t[1]])
        return [yy, gs[0]!]
      }
    }
    // (Not against KernelSettings.forcePortable: the switch is process-wide, and other suites
    // running at the same time compare paths bit for bit.)
    let fast = try compute()
    let k = Double(ws[0] * ws[1] * ws[2]), pixels = Double(y.shape.elementCount / ws[3])
    #expect(toleranceRatio(fast[0], y, atol: 1e-6 * k, rtol: 1e-5) <= 1, "\(c) y")
    #expect(toleranceRatio(fast[1], refConv2dFilter(x, r, filterShape: ws, c), atol: 1e-6 * pixels, rtol: 1e-5) <= 1, "\(c) dw")
  }

  /// 3x3 convolutions with stride 1, at least 32 channels on each side and 512 output tiles
  /// take the Winograd form (``KernelSettings/winogradConvolutions``): the forward pass (also
  /// fused with a bias and a rectifier), the input gradient and the filter gradient agree with
  /// the float64 plain loops on every instruction set this CPU has, in float64 and float32, for
  /// odd and even sizes and channel counts, SAME and VALID padding, and their bits differ from
  /// the im2col form's (so the Winograd form ran).
  @Test(
    "the Winograd form agrees with the plain loops",
    arguments: [
      ([16, 13, 13, 32], [3, 3, 32, 40], false),
      ([8, 17, 16, 32], [3, 3, 32, 33], true),
      ([24, 9, 9, 33], [3, 3, 33, 32], true),
      ([128, 6, 6, 32], [3, 3, 32, 32], false),
    ])
  func winogradForm(_ xs: [Int], _ ws: [Int], _ same: Bool) throws {
    var gen = SeededGenerator(seed: 17)
    let c = RefConvConfig(strides: [1, 1], same: same, dilations: [1, 1], groups: 1)
    let x = Domain.real(-1, 1).array(xs, &gen), w = Domain.real(-1, 1).array(ws, &gen)
    let bias = Domain.real(-1, 1).array([ws[3]], &gen)
    let y = refConv2d(x, w, c)
    let r = Domain.real(-1, 1).array(y.shape.dimensions, &gen)
    let yv = y.doubles, bv = bias.doubles
    let fused = NDArray(yv.indices.map { Swift.max(yv[$0] + bv[$0 % ws[3]], 0) }, shape: y.shape)
    let expected = [y, fused, refConv2dTranspose(r, w, inputShape: xs, c), refConv2dFilter(x, r, filterShape: ws, c)]
    func compute(_ dtype: DType, winograd: Bool) throws -> [NDArray] {
      try KernelSettings.withWinogradConvolutions(winograd) {
        try Self.run(dtype, [x, w, r, bias]) { _, t in
          let yy = try conv2d(t[0], t[1], padding: c.padding)
          let gs = try gradients(of: [sum(yy * t[2])], withRespectTo: [t[0], t[1]])
          return [yy, try relu(conv2d(t[0], t[1], padding: c.padding) + t[3]), gs[0]!, gs[1]!]
        }
      }
    }
    let taps = Double(9 * ws[2]), pixels = Double(y.shape.elementCount / ws[3]), back = Double(9 * ws[3])
    for set in KernelSettings.availableInstructionSets {
      try KernelSettings.withInstructionSet(set) {
        for dtype in [DType.float64, .float32] {
          let got = try compute(dtype, winograd: true)
          let wide = dtype == .float32
          let atol = wide ? [1e-6 * taps, 1e-6 * taps, 1e-6 * back, 1e-6 * pixels] : [1e-11, 1e-11, 1e-11, 1e-10]
          for (i, what) in ["y", "relu(y + b)", "dx", "dw"].enumerated() {
            #expect(
              toleranceRatio(got[i], expected[i], atol: atol[i], rtol: wide ? 1e-5 : 1e-11) <= 1,
              "\(xs) \(ws) \(c) \(dtype) on \(set): \(what)")
          }
          let plain = try compute(dtype, winograd: false)
          for i in [0, 2, 3] {
            #expect(got[i].doubles != plain[i].doubles, "\(xs) \(ws) \(dtype) on \(set): output \(i) has the im2col form's bits")
          }
        }
      }
    }
  }

  /// The Winograd form's gradients against central finite differences (float64): for
  /// `f(x, w) = Σ conv2d(x, w)·r` and random directions `(a, b)`, `⟨∂f/∂x, a⟩ + ⟨∂f/∂w, b⟩`
  /// against `(f(x + δa, w + δb) − f(x − δa, w − δb)) / 2δ`, within the operation table's bound
  /// (the full Jacobians of a layer this size would take minutes).
  @Test func winogradGradientsMatchFiniteDifferences() throws {
    var gen = SeededGenerator(seed: 19)
    let real = Domain.real(-1, 1)
    let x = real.array([48, 7, 6, 32], &gen), w = real.array([3, 3, 32, 32], &gen), r = real.array([48, 7, 6, 32], &gen)
    let g = Graph()
    let xt = g.placeholder(.float64, shape: [48, 7, 6, 32]), wt = g.placeholder(.float64, shape: [3, 3, 32, 32])
    let f = try sum(conv2d(xt, wt, padding: .same) * g.constant(r))
    let grads = try gradients(of: [f], withRespectTo: [xt, wt])
    let session = Session(graph: g)
    func value(_ x: NDArray, _ w: NDArray) throws -> Double { try session.run(f, feeding: [xt: x, wt: w]).doubles[0] }
    let symbolic = try session.run([grads[0]!, grads[1]!], feeding: [xt: x, wt: w])
    let delta = 1e-6
    for _ in 0..<3 {
      let a = real.array([48, 7, 6, 32], &gen), b = real.array([3, 3, 32, 32], &gen)
      func moved(_ v: NDArray, _ d: NDArray, _ s: Double) -> NDArray {
        NDArray(zip(v.doubles, d.doubles).map { $0 + s * delta * $1 }, shape: v.shape)
      }
      let numeric = (try value(moved(x, a, 1), moved(w, b, 1)) - value(moved(x, a, -1), moved(w, b, -1))) / (2 * delta)
      let exact = zip(symbolic[0].doubles, a.doubles).reduce(0) { $0 + $1.0 * $1.1 }
        + zip(symbolic[1].doubles, b.doubles).reduce(0) { $0 + $1.0 * $1.1 }
      #expect(abs(numeric - exact) / Swift.max(abs(exact), 1) < 1e-6, "directional derivative \(exact), finite differences \(numeric)")
    }
    let im2col = try KernelSettings.withWinogradConvolutions(false) { try session.run([grads[0]!, grads[1]!], feeding: [xt: x, wt: w]) }
    #expect(symbolic[0].doubles != im2col[0].doubles && symbolic[1].doubles != im2col[1].doubles, "the Winograd form did not run")
  }

  /// The error of `body` as a GraphError's reason and location.
  private func buildError(_ body: (Graph) throws -> Void) -> (op: String, reason: String, line: Int?, text: String) {
    do {
      try body(Graph())
    } catch let error as GraphError {
      if case let .invalidOperation(op, _, _, reason, location) = error { return (op, reason, location?.line, error.description) }
      return ("?", "\(error)", nil, error.description)
    } catch {
      return ("?", "\(error)", nil, "\(error)")
    }
    return ("none", "no error", nil, "")
  }

  @Test("bad input is a GraphError naming the operation, the shapes and the user's line")
  func badInput() {
    func images(_ g: Graph, _ shape: PartialShape) -> Tensor { g.placeholder(.float32, shape: shape, name: "x") }
    func filter(_ g: Graph, _ shape: PartialShape) -> Tensor { g.placeholder(.float32, shape: shape, name: "w") }
    var line = #line + 1
    var e = buildError { g in _ = try conv2d(images(g, [nil, 8, 8, 3]), filter(g, [3, 3, 3])) }
    #expect(e.op == "Conv2D" && e.reason.contains("rank 4") && e.line == line && e.text.contains("[3, 3, 3]"), "\(e)")
    line = #line + 1
    e = buildError { g in _ = try conv2d(images(g, [8, 8, 3]), filter(g, [3, 3, 3, 4])) }
    #expect(e.op == "Conv2D" && e.reason.contains("rank 4") && e.line == line, "\(e)")
    e = buildError { g in _ = try conv2d(images(g, [nil, 8, 8, 3]), filter(g, [3, 3, 2, 4])) }
    #expect(e.op == "Conv2D" && e.reason.contains("channels") && e.text.contains("[3, 3, 2, 4]") && e.text.contains("[?, 8, 8, 3]"), "\(e)")
    e = buildError { g in _ = try conv2d(images(g, [nil, 8, 8, 6]), filter(g, [3, 3, 2, 4]), groups: 4) }
    #expect(e.op == "Conv2D" && e.reason.contains("groups"), "\(e)")
    e = buildError { g in _ = try conv2d(images(g, [nil, 8, 8, 6]), filter(g, [3, 3, 2, 5]), groups: 3) }
    #expect(e.op == "Conv2D" && e.reason.contains("output channels are not divisible"), "\(e)")
    e = buildError { g in _ = try conv2d(images(g, [nil, 8, 8, 3]), filter(g, [3, 3, 3, 4]), strides: [0, 1]) }
    #expect(e.op == "Conv2D" && e.reason.contains("strides must be positive"), "\(e)")
    e = buildError { g in _ = try conv2d(images(g, [nil, 8, 8, 3]), filter(g, [3, 3, 3, 4]), dilations: [1, -2]) }
    #expect(e.op == "Conv2D" && e.reason.contains("dilations must be positive"), "\(e)")
    e = buildError { g in _ = try conv2d(images(g, [nil, 8, 8, 3]), filter(g, [3, 3, 3, 4]), groups: 0) }
    #expect(e.op == "Conv2D" && e.reason.contains("groups must be positive"), "\(e)")
    e = buildError { g in _ = try conv2d(images(g, [nil, 4, 8, 3]), filter(g, [5, 3, 3, 4])) }
    #expect(e.op == "Conv2D" && e.reason.contains("larger than the input"), "\(e)")
    e = buildError { g in _ = try conv2d(images(g, [nil, 5, 8, 3]), filter(g, [3, 3, 3, 4]), dilations: [3, 1]) }
    #expect(e.op == "Conv2D" && e.reason.contains("larger than the input"), "\(e)")
    line = #line + 1
    e = buildError { g in _ = try maxPool2d(images(g, [nil, 3, 3, 2]), window: [4, 4]) }
    #expect(e.op == "MaxPool" && e.reason.contains("larger than the input") && e.line == line, "\(e)")
    e = buildError { g in _ = try avgPool2d(images(g, [nil, 6, 6, 2]), window: [2, 0]) }
    #expect(e.op == "AvgPool" && e.reason.contains("window must be positive"), "\(e)")
    e = buildError { g in _ = try avgPool2d(images(g, [nil, 6, 6, 2]), window: [2, 2], strides: [0, 2]) }
    #expect(e.op == "AvgPool" && e.reason.contains("strides must be positive"), "\(e)")
    e = buildError { g in _ = try maxPool2d(images(g, [nil, 6, 6]), window: [2, 2]) }
    #expect(e.op == "MaxPool" && e.reason.contains("rank 4"), "\(e)")
    e = buildError { g in _ = try maxPool2d(images(g, [nil, 6, 6, 1]), window: [2, 2, 2]) }
    #expect(e.op == "MaxPool" && e.reason.contains("2 entries"), "\(e)")
    e = buildError { g in _ = try globalAveragePool(images(g, [nil, 6])) }
    #expect(e.op == "GlobalAveragePool" && e.reason.contains("rank 4"), "\(e)")
    e = buildError { g in
      _ = try conv2dTranspose(images(g, [2, 4, 4, 3]), filter(g, [3, 3, 2, 3]), outputShape: [2, 11, 11, 2], strides: [2, 2])
    }
    #expect(e.op == "Conv2DBackpropInput" && e.reason.contains("gives"), "\(e)")
    e = buildError { g in
      _ = try conv2dTranspose(images(g, [2, 4, 4, 3]), filter(g, [3, 3, 2, 4]), outputShape: [2, 9, 9, 2], strides: [2, 2])
    }
    #expect(e.op == "Conv2DBackpropInput" && e.reason.contains("channels"), "\(e)")
    e = buildError { g in
      let x = g.placeholder(.int32, shape: [1, 4, 4, 1])
      _ = try conv2d(x, filter(g, [3, 3, 1, 1]))
    }
    #expect(e.op == "Conv2D" && e.reason.contains("float"), "\(e)")
    // 2³² channels in 2³² groups against a filter of 2³² channels per group: the product
    // 2⁶⁴ overflowed Int (a trap) where the channels were compared. Both placeholders are valid
    // shapes on a machine with 16 GiB or more; on a smaller one they are refused as too large.
    e = buildError { g in _ = try conv2d(images(g, [nil, 1, 1, 1 << 32]), filter(g, [1, 1, 1 << 32, nil]), groups: 1 << 32) }
    #expect(e.op == "Conv2D" && (e.reason.contains("channels") || e.reason.contains("maximumByteCount")), "\(e)")
  }

  @Test("a run-time feed that does not fit the filter is a SessionError, not a trap")
  func runTimeMismatch() throws {
    let g = Graph()
    let x = g.placeholder(.float32, shape: [nil, nil, nil, 2])
    let w = g.placeholder(.float32, shape: [3, 3, 2, 1])
    let y = try conv2d(x, w)
    #expect(y.shape == [nil, nil, nil, 1])
    let session = Session(graph: g)
    let wv = try NDArray(repeating: 1, shape: [3, 3, 2, 1], dtype: .float32)
    let ok = try session.run(y, feeding: [x: try NDArray(repeating: 1, shape: [1, 4, 5, 2], dtype: .float32), w: wv])
    #expect(ok.shape == [1, 2, 3, 1] && ok.doubles.allSatisfy { $0 == 18 })
    #expect(throws: SessionError.self) {
      try session.run(y, feeding: [x: try NDArray(repeating: 1, shape: [1, 2, 5, 2], dtype: .float32), w: wv])
    }
  }
}
