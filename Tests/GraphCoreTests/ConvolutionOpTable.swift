import ArrayCore
import Foundation
@testable import GraphCore
import Testing
import TestSupport

// The convolution and pooling rows of the operation table, with reference implementations over
// plain loops (independent of the kernels: index arithmetic written out from TF's definitions,
// reading `doubles` and writing float64 arrays).

/// One convolution configuration drawn by the table.
struct RefConvConfig: CustomStringConvertible {
  var strides: [Int]
  var same: Bool
  var dilations: [Int]
  var groups: Int
  var padding: Padding { same ? .same : .valid }
  var description: String { "strides \(strides) \(padding) dilations \(dilations) groups \(groups)" }
}

/// The output size and the padding before along one axis, from TF's formulas.
func refWindowOutput(_ input: Int, _ k: Int, stride s: Int, dilation d: Int, same: Bool) -> (size: Int, pad: Int) {
  let span = (k - 1) * d + 1
  if same {
    let out = (input + s - 1) / s
    let total = Swift.max((out - 1) * s + span - input, 0)
    return (out, total / 2)
  }
  return ((input - span) / s + 1, 0)
}

/// Calls `body(n, oy, ox, i, j, iy, ix)` for every tap of every window that lands inside the image.
func refTaps(
  n: Int, h: Int, w: Int, kh: Int, kw: Int, _ c: RefConvConfig,
  _ body: (_ n: Int, _ oy: Int, _ ox: Int, _ i: Int, _ j: Int, _ iy: Int, _ ix: Int) -> Void
) -> (oh: Int, ow: Int) {
  let (oh, pt) = refWindowOutput(h, kh, stride: c.strides[0], dilation: c.dilations[0], same: c.same)
  let (ow, pl) = refWindowOutput(w, kw, stride: c.strides[1], dilation: c.dilations[1], same: c.same)
  for b in 0..<n {
    for oy in 0..<oh {
      for ox in 0..<ow {
        for i in 0..<kh {
          for j in 0..<kw {
            let iy = oy * c.strides[0] - pt + i * c.dilations[0], ix = ox * c.strides[1] - pl + j * c.dilations[1]
            if iy >= 0 && iy < h && ix >= 0 && ix < w { body(b, oy, ox, i, j, iy, ix) }
          }
        }
      }
    }
  }
  return (oh, ow)
}

/// `y[n, oy, ox, o] = Σ x[n, iy, ix, g·cg + ci] · w[i, j, ci, o]` over the taps inside the image.
func refConv2d(_ x: NDArray, _ w: NDArray, _ c: RefConvConfig) -> NDArray {
  let d = x.shape.dimensions, f = w.shape.dimensions
  let (n, h, wd, ch) = (d[0], d[1], d[2], d[3]), (kh, kw, cg, o) = (f[0], f[1], f[2], f[3])
  let og = o / c.groups
  let xv = x.doubles, wv = w.doubles
  let (oh, ow) = refTaps(n: n, h: h, w: wd, kh: kh, kw: kw, c) { _, _, _, _, _, _, _ in }
  var y = [Double](repeating: 0, count: n * oh * ow * o)
  _ = refTaps(n: n, h: h, w: wd, kh: kh, kw: kw, c) { b, oy, ox, i, j, iy, ix in
    for oc in 0..<o {
      let g = oc / og
      for ci in 0..<cg {
        y[((b * oh + oy) * ow + ox) * o + oc] += xv[((b * h + iy) * wd + ix) * ch + g * cg + ci] * wv[((i * kw + j) * cg + ci) * o + oc]
      }
    }
  }
  return arr(y, [n, oh, ow, o])
}

/// The transposed convolution: `dx[n, iy, ix, g·cg + ci] += dy[n, oy, ox, o] · w[i, j, ci, o]`.
func refConv2dTranspose(_ dy: NDArray, _ w: NDArray, inputShape: [Int], _ c: RefConvConfig) -> NDArray {
  let f = w.shape.dimensions
  let (n, h, wd, ch) = (inputShape[0], inputShape[1], inputShape[2], inputShape[3]), (kh, kw, cg, o) = (f[0], f[1], f[2], f[3])
  let og = o / c.groups
  let gv = dy.doubles, wv = w.doubles
  var dx = [Double](repeating: 0, count: n * h * wd * ch)
  let (oh, ow) = refTaps(n: n, h: h, w: wd, kh: kh, kw: kw, c) { _, _, _, _, _, _, _ in }
  _ = refTaps(n: n, h: h, w: wd, kh: kh, kw: kw, c) { b, oy, ox, i, j, iy, ix in
    for oc in 0..<o {
      let g = oc / og
      for ci in 0..<cg {
        dx[((b * h + iy) * wd + ix) * ch + g * cg + ci] += gv[((b * oh + oy) * ow + ox) * o + oc] * wv[((i * kw + j) * cg + ci) * o + oc]
      }
    }
  }
  return arr(dx, inputShape)
}

