import ArrayCore

// MARK: - Shape rules shared by the convolution primitives

/// Checks a rank-4 float operand.
private func requireImages(_ info: TensorInfo, _ what: String) throws(ShapeError) {
  try requireFloat(info, what)
  guard info.shape.rank == 4 else {
    throw ShapeError("\(what) must have rank 4 (\(what == "filter" ? "HWIO: [height, width, in/groups, out]" : "NHWC: [batch, height, width, channels]")), got \(info.shape)")
  }
}

/// The convolution's attributes (strides, dilations, groups) checked, and the filter's window.
private func convGeometry(
  filter: PartialShape, strides: [Int], padding: Padding, dilations: [Int], groups: Int
) throws(ShapeError) -> WindowGeometry {
  let f = filter.dimensions
  let geo = WindowGeometry(window: [f[0] ?? 1, f[1] ?? 1], strides: strides, dilations: dilations, padding: padding, groups: groups)
  try geo.validate()
  if let kh = f[0], let kw = f[1], kh == 0 || kw == 0 { throw ShapeError("the filter's window \(kh)x\(kw) is empty") }
  return geo
}

/// Checks that input channels `c`, filter `f` and `groups` fit: `c = f[2]·groups`, `groups | f[3]`.
private func checkChannels(_ c: Int?, _ f: PartialShape, groups: Int, input: PartialShape) throws(ShapeError) {
  if let c, c % groups != 0 {
    throw ShapeError("the input's \(c) channels are not divisible by groups = \(groups)")
  }
  // `fi · groups` is checked: `groups` may be any positive Int (a product beyond Int is not `c`).
  if let c, let fi = f.dimensions[2], case let (product, overflow) = fi.multipliedReportingOverflow(by: groups),
    overflow || product != c
  {
    throw ShapeError(
      groups == 1
        ? "the input's channels (\(c), input \(input)) differ from the filter's input channels (\(fi), filter \(f))"
        : "the input's \(c) channels do not match the filter's \(fi) input channels per group × \(groups) groups")
  }
  if let o = f.dimensions[3], o % groups != 0 {
    throw ShapeError("the filter's \(o) output channels are not divisible by groups = \(groups)")
  }
}

/// The output `[n, oh, ow, o]` of a convolution (unknown sizes stay unknown).
private func convOutput(
  input x: PartialShape, filter f: PartialShape, _ geo: WindowGeometry
) throws(ShapeError) -> PartialShape {
  var g = geo
  let d = x.dimensions, fd = f.dimensions
  var oh: Int?, ow: Int?
  if let kh = fd[0], let h = d[1] {
    g.window[0] = kh
    oh = try WindowGeometry.outputSize(input: h, window: kh, stride: g.strides[0], dilation: g.dilations[0], padding: g.padding).size
  }
  if let kw = fd[1], let w = d[2] {
    g.window[1] = kw
    ow = try WindowGeometry.outputSize(input: w, window: kw, stride: g.strides[1], dilation: g.dilations[1], padding: g.padding).size
  }
  return PartialShape([d[0], oh, ow, fd[3]])
}

// MARK: - Conv2D

