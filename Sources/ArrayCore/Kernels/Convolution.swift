import CBackpropKernels

/// How a sliding window meets the border of an image (TF's `padding` argument).
public enum Padding: String, Sendable, Hashable, CaseIterable {
  /// No padding: every window lies inside the input, `out = ⌊(in − ((k − 1)·d + 1)) / s⌋ + 1`.
  case valid
  /// `out = ⌈in / s⌉`, with TF's asymmetric padding: `total = max((out − 1)·s + (k − 1)·d + 1 − in, 0)`,
  /// `before = ⌊total / 2⌋` and the rest after.
  case same
}

/// The geometry of a 2-D window (a convolution filter or a pooling window) sliding over NHWC
/// images: window size, strides, dilations, padding and groups, with TF's output-size rules.
public struct WindowGeometry: Sendable, Hashable {
  /// Window height and width.
  public var window: [Int]
  /// Vertical and horizontal strides.
  public var strides: [Int]
  /// Vertical and horizontal dilations (the gap between the window's taps; 1 = dense).
  public var dilations: [Int]
  /// The padding rule.
  public var padding: Padding
  /// Convolution groups (1 for pooling).
  public var groups: Int

  /// A geometry; ``validate()`` checks it.
  public init(window: [Int], strides: [Int], dilations: [Int] = [1, 1], padding: Padding, groups: Int = 1) {
    self.window = window
    self.strides = strides
    self.dilations = dilations
    self.padding = padding
    self.groups = groups
  }

  /// Checks that every list has two positive entries and that `groups ≥ 1`.
  /// - Throws: ``ShapeError`` naming the bad attribute.
  public func validate() throws(ShapeError) {
    try Self.check(window, "window")
    try Self.check(strides, "strides")
    try Self.check(dilations, "dilations")
    guard groups >= 1 else { throw ShapeError("groups must be positive, got \(groups)") }
  }

  private static func check(_ v: [Int], _ name: String) throws(ShapeError) {
    guard v.count == 2 else { throw ShapeError("\(name) must have 2 entries (height, width), got \(v)") }
    guard v[0] > 0 && v[1] > 0 else { throw ShapeError("\(name) must be positive, got \(v)") }
  }

  /// The largest span `(window − 1)·dilation + 1` of a dilated window: 2³¹ − 1 positions (the
  /// kernels' offsets then stay far from overflowing, and no image is that large).
  public static let maximumWindowSpan = Int(Int32.max)

  /// The output size and the padding before, along one axis of size `input` (stride `s`, window
  /// span `e = (window − 1)·dilation + 1`): valid `⌊(input − e) / s⌋ + 1`; same `⌈input / s⌉`,
  /// padded by `max((out − 1)·s + e − input, 0)`, the smaller half before (TF's rule).
  /// - Throws: ``ShapeError`` when the (dilated) window is larger than the padded input, or
  ///   spans more than ``maximumWindowSpan`` positions.
  public static func outputSize(
    input: Int, window: Int, stride: Int, dilation: Int, padding: Padding
  ) throws(ShapeError) -> (size: Int, padBefore: Int) {
    let (span, overflow) = (window - 1).multipliedReportingOverflow(by: dilation)
    guard !overflow, span < maximumWindowSpan else {
      throw ShapeError("the window of \(window) taps at dilation \(dilation) spans more than \(maximumWindowSpan) positions")
    }
    let effective = span + 1
    switch padding {
    case .valid:
      guard input >= effective else {
        throw ShapeError("the window (\(window) taps spanning \(effective)) is larger than the input size \(input) with valid padding")
      }
      return ((input - effective) / stride + 1, 0)
    case .same:
      let out = input / stride + (input % stride == 0 ? 0 : 1)  // ⌈input / stride⌉, no overflow
      let total = Swift.max((out - 1) * stride - input + effective, 0)  // (out − 1)·stride < input: no overflow
      return (out, total / 2)
    }
  }

  /// The output height and width for an input of `height × width` (each `nil` when unknown).
  /// - Throws: ``ShapeError`` when the window is larger than the padded input.
  public func outputSpatial(_ height: Int?, _ width: Int?) throws(ShapeError) -> (Int?, Int?) {
    var oh: Int?, ow: Int?
    if let height {
      oh = try Self.outputSize(input: height, window: window[0], stride: strides[0], dilation: dilations[0], padding: padding).size
    }
    if let width {
      ow = try Self.outputSize(input: width, window: window[1], stride: strides[1], dilation: dilations[1], padding: padding).size
    }
    return (oh, ow)
  }

