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
    for (name, v) in [("window", window), ("strides", strides), ("dilations", dilations)] {
      guard v.count == 2 else { throw ShapeError("\(name) must have 2 entries (height, width), got \(v)") }
      guard v.allSatisfy({ $0 > 0 }) else { throw ShapeError("\(name) must be positive, got \(v)") }
    }
    guard groups >= 1 else { throw ShapeError("groups must be positive, got \(groups)") }
  }

  /// The output size and the padding before, along one axis of size `input`.
  /// - Throws: ``ShapeError`` when the (dilated) window is larger than the padded input.
  public static func outputSize(
    input: Int, window: Int, stride: Int, dilation: Int, padding: Padding
  ) throws(ShapeError) -> (size: Int, padBefore: Int) {
    let effective = (window - 1) * dilation + 1
    switch padding {
    case .valid:
      guard input >= effective else {
        throw ShapeError("the window (\(window) taps spanning \(effective)) is larger than the input size \(input) with valid padding")
      }
      return ((input - effective) / stride + 1, 0)
    case .same:
      let out = (input + stride - 1) / stride
      let total = Swift.max((out - 1) * stride + effective - input, 0)
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
  func cGeometry(n: Int, h: Int, w: Int, c: Int, outChannels: Int) throws(ShapeError) -> bp_conv_geometry {
    let y = try Self.outputSize(input: h, window: window[0], stride: strides[0], dilation: dilations[0], padding: padding)
    let x = try Self.outputSize(input: w, window: window[1], stride: strides[1], dilation: dilations[1], padding: padding)
    return bp_conv_geometry(
      n: n, h: h, w: w, c: c, kh: window[0], kw: window[1], out_c: outChannels, oh: y.size, ow: x.size,
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
  /// - Throws: ``ShapeError`` for ranks, dtypes or channel counts that do not fit.
  public static func conv2d(_ input: NDArray, _ filter: NDArray, _ geometry: WindowGeometry, into out: inout NDArray) throws(ShapeError) {
    try requireImages(input, "input")
    guard filter.rank == 4, filter.dtype == input.dtype else {
      throw ShapeError("filter must be a rank-4 \(input.dtype) array [h, w, in/groups, out], got \(filter.dtype) \(filter.shape)")
    }
    let d = input.shape.dimensions, f = filter.shape.dimensions
    var geo = geometry
    geo.window = [f[0], f[1]]
    try geo.validate()
    guard d[3] == f[2] * geo.groups, f[3] % geo.groups == 0 else {
      throw ShapeError("input \(input.shape) and filter \(filter.shape) do not match for \(geo.groups) group(s)")
    }
    let g = try geo.cGeometry(n: d[0], h: d[1], w: d[2], c: d[3], outChannels: f[3])
    out.prepare(shape: [d[0], g.oh, g.ow, f[3]], dtype: input.dtype)
    if out.elementCount == 0 { return }
    if input.elementCount == 0 || filter.elementCount == 0 { return fillZero(&out) }
    try withGeometry(g) { p throws(ShapeError) in
      if input.dtype == .float32 {
        try check(bp_s_conv2d(p, input.pointer(Float.self), filter.pointer(Float.self), out.pointer(Float.self)), "conv2d")
      } else {
        try check(bp_d_conv2d(p, input.pointer(Double.self), filter.pointer(Double.self), out.pointer(Double.self)), "conv2d")
      }
    }
  }

  /// The adjoint of ``conv2d(_:_:_:into:)`` in its input (`tf.nn.conv2d_transpose`): the
  /// `[n, h, w, c]` array `dx` with `⟨conv2d(dx', w), dy⟩ = ⟨dx', dx⟩` for all `dx'`, i.e. each `dy`
  /// spread back over its window through the filter. `inputSpatial` is `[h, w, c]`.
  /// - Throws: ``ShapeError`` when `dy` is not the convolution's output shape for that input.
  public static func conv2dBackpropInput(
    _ dy: NDArray, _ filter: NDArray, inputSpatial: [Int], _ geometry: WindowGeometry, into out: inout NDArray
  ) throws(ShapeError) {
    try requireImages(dy, "gradient")
    guard filter.rank == 4, filter.dtype == dy.dtype, inputSpatial.count == 3 else {
      throw ShapeError("filter must be a rank-4 \(dy.dtype) array [h, w, in/groups, out], got \(filter.dtype) \(filter.shape)")
    }
    let d = dy.shape.dimensions, f = filter.shape.dimensions
    var geo = geometry
    geo.window = [f[0], f[1]]
    try geo.validate()
    let (h, w, c) = (inputSpatial[0], inputSpatial[1], inputSpatial[2])
    guard c == f[2] * geo.groups, f[3] % geo.groups == 0, d[3] == f[3] else {
      throw ShapeError("output [\(d[0]), \(h), \(w), \(c)], filter \(filter.shape) and gradient \(dy.shape) do not match for \(geo.groups) group(s)")
    }
    let g = try geo.cGeometry(n: d[0], h: h, w: w, c: c, outChannels: f[3])
    guard g.oh == d[1], g.ow == d[2] else {
      throw ShapeError("gradient \(dy.shape) is not the convolution's output [\(d[0]), \(g.oh), \(g.ow), \(f[3])] for the input [\(d[0]), \(h), \(w), \(c)]")
    }
    out.prepare(shape: [d[0], h, w, c], dtype: dy.dtype)
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

  /// The adjoint of ``conv2d(_:_:_:into:)`` in its filter: the `[kh, kw, c/G, o]` array with
  /// `dw[i, j, c, o] = Σ_{n, oy, ox} x[n, oy·sₕ − pₜ + i·dₕ, ox·s_w − pₗ + j·d_w, g·C/G + c] · dy[n, oy, ox, o]`.
  /// The window of `geometry` is the filter's height and width.
  /// - Throws: ``ShapeError`` when `dy` is not the convolution's output shape.
  public static func conv2dBackpropFilter(
    _ input: NDArray, _ dy: NDArray, _ geometry: WindowGeometry, into out: inout NDArray
  ) throws(ShapeError) {
    try requireImages(input, "input")
    try requireImages(dy, "gradient")
    try geometry.validate()
    let d = input.shape.dimensions, e = dy.shape.dimensions
    guard dy.dtype == input.dtype, d[0] == e[0], d[3] % geometry.groups == 0, e[3] % geometry.groups == 0 else {
      throw ShapeError("input \(input.shape) and gradient \(dy.shape) do not match for \(geometry.groups) group(s)")
    }
    let g = try geometry.cGeometry(n: d[0], h: d[1], w: d[2], c: d[3], outChannels: e[3])
    guard g.oh == e[1], g.ow == e[2] else {
      throw ShapeError("gradient \(dy.shape) is not the convolution's output [\(d[0]), \(g.oh), \(g.ow), \(e[3])] for the input \(input.shape)")
    }
    out.prepare(shape: [geometry.window[0], geometry.window[1], d[3] / geometry.groups, e[3]], dtype: input.dtype)
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
    let yShape: Shape = [d[0], g.oh, g.ow, d[3]]
    switch kind {
    case .maxGradient:
      guard let s = second, s.shape == yShape, s.dtype == input.dtype else {
        throw ShapeError("gradient \(second.map { "\($0.shape)" } ?? "missing") must have the pooled shape \(yShape)")
      }
    case .maxSelect:
      guard let s = second, s.shape == xShape, s.dtype == input.dtype else {
        throw ShapeError("values \(second.map { "\($0.shape)" } ?? "missing") must have the input's shape \(xShape)")
      }
    case .averageGradient:
      guard input.shape == yShape else { throw ShapeError("gradient \(input.shape) must have the pooled shape \(yShape)") }
    default: break
    }
    let resultShape = kind == .maxGradient || kind == .averageGradient ? xShape : yShape
    out.prepare(shape: resultShape, dtype: input.dtype)
    if out.elementCount == 0 { return }
    if input.elementCount == 0 { return fillZero(&out) }
    try withGeometry(g) { p throws(ShapeError) in
      let status: Int32
      if input.dtype == .float32 {
        let a = input.pointer(Float.self), b = second?.pointer(Float.self), o = out.pointer(Float.self)
        switch kind {
        case .max: status = bp_s_max_pool(p, a, o)
        case .maxGradient: status = bp_s_max_pool_grad(p, a, b, o)
        case .maxSelect: status = bp_s_max_pool_select(p, a, b, o)
        case .average: status = bp_s_avg_pool(p, a, o)
        case .averageGradient: status = bp_s_avg_pool_grad(p, a, o)
        }
      } else {
        let a = input.pointer(Double.self), b = second?.pointer(Double.self), o = out.pointer(Double.self)
        switch kind {
        case .max: status = bp_d_max_pool(p, a, o)
        case .maxGradient: status = bp_d_max_pool_grad(p, a, b, o)
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