/// The filter gradient: `dw[i, j, ci, o] += x[n, iy, ix, g·cg + ci] · dy[n, oy, ox, o]`.
func refConv2dFilter(_ x: NDArray, _ dy: NDArray, filterShape f: [Int], _ c: RefConvConfig) -> NDArray {
  let d = x.shape.dimensions
  let (n, h, wd, ch) = (d[0], d[1], d[2], d[3]), (kh, kw, cg, o) = (f[0], f[1], f[2], f[3])
  let og = o / c.groups
  let xv = x.doubles, gv = dy.doubles
  var dw = [Double](repeating: 0, count: f.reduce(1, *))
  let (oh, ow) = refTaps(n: n, h: h, w: wd, kh: kh, kw: kw, c) { _, _, _, _, _, _, _ in }
  _ = refTaps(n: n, h: h, w: wd, kh: kh, kw: kw, c) { b, oy, ox, i, j, iy, ix in
    for oc in 0..<o {
      let g = oc / og
      for ci in 0..<cg {
        dw[((i * kw + j) * cg + ci) * o + oc] += xv[((b * h + iy) * wd + ix) * ch + g * cg + ci] * gv[((b * oh + oy) * ow + ox) * o + oc]
      }
    }
  }
  return arr(dw, f)
}

/// Max or average pooling over the window positions inside the image; with `dy`, the max-pool
/// gradient instead (each dy added at its window's first maximum).
func refPool(_ x: NDArray, window: [Int], strides: [Int], same: Bool, max: Bool, dy: NDArray? = nil) -> NDArray {
  let d = x.shape.dimensions
  let (n, h, wd, ch) = (d[0], d[1], d[2], d[3])
  let c = RefConvConfig(strides: strides, same: same, dilations: [1, 1], groups: 1)
  let xv = x.doubles
  var groups: [Int: [(Int, Int)]] = [:]  // output position (n, oy, ox) -> input positions (flat, in row-major window order)
  var order: [Int] = []
  let (oh, ow) = refTaps(n: n, h: h, w: wd, kh: window[0], kw: window[1], c) { b, oy, ox, _, _, iy, ix in
    let key = (b * 10_000 + oy) * 10_000 + ox
    if groups[key] == nil { order.append(key) }
    groups[key, default: []].append(((b * h + iy) * wd + ix, (b * oh0(h, window[0], strides[0], same) + oy) * ow0(wd, window[1], strides[1], same) + ox))
  }
  if let dy {
    let gv = dy.doubles
    var dx = [Double](repeating: 0, count: xv.count)
    for key in order {
      let taps = groups[key]!
      for ci in 0..<ch {
        var best = taps[0].0
        for t in taps where xv[t.0 * ch + ci] > xv[best * ch + ci] { best = t.0 }
        dx[best * ch + ci] += gv[taps[0].1 * ch + ci]
      }
    }
    return arr(dx, d)
  }
  var y = [Double](repeating: 0, count: n * oh * ow * ch)
  for key in order {
    let taps = groups[key]!
    for ci in 0..<ch {
      let v = taps.map { xv[$0.0 * ch + ci] }
      y[taps[0].1 * ch + ci] = max ? v.max()! : v.reduce(0, +) / Double(v.count)
    }
  }
  return arr(y, [n, oh, ow, ch])
}

private func oh0(_ h: Int, _ k: Int, _ s: Int, _ same: Bool) -> Int { refWindowOutput(h, k, stride: s, dilation: 1, same: same).size }
private func ow0(_ w: Int, _ k: Int, _ s: Int, _ same: Bool) -> Int { refWindowOutput(w, k, stride: s, dilation: 1, same: same).size }