  /// The C kernels' description of one call: input `[n, h, w, c]`, `outChannels` outputs.
  /// `kh`, `kw` override the window (a filter's size).
  func cGeometry(n: Int, h: Int, w: Int, c: Int, outChannels: Int, kh: Int? = nil, kw: Int? = nil) throws(ShapeError) -> bp_conv_geometry {
    let kh = kh ?? window[0], kw = kw ?? window[1]
    guard kh > 0 && kw > 0 else { throw ShapeError("the window \(kh)x\(kw) is empty") }
    let y = try Self.outputSize(input: h, window: kh, stride: strides[0], dilation: dilations[0], padding: padding)
    let x = try Self.outputSize(input: w, window: kw, stride: strides[1], dilation: dilations[1], padding: padding)
    return bp_conv_geometry(
      n: n, h: h, w: w, c: c, kh: kh, kw: kw, out_c: outChannels, oh: y.size, ow: x.size,
      sh: strides[0], sw: strides[1], dh: dilations[0], dw: dilations[1], pad_top: y.padBefore, pad_left: x.padBefore,
      groups: groups)
  }
}

extension Kernels {
  private static func requireImages(_ a: NDArray, _ what: String) throws(ShapeError) {
    guard a.rank == 4 else { throw ShapeError("\(what) must have rank 4 (NHWC), got \(a.shape)") }
    guard a.dtype.isFloatingPoint else { throw ShapeError("\(what) must be float32 or float64, got \(a.dtype)") }
  }

  private static func check(_ status: Int32, _ op: String) throws(ShapeError) {
    guard status == 0 else { throw ShapeError("\(op): out of memory for the scratch buffers") }
  }

  /// The 2-D convolution of NHWC `input` with the HWIO `filter` (`tf.nn.conv2d`):
  /// `y[n, oy, ox, o] = Σ_{i, j, c} x[n, oy·sₕ − pₜ + i·dₕ, ox·s_w − pₗ + j·d_w, g·C/G + c] · w[i, j, c, o]`
  /// with `g = o / (O/G)`, zeros outside the image. The window of `geometry` is the filter's.
  ///
  /// With an epilogue (a plan's fusion of `Conv2D`, a bias `Add` and `Relu`): `y + bias[o]`
  /// when `bias` (of shape `[O]`) is given, then `max(y, 0)` (NaN giving 0) when `relu`, applied
  /// while the output is in cache, with the same IEEE operations as the separate kernels.
  /// - Throws: ``ShapeError`` for ranks, dtypes or channel counts that do not fit.
  public static func conv2d(
    _ input: NDArray, _ filter: NDArray, _ geometry: WindowGeometry, bias: NDArray? = nil, relu: Bool = false,
    into out: inout NDArray
  ) throws(ShapeError) {
    try requireImages(input, "input")
    guard filter.rank == 4, filter.dtype == input.dtype else {
      throw ShapeError("filter must be a rank-4 \(input.dtype) array [h, w, in/groups, out], got \(filter.dtype) \(filter.shape)")
    }
    let d = input.shape.dimensions, f = filter.shape.dimensions
    let geo = geometry
    try geo.validate()
    guard d[3] == f[2] * geo.groups, f[3] % geo.groups == 0 else {
      throw ShapeError("input \(input.shape) and filter \(filter.shape) do not match for \(geo.groups) group(s)")
    }
    if let bias {
      guard bias.rank == 1, bias.shape[0] == f[3], bias.dtype == input.dtype else {
        throw ShapeError("the bias \(bias.dtype) \(bias.shape) must be a [\(f[3])] \(input.dtype) array (one value per output channel)")
      }
    }
    let g = try geo.cGeometry(n: d[0], h: d[1], w: d[2], c: d[3], outChannels: f[3], kh: f[0], kw: f[1])
    try prepare(&out, d[0], g.oh, g.ow, f[3], input.dtype)
    if out.elementCount == 0 { return }
    if input.elementCount == 0 || filter.elementCount == 0 {
      fillZero(&out)
      if bias != nil || relu { applyEpilogue(&out, channels: f[3], bias, relu) }  // on the zeros
      return
    }
    let relu: Int32 = relu ? 1 : 0
    try withGeometry(g) { p throws(ShapeError) in
      if input.dtype == .float32 {
        let b: UnsafePointer<Float>? = bias.map { UnsafePointer($0.pointer(Float.self)) }
        try check(
          bp_s_conv2d_bias_relu(p, input.pointer(Float.self), filter.pointer(Float.self), b, relu, out.pointer(Float.self)), "conv2d")
      } else {
        let b: UnsafePointer<Double>? = bias.map { UnsafePointer($0.pointer(Double.self)) }
        try check(
          bp_d_conv2d_bias_relu(p, input.pointer(Double.self), filter.pointer(Double.self), b, relu, out.pointer(Double.self)), "conv2d")
      }
    }
  }