/// The 2-D convolution of NHWC images with an HWIO filter (`tf.nn.conv2d`, cross-correlation as
/// in every framework):
/// `y[n, oy, ox, o] = Σ_{i, j, c} x[n, oy·sₕ − pₜ + i·dₕ, ox·s_w − pₗ + j·d_w, g·C/G + c] · w[i, j, c, o]`,
/// with `G` groups (`g = o / (O/G)`), zeros outside the image and TF's padding rules (``Padding``).
///
/// Gradients (the convolution is bilinear): `∂L/∂x = conv2dBackpropInput(G, w)` (the transposed
/// convolution, ``Conv2DBackpropInput``) and `∂L/∂w = conv2dBackpropFilter(x, G)`
/// (``Conv2DBackpropFilter``); both are graph operations with their own gradients, so
/// second-order gradients work.
package struct Conv2D: Primitive, Equatable {
  /// Vertical and horizontal strides.
  package let strides: [Int]
  /// The padding rule.
  package let padding: Padding
  /// Vertical and horizontal dilations.
  package let dilations: [Int]
  /// The number of groups (depthwise: the number of input channels).
  package let groups: Int
  /// `Conv2D`.
  package var typeName: String { "Conv2D" }
  /// The number of inputs.
  package var arity: Int? { 2 }

  /// `[n, oh, ow, out]`; checks ranks, dtypes, channels, groups and the attributes.
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] {
    let x = inputs[0], w = inputs[1]
    try requireImages(x, "input")
    try requireImages(w, "filter")
    guard x.dtype == w.dtype else { throw ShapeError("input and filter dtypes differ: \(x.dtype) and \(w.dtype)") }
    let geo = try convGeometry(filter: w.shape, strides: strides, padding: padding, dilations: dilations, groups: groups)
    try checkChannels(x.shape.dimensions[3], w.shape, groups: groups, input: x.shape)
    return [TensorInfo(dtype: x.dtype, shape: try convOutput(input: x.shape, filter: w.shape, geo))]
  }

  /// The attributes as a geometry (the window comes from the filter at run time).
  package let geometry: WindowGeometry

  /// A convolution with these attributes.
  package init(strides: [Int], padding: Padding, dilations: [Int], groups: Int) {
    self.strides = strides
    self.padding = padding
    self.dilations = dilations
    self.groups = groups
    geometry = WindowGeometry(window: [1, 1], strides: strides, dilations: dilations, padding: padding, groups: groups)
  }

  /// Convolves.
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let x = inputs[0], w = inputs[1]
    try outputs.update(0) { try Kernels.conv2d(x, w, geometry, into: &$0) }
  }

  /// `[conv2dBackpropInput(G, w, like: x), conv2dBackpropFilter(x, G, like: w)]`.
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] {
    guard let g = upstream[0] else { return [nil, nil] }
    let x = op.input(0), w = op.input(1)
    let loc = x.graph.gradientLocation
    let dx = try x.graph.apply(
      Conv2DBackpropInput(strides: strides, padding: padding, dilations: dilations, groups: groups, outputShape: nil),
      [g, w, x], location: loc)
    let dw = try x.graph.apply(
      Conv2DBackpropFilter(strides: strides, padding: padding, dilations: dilations, groups: groups), [x, g, w],
      location: loc)
    return [dx, dw]
  }
}

// MARK: - Conv2DBackpropInput