/// The configurations the convolution rows cycle through: channels (in, out), window, config.
func convDraw(_ k: Int, _ g: inout SeededGenerator) -> (x: [Int], w: [Int], RefConvConfig) {
  let n = 1 + g.choice(2)
  var h = 3 + g.choice(3), w = 3 + g.choice(3)
  let configs: [([Int], [Int], RefConvConfig)] = [
    ([2, 3], [3, 3], RefConvConfig(strides: [1, 1], same: false, dilations: [1, 1], groups: 1)),
    ([1, 2], [3, 3], RefConvConfig(strides: [2, 2], same: true, dilations: [1, 1], groups: 1)),
    ([2, 2], [2, 2], RefConvConfig(strides: [1, 1], same: true, dilations: [1, 1], groups: 1)),
    ([2, 2], [2, 2], RefConvConfig(strides: [1, 1], same: false, dilations: [2, 2], groups: 1)),
    ([4, 2], [2, 3], RefConvConfig(strides: [1, 2], same: true, dilations: [1, 1], groups: 2)),
    ([3, 6], [3, 3], RefConvConfig(strides: [1, 1], same: true, dilations: [1, 1], groups: 3)),
    ([3, 2], [1, 1], RefConvConfig(strides: [1, 1], same: false, dilations: [1, 1], groups: 1)),
    ([2, 3], [3, 2], RefConvConfig(strides: [2, 1], same: true, dilations: [1, 2], groups: 1)),
    ([1, 2], [3, 3], RefConvConfig(strides: [3, 3], same: false, dilations: [1, 1], groups: 1)),
    ([4, 4], [1, 1], RefConvConfig(strides: [2, 2], same: true, dilations: [1, 1], groups: 2)),
  ]
  let (ch, win, c) = configs[k % configs.count]
  if !c.same {  // keep the dilated window inside
    h = Swift.max(h, (win[0] - 1) * c.dilations[0] + 1)
    w = Swift.max(w, (win[1] - 1) * c.dilations[1] + 1)
  }
  return ([n, h, w, ch[0]], [win[0], win[1], ch[0] / c.groups, ch[1]], c)
}