  /// The epilogue `y + bias[o]`, then `max(y, 0)`, on every element of `out` (channels last).
  private static func applyEpilogue(_ out: inout NDArray, channels: Int, _ bias: NDArray?, _ relu: Bool) {
    func apply<T: FloatElement>(_: T.Type) {
      let y = out.pointer(T.self)
      for i in 0..<out.elementCount {
        var v = y[i]
        if let bias { v = v + bias.pointer(T.self)[i % channels] }
        if relu { v = v > 0 ? v : 0 }
        y[i] = v
      }
    }
    if out.dtype == .float32 { apply(Float.self) } else { apply(Double.self) }
  }

  /// The adjoint of ``conv2d(_:_:_:bias:relu:into:)`` in its input (`tf.nn.conv2d_transpose`): the
  /// `[n, h, w, c]` array `dx` with `⟨conv2d(dx', w), dy⟩ = ⟨dx', dx⟩` for all `dx'`, i.e. each `dy`
  /// spread back over its window through the filter, for an input of `h × w × c` images.
  /// - Throws: ``ShapeError`` when `dy` is not the convolution's output shape for that input.
  public static func conv2dBackpropInput(
    _ dy: NDArray, _ filter: NDArray, inputHeight h: Int, inputWidth w: Int, inputChannels c: Int,
    _ geometry: WindowGeometry, into out: inout NDArray
  ) throws(ShapeError) {
    try requireImages(dy, "gradient")
    guard filter.rank == 4, filter.dtype == dy.dtype else {
      throw ShapeError("filter must be a rank-4 \(dy.dtype) array [h, w, in/groups, out], got \(filter.dtype) \(filter.shape)")
    }
    let d = dy.shape.dimensions, f = filter.shape.dimensions
    let geo = geometry
    try geo.validate()
    guard c == f[2] * geo.groups, f[3] % geo.groups == 0, d[3] == f[3] else {
      throw ShapeError("output [\(d[0]), \(h), \(w), \(c)], filter \(filter.shape) and gradient \(dy.shape) do not match for \(geo.groups) group(s)")
    }
    let g = try geo.cGeometry(n: d[0], h: h, w: w, c: c, outChannels: f[3], kh: f[0], kw: f[1])
    guard g.oh == d[1], g.ow == d[2] else {
      throw ShapeError("gradient \(dy.shape) is not the convolution's output [\(d[0]), \(g.oh), \(g.ow), \(f[3])] for the input [\(d[0]), \(h), \(w), \(c)]")
    }
    try prepare(&out, d[0], h, w, c, dy.dtype)
    if out.elementCount == 0 { return }
    if dy.elementCount == 0 || filter.elementCount == 0 { return fillZero(&out) }
    try withGeometry(g) { p throws(ShapeError) in
      if dy.dtype == .float32 {
        try check(bp_s_conv2d_backprop_input(p, dy.pointer(Float.self), filter.pointer(Float.self), out.pointer(Float.self)), "conv2dBackpropInput")
      } else {
        try check(bp_d_conv2d_backprop_input(p, dy.pointer(Double.self), filter.pointer(Double.self), out.pointer(Double.self)), "conv2dBackpropInput")
      }
    }
  }