/// The adjoint of ``Conv2D`` in its input, the transposed convolution (`tf.nn.conv2d_transpose`,
/// TF's `Conv2DBackpropInput`): for `dy` of the convolution's output shape,
/// `dx[n, y, x, g·C/G + c] = Σ_{oy, ox, i, j, o ∈ group g} dy[n, oy, ox, o] · w[i, j, c, o]` over the
/// taps with `oy·sₕ − pₜ + i·dₕ = y` and `ox·s_w − pₗ + j·d_w = x`, so that
/// `⟨conv2d(u, w), dy⟩ = ⟨u, dx⟩` for every `u`.
///
/// Inputs: `dy`, `w`, and optionally a reference tensor whose (run-time) shape is the result's;
/// without it the result has ``outputShape`` with the batch size of `dy`.
///
/// Gradients (bilinear): `∂L/∂dy = conv2d(G, w)`, `∂L/∂w = conv2dBackpropFilter(G, dy)`; none for
/// the reference.
package struct Conv2DBackpropInput: Primitive, Equatable {
  /// Vertical and horizontal strides.
  package let strides: [Int]
  /// The padding rule.
  package let padding: Padding
  /// Vertical and horizontal dilations.
  package let dilations: [Int]
  /// The number of groups.
  package let groups: Int
  /// The result's shape `[n, h, w, c]` (the batch is taken from `dy`); `nil` with a reference input.
  package let outputShape: [Int]?
  /// The attributes as a geometry (the window comes from the filter at run time).
  package let geometry: WindowGeometry
  /// `Conv2DBackpropInput`.
  package var typeName: String { "Conv2DBackpropInput" }
  /// The number of inputs.
  package var arity: Int? { outputShape == nil ? 3 : 2 }

  /// A transposed convolution with these attributes.
  package init(strides: [Int], padding: Padding, dilations: [Int], groups: Int, outputShape: [Int]?) {
    self.strides = strides
    self.padding = padding
    self.dilations = dilations
    self.groups = groups
    self.outputShape = outputShape
    geometry = WindowGeometry(window: [1, 1], strides: strides, dilations: dilations, padding: padding, groups: groups)
  }

  /// The reference's shape or ``outputShape``; checks that convolving it gives `dy`'s shape.
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] {
    let dy = inputs[0], w = inputs[1]
    try requireImages(dy, "input")
    try requireImages(w, "filter")
    guard dy.dtype == w.dtype else { throw ShapeError("input and filter dtypes differ: \(dy.dtype) and \(w.dtype)") }
    let geo = try convGeometry(filter: w.shape, strides: strides, padding: padding, dilations: dilations, groups: groups)
    var out: PartialShape
    if let outputShape {
      guard outputShape.count == 4, outputShape.allSatisfy({ $0 >= 0 }) else {
        throw ShapeError("outputShape must be 4 non-negative sizes [batch, height, width, channels], got \(outputShape)")
      }
      out = PartialShape(outputShape.map { $0 })
      if let n = dy.shape.dimensions[0], n != outputShape[0] {
        throw ShapeError("outputShape's batch \(outputShape[0]) differs from the input's \(n)")
      }
      out.dimensions[0] = dy.shape.dimensions[0]
    } else {
      guard inputs.count == 3, inputs[2].shape.rank == 4 else { throw ShapeError("needs an outputShape or a rank-4 reference") }
      out = inputs[2].shape
      out.dimensions[0] = dy.shape.dimensions[0] ?? out.dimensions[0]
    }
    try checkChannels(out.dimensions[3], w.shape, groups: groups, input: out)
    if let o = w.shape.dimensions[3], let c = dy.shape.dimensions[3], o != c {
      throw ShapeError("the input's channels (\(c)) differ from the filter's output channels (\(o))")
    }
    let convolved = try convOutput(input: out, filter: w.shape, geo)
    for a in 1...2 {
      if let p = convolved.dimensions[a], let q = dy.shape.dimensions[a], p != q {
        throw ShapeError("convolving the output shape \(out) with the filter \(w.shape) gives \(convolved), not the input's \(dy.shape)")
      }
    }
    return [TensorInfo(dtype: dy.dtype, shape: out)]
  }

  /// Spreads `dy` back through the filter.
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let dy = inputs[0], w = inputs[1]
    let d = outputShape ?? inputs[2].shape.dimensions
    guard d.count == 4, outputShape != nil || (dy.rank == 4 && d[0] == dy.shape[0]) else {
      throw ShapeError("the reference \(inputs[2].shape) does not match the gradient \(dy.shape)")
    }
    try outputs.update(0) {
      try Kernels.conv2dBackpropInput(dy, w, inputHeight: d[1], inputWidth: d[2], inputChannels: d[3], geometry, into: &$0)
    }
  }

  /// `[conv2d(G, w), conv2dBackpropFilter(G, dy), nil]`.
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] {
    guard let g = upstream[0] else { return [Tensor?](repeating: nil, count: op.inputs.count) }
    let dy = op.input(0), w = op.input(1)
    let loc = g.graph.gradientLocation
    let gdy = try g.graph.apply(Conv2D(strides: strides, padding: padding, dilations: dilations, groups: groups), g, w, location: loc)
    let gw = try g.graph.apply(
      Conv2DBackpropFilter(strides: strides, padding: padding, dilations: dilations, groups: groups), [g, dy, w], location: loc)
    return [gdy, gw] + (op.inputs.count == 3 ? [nil] : [])
  }
}