/// The rows.
func convolutionEntries() -> [OpEntry] {
  let floats: [DType] = [.float32, .float64]
  // Convolutions draw from [-1, 1]: their central differences round like sums of up to 36
  // products, so smaller values keep the relative gradient error well under the 1e-6 bound.
  let small = Domain.real(-1, 1)
  let real = Domain.real(-2, 2)
  let note = "sums of up to 36 products in float32"
  var t: [OpEntry] = []
  t.append(
    OpEntry(
      name: "Conv2D", covers: ["Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter"], arity: 2,
      domain: "reals in [-1, 1]; strides, SAME/VALID, dilations, groups, depthwise, 1x1", dtypes: floats,
      differentiable: true, secondOrder: .checked, atol32: 1e-4, rtol32: 1e-5, toleranceNote: note,
      draw: { g, k in
        let (xs, ws, c) = convDraw(k, &g)
        return OpCase(
          inputs: [small.array(xs, &g), small.array(ws, &g)],
          build: { v, _ in
            try conv2d(v[0], v[1], strides: c.strides, padding: c.padding, dilations: c.dilations, groups: c.groups)
          },
          reference: { refConv2d($0[0], $0[1], c) })
      }))
  t.append(
    OpEntry(
      name: "conv2dTranspose", covers: ["Conv2DBackpropInput", "Conv2D", "Conv2DBackpropFilter"], arity: 2,
      domain: "reals in [-1, 1]; the Conv2D row's configurations", dtypes: floats,
      differentiable: true, secondOrder: .checked, atol32: 1e-4, rtol32: 1e-5, toleranceNote: note,
      draw: { g, k in
        let (xs, ws, c) = convDraw(k, &g)
        let y = refConv2d(try! NDArray(repeating: 0, shape: Shape(xs), dtype: .float64), try! NDArray(repeating: 0, shape: Shape(ws), dtype: .float64), c)
        return OpCase(
          inputs: [small.array(y.shape.dimensions, &g), small.array(ws, &g)],
          build: { v, _ in
            try conv2dTranspose(
              v[0], v[1], outputShape: xs, strides: c.strides, padding: c.padding, dilations: c.dilations, groups: c.groups)
          },
          reference: { refConv2dTranspose($0[0], $0[1], inputShape: xs, c) })
      }))
  t.append(
    OpEntry(
      name: "Conv2DBackpropFilter", covers: ["Conv2DBackpropFilter", "Conv2DBackpropInput", "Conv2D"], arity: 2,
      domain: "reals in [-1, 1]; the Conv2D row's configurations", dtypes: floats,
      differentiable: true, secondOrder: .checked, atol32: 1e-4, rtol32: 1e-5, toleranceNote: note,
      draw: { g, k in
        let (xs, ws, c) = convDraw(k, &g)
        let y = refConv2d(try! NDArray(repeating: 0, shape: Shape(xs), dtype: .float64), try! NDArray(repeating: 0, shape: Shape(ws), dtype: .float64), c)
        return OpCase(
          inputs: [small.array(xs, &g), small.array(y.shape.dimensions, &g)],
          build: { v, _ in
            let like = v[0].graph.constant(try! NDArray(repeating: 0, shape: Shape(ws), dtype: v[0].dtype))
            return try conv2dBackpropFilter(
              v[0], v[1], filterLike: like, strides: c.strides, padding: c.padding, dilations: c.dilations, groups: c.groups)
          },
          reference: { refConv2dFilter($0[0], $0[1], filterShape: ws, c) })
      }))
  func poolDraw(_ k: Int, _ g: inout SeededGenerator) -> ([Int], [Int], [Int], Bool) {
    let shape = [1 + g.choice(2), 3 + g.choice(3), 3 + g.choice(3), 1 + g.choice(3)]
    let configs: [([Int], [Int], Bool)] = [
      ([2, 2], [2, 2], false), ([2, 2], [2, 2], true), ([3, 3], [2, 2], true), ([3, 2], [1, 1], false),
      ([2, 3], [1, 2], true), ([3, 3], [3, 3], true), ([1, 1], [2, 2], false),
    ]
    let (win, str, same) = configs[k % configs.count]
    return (shape, win, str, same)
  }
  t.append(
    OpEntry(
      name: "MaxPool", covers: ["MaxPool", "MaxPoolGrad"], arity: 1, domain: Domain.distinct.description, dtypes: floats,
      differentiable: true, secondOrder: .checked,
      draw: { g, k in
        let (shape, win, str, same) = poolDraw(k, &g)
        return OpCase(
          inputs: [Domain.distinct.array(shape, &g)],
          build: { v, _ in try maxPool2d(v[0], window: win, strides: str, padding: same ? .same : .valid) },
          reference: { refPool($0[0], window: win, strides: str, same: same, max: true) })
      }))
  t.append(
    OpEntry(
      name: "MaxPoolGrad", covers: ["MaxPoolGrad", "MaxPoolGradGrad"], arity: 2,
      domain: "x distinct values (no ties); dy reals in [-2, 2]", dtypes: floats,
      differentiable: true, secondOrder: .checked,
      draw: { g, k in
        let (shape, win, str, same) = poolDraw(k, &g)
        let y = refPool(try! NDArray(repeating: 0, shape: Shape(shape), dtype: .float64), window: win, strides: str, same: same, max: true)
        return OpCase(
          inputs: [Domain.distinct.array(shape, &g), real.array(y.shape.dimensions, &g)],
          build: { v, _ in try maxPoolGrad(v[0], v[1], window: win, strides: str, padding: same ? .same : .valid) },
          reference: { refPool($0[0], window: win, strides: str, same: same, max: true, dy: $0[1]) })
      }))
  t.append(
    OpEntry(
      name: "AvgPool", covers: ["AvgPool", "AvgPoolGrad"], arity: 1, domain: real.description, dtypes: floats,
      differentiable: true, secondOrder: .checked,
      draw: { g, k in
        let (shape, win, str, same) = poolDraw(k, &g)
        return OpCase(
          inputs: [real.array(shape, &g)],
          build: { v, _ in try avgPool2d(v[0], window: win, strides: str, padding: same ? .same : .valid) },
          reference: { refPool($0[0], window: win, strides: str, same: same, max: false) })
      }))
  t.append(
    OpEntry(
      name: "globalAveragePool", covers: ["Sum", "RealDiv"], arity: 1, domain: real.description, dtypes: floats,
      differentiable: true, secondOrder: .checked,
      draw: { g, k in
        let shape = [1 + g.choice(2), 1 + g.choice(3), 1 + g.choice(3), 1 + g.choice(3)]
        return OpCase(
          inputs: [real.array(shape, &g)], build: { v, _ in try globalAveragePool(v[0]) },
          reference: { v in
            let d = shape, x = v[0].doubles
            var y = [Double](repeating: 0, count: d[0] * d[3])
            for i in x.indices {
              let o = multiIndex(i, Shape(d))
              y[o[0] * d[3] + o[3]] += x[i] / Double(d[1] * d[2])
            }
            return arr(y, [d[0], d[3]])
          })
      }))
  return t
}