  /// The adjoint of ``conv2d(_:_:_:bias:relu:into:)`` in its filter: the `[kh, kw, c/G, o]` array with
  /// `dw[i, j, c, o] = Σ_{n, oy, ox} x[n, oy·sₕ − pₜ + i·dₕ, ox·s_w − pₗ + j·d_w, g·C/G + c] · dy[n, oy, ox, o]`.
  /// The filter is `filterHeight × filterWidth` (the window of `geometry` is not used).
  /// - Throws: ``ShapeError`` when `dy` is not the convolution's output shape.
  public static func conv2dBackpropFilter(
    _ input: NDArray, _ dy: NDArray, filterHeight kh: Int, filterWidth kw: Int, _ geometry: WindowGeometry,
    into out: inout NDArray
  ) throws(ShapeError) {
    try requireImages(input, "input")
    try requireImages(dy, "gradient")
    try geometry.validate()
    let d = input.shape.dimensions, e = dy.shape.dimensions
    guard dy.dtype == input.dtype, d[0] == e[0], d[3] % geometry.groups == 0, e[3] % geometry.groups == 0 else {
      throw ShapeError("input \(input.shape) and gradient \(dy.shape) do not match for \(geometry.groups) group(s)")
    }
    let g = try geometry.cGeometry(n: d[0], h: d[1], w: d[2], c: d[3], outChannels: e[3], kh: kh, kw: kw)
    guard g.oh == e[1], g.ow == e[2] else {
      throw ShapeError("gradient \(dy.shape) is not the convolution's output [\(d[0]), \(g.oh), \(g.ow), \(e[3])] for the input \(input.shape)")
    }
    try prepare(&out, kh, kw, d[3] / geometry.groups, e[3], input.dtype)
    if out.elementCount == 0 { return }
    if input.elementCount == 0 || dy.elementCount == 0 { return fillZero(&out) }
    try withGeometry(g) { p throws(ShapeError) in
      if input.dtype == .float32 {
        try check(bp_s_conv2d_backprop_filter(p, input.pointer(Float.self), dy.pointer(Float.self), out.pointer(Float.self)), "conv2dBackpropFilter")
      } else {
        try check(bp_d_conv2d_backprop_filter(p, input.pointer(Double.self), dy.pointer(Double.self), out.pointer(Double.self)), "conv2dBackpropFilter")
      }
    }
  }

  /// The kinds of pooling kernels.
  public enum PoolKernel: Sendable {
    /// `y` = each window's largest element (positions in the padding skipped).
    case max
    /// `dx`: each `dy` added at its window's maximum (the first on ties); operands `x`, `dy`.
    case maxGradient
    /// ``maxGradient`` then ReLU's gradient in the same pass: `t · sign(x)` for the routed
    /// gradient `t` (a plan's fusion of `MaxPoolGrad`, `Sign` and `Mul`); operands `x`, `dy`.
    case maxGradientTimesSign
    /// As ``maxGradientTimesSign`` with the product's operands swapped, `sign(x) · t`.
    case signTimesMaxGradient
    /// `y` = `v` read at each window's maximum in `x`; operands `x`, `v` (of `x`'s shape).
    case maxSelect
    /// `y` = each window's mean over the positions inside the image.
    case average
    /// `dx` = the adjoint of the average: each `dy / count` added over its window; operand `dy`.
    case averageGradient
  }