// MARK: - Conv2DBackpropFilter

/// The adjoint of ``Conv2D`` in its filter (TF's `Conv2DBackpropFilter`): for images `x` and `dy`
/// of the convolution's output shape,
/// `dw[i, j, c, o] = Σ_{n, oy, ox} x[n, oy·sₕ − pₜ + i·dₕ, ox·s_w − pₗ + j·d_w, g·C/G + c] · dy[n, oy, ox, o]`,
/// so that `⟨conv2d(x, v), dy⟩ = ⟨v, dw⟩` for every filter `v`. Inputs: `x`, `dy` and a reference
/// filter whose shape is the result's.
///
/// Gradients (bilinear): `∂L/∂x = conv2dBackpropInput(dy, G)`, `∂L/∂dy = conv2d(x, G)`; none for
/// the reference.
package struct Conv2DBackpropFilter: Primitive, Equatable {
  /// Vertical and horizontal strides.
  package let strides: [Int]
  /// The padding rule.
  package let padding: Padding
  /// Vertical and horizontal dilations.
  package let dilations: [Int]
  /// The number of groups.
  package let groups: Int
  /// The attributes as a geometry (the window comes from the reference filter at run time).
  package let geometry: WindowGeometry
  /// `Conv2DBackpropFilter`.
  package var typeName: String { "Conv2DBackpropFilter" }
  /// The number of inputs.
  package var arity: Int? { 3 }

  /// A filter gradient with these attributes.
  package init(strides: [Int], padding: Padding, dilations: [Int], groups: Int) {
    self.strides = strides
    self.padding = padding
    self.dilations = dilations
    self.groups = groups
    geometry = WindowGeometry(window: [1, 1], strides: strides, dilations: dilations, padding: padding, groups: groups)
  }

  /// The reference filter's shape; checks that convolving `x` with it gives `dy`'s shape.
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] {
    let x = inputs[0], dy = inputs[1], w = inputs[2]
    try requireImages(x, "input")
    try requireImages(dy, "gradient")
    try requireImages(w, "filter")
    guard x.dtype == dy.dtype else { throw ShapeError("input and gradient dtypes differ: \(x.dtype) and \(dy.dtype)") }
    let geo = try convGeometry(filter: w.shape, strides: strides, padding: padding, dilations: dilations, groups: groups)
    try checkChannels(x.shape.dimensions[3], w.shape, groups: groups, input: x.shape)
    let convolved = try convOutput(input: x.shape, filter: w.shape, geo)
    for a in 0...3 {
      if let p = convolved.dimensions[a], let q = dy.shape.dimensions[a], p != q {
        throw ShapeError("convolving the input \(x.shape) with the filter \(w.shape) gives \(convolved), not the gradient's \(dy.shape)")
      }
    }
    return [TensorInfo(dtype: x.dtype, shape: w.shape)]
  }

  /// Correlates `x` with `dy`.
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let x = inputs[0], dy = inputs[1], f = inputs[2].shape
    guard f.rank == 4 else { throw ShapeError("the reference filter \(f) must have rank 4") }
    try outputs.update(0) { try Kernels.conv2dBackpropFilter(x, dy, filterHeight: f[0], filterWidth: f[1], geometry, into: &$0) }
    let got = outputs[0].shape
    guard got == f else { throw ShapeError("the filter gradient \(got) differs from the reference filter \(f)") }
  }

  /// `[conv2dBackpropInput(dy, G, like: x), conv2d(x, G), nil]`.
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] {
    guard let g = upstream[0] else { return [nil, nil, nil] }
    let x = op.input(0), dy = op.input(1)
    let loc = g.graph.gradientLocation
    let gx = try g.graph.apply(
      Conv2DBackpropInput(strides: strides, padding: padding, dilations: dilations, groups: groups, outputShape: nil),
      [dy, g, x], location: loc)
    let gdy = try g.graph.apply(Conv2D(strides: strides, padding: padding, dilations: dilations, groups: groups), x, g, location: loc)
    return [gx, gdy, nil]
  }
}