  /// Pooling over NHWC images. `input` is `x` for every kind but ``PoolKernel/averageGradient``,
  /// where it is `dy` and `inputShape` gives `x`'s shape; `second` is the other operand.
  /// - Throws: ``ShapeError`` for bad ranks, dtypes, windows or operand shapes.
  public static func pool(
    _ kind: PoolKernel, _ input: NDArray, _ second: NDArray? = nil, inputShape: Shape? = nil,
    _ geometry: WindowGeometry, into out: inout NDArray
  ) throws(ShapeError) {
    try requireImages(input, "input")
    try geometry.validate()
    let xShape = kind == .averageGradient ? (inputShape ?? input.shape) : input.shape
    guard xShape.rank == 4 else { throw ShapeError("input must have rank 4 (NHWC), got \(xShape)") }
    let d = xShape.dimensions
    let g = try geometry.cGeometry(n: d[0], h: d[1], w: d[2], c: d[3], outChannels: d[3])
    func pooled(_ s: Shape) -> Bool { s.rank == 4 && s[0] == d[0] && s[1] == g.oh && s[2] == g.ow && s[3] == d[3] }
    switch kind {
    case .maxGradient, .maxGradientTimesSign, .signTimesMaxGradient:
      guard let s = second, pooled(s.shape), s.dtype == input.dtype else {
        throw ShapeError("gradient \(second.map { "\($0.shape)" } ?? "missing") must have the pooled shape [\(d[0]), \(g.oh), \(g.ow), \(d[3])]")
      }
    case .maxSelect:
      guard let s = second, s.shape == xShape, s.dtype == input.dtype else {
        throw ShapeError("values \(second.map { "\($0.shape)" } ?? "missing") must have the input's shape \(xShape)")
      }
    case .averageGradient:
      guard pooled(input.shape) else {
        throw ShapeError("gradient \(input.shape) must have the pooled shape [\(d[0]), \(g.oh), \(g.ow), \(d[3])]")
      }
    default: break
    }
    if kind == .maxGradient || kind == .maxGradientTimesSign || kind == .signTimesMaxGradient || kind == .averageGradient {
      try prepare(&out, d[0], d[1], d[2], d[3], input.dtype)
    } else {
      try prepare(&out, d[0], g.oh, g.ow, d[3], input.dtype)
    }
    if out.elementCount == 0 { return }
    if input.elementCount == 0 { return fillZero(&out) }
    try withGeometry(g) { p throws(ShapeError) in
      let status: Int32
      if input.dtype == .float32 {
        let a = input.pointer(Float.self), b = second?.pointer(Float.self), o = out.pointer(Float.self)
        switch kind {
        case .max: status = bp_s_max_pool(p, a, o)
        case .maxGradient: status = bp_s_max_pool_grad(p, a, b, o)
        case .maxGradientTimesSign: status = bp_s_max_pool_grad_sign(p, a, b, 0, o)
        case .signTimesMaxGradient: status = bp_s_max_pool_grad_sign(p, a, b, 1, o)
        case .maxSelect: status = bp_s_max_pool_select(p, a, b, o)
        case .average: status = bp_s_avg_pool(p, a, o)
        case .averageGradient: status = bp_s_avg_pool_grad(p, a, o)
        }
      } else {
        let a = input.pointer(Double.self), b = second?.pointer(Double.self), o = out.pointer(Double.self)
        switch kind {
        case .max: status = bp_d_max_pool(p, a, o)
        case .maxGradient: status = bp_d_max_pool_grad(p, a, b, o)
        case .maxGradientTimesSign: status = bp_d_max_pool_grad_sign(p, a, b, 0, o)
        case .signTimesMaxGradient: status = bp_d_max_pool_grad_sign(p, a, b, 1, o)
        case .maxSelect: status = bp_d_max_pool_select(p, a, b, o)
        case .average: status = bp_d_avg_pool(p, a, o)
        case .averageGradient: status = bp_d_avg_pool_grad(p, a, o)
        }
      }
      try check(status, "pool")
    }
  }

  private static func withGeometry(
    _ g: bp_conv_geometry, _ body: (UnsafePointer<bp_conv_geometry>) throws(ShapeError) -> Void
  ) throws(ShapeError) {
    var copy = g
    try withUnsafePointer(to: &copy) { p throws(ShapeError) in try body(p) }
  }

  /// Prepares `out` as `[a, b, c, d]`, reusing its shape value when it already matches (no
  /// allocation in the steady state).
  private static func prepare(_ out: inout NDArray, _ a: Int, _ b: Int, _ c: Int, _ d: Int, _ dtype: DType) throws(ShapeError) {
    let s = out.shape
    if s.rank == 4 && s[0] == a && s[1] == b && s[2] == c && s[3] == d {
      try out.prepare(shape: s, dtype: dtype)
    } else {
      try out.prepare(shape: [a, b, c, d], dtype: dtype)
    }
  }

  private static func fillZero(_ out: inout NDArray) {
    out.storage.bytes.initializeMemory(as: UInt8.self, repeating: 0, count: out.elementCount * out.dtype.byteSize)
  }
}

extension NDArray {
  /// The first element's address (the storage is not copied: callers only write arrays they
  /// have just prepared).
  fileprivate func pointer<T>(_: T.Type) -> UnsafeMutablePointer<T> {
    storage.bytes.assumingMemoryBound(to: T.self)
  }
}