// MARK: - Builders

/// The 2-D convolution of NHWC `input` (`[batch, height, width, channels]`) with the HWIO `filter`
/// (`[height, width, channels/groups, outChannels]`), `tf.nn.conv2d`:
/// `y[n, oy, ox, o] = Σ_{i, j, c} x[n, oy·sₕ − pₜ + i·dₕ, ox·s_w − pₗ + j·d_w, g·C/G + c] · w[i, j, c, o]`.
///
/// - Parameters:
///   - strides: `[vertical, horizontal]` steps between windows.
///   - padding: ``Padding/valid`` (no padding) or ``Padding/same`` (`⌈in/stride⌉` outputs, TF's
///     asymmetric padding with the extra row or column after).
///   - dilations: `[vertical, horizontal]` gaps between the filter's taps (1 = dense).
///   - groups: channel groups; `groups == channels` is a depthwise convolution.
/// - Throws: ``GraphError`` for a wrong rank, mismatched channels, groups that do not divide the
///   channels, non-positive strides or dilations, or a filter larger than the padded input.
public func conv2d(
  _ input: Tensor, _ filter: Tensor, strides: [Int] = [1, 1], padding: Padding = .valid, dilations: [Int] = [1, 1],
  groups: Int = 1, name: String? = nil, file: StaticString = #fileID, line: UInt = #line
) throws -> Tensor {
  try input.graph.apply(
    Conv2D(strides: strides, padding: padding, dilations: dilations, groups: groups), [input, filter], name: name,
    location: input.graph.location(file, line))
}

/// The transposed convolution (`tf.nn.conv2d_transpose`): the gradient of
/// ``conv2d(_:_:strides:padding:dilations:groups:name:file:line:)`` with respect to its input,
/// as a function of the output gradient `input` (`[batch, oh, ow, outChannels]`) and the same HWIO
/// `filter`; the result has `outputShape` (`[batch, height, width, channels]`), which must convolve
/// back to `input`'s shape with these strides, padding and dilations.
/// - Throws: ``GraphError`` when the shapes do not correspond or an attribute is invalid.
public func conv2dTranspose(
  _ input: Tensor, _ filter: Tensor, outputShape: [Int], strides: [Int] = [1, 1], padding: Padding = .valid,
  dilations: [Int] = [1, 1], groups: Int = 1, name: String? = nil, file: StaticString = #fileID, line: UInt = #line
) throws -> Tensor {
  try input.graph.apply(
    Conv2DBackpropInput(strides: strides, padding: padding, dilations: dilations, groups: groups, outputShape: outputShape),
    [input, filter], name: name, location: input.graph.location(file, line))
}

/// The gradient of a convolution with respect to its filter (TF's `Conv2DBackpropFilter`):
/// `dw[i, j, c, o] = Σ_{n, oy, ox} x[n, oy·sₕ − pₜ + i·dₕ, ox·s_w − pₗ + j·d_w, g·C/G + c] · dy[n, oy, ox, o]`,
/// with the shape of `filterLike`.
/// - Throws: ``GraphError`` when the shapes do not correspond or an attribute is invalid.
public func conv2dBackpropFilter(
  _ input: Tensor, _ outputGradient: Tensor, filterLike: Tensor, strides: [Int] = [1, 1], padding: Padding = .valid,
  dilations: [Int] = [1, 1], groups: Int = 1, name: String? = nil, file: StaticString = #fileID, line: UInt = #line
) throws -> Tensor {
  try input.graph.apply(
    Conv2DBackpropFilter(strides: strides, padding: padding, dilations: dilations, groups: groups),
    [input, outputGradient, filterLike], name: name, location: input.graph.location(file, line))
}
