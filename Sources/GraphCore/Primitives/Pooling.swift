import ArrayCore

/// The pooled shape `[n, oh, ow, c]` of NHWC `x` (unknown sizes stay unknown), with the window
/// and strides checked.
private func pooledType(_ x: TensorInfo, _ geo: WindowGeometry) throws(ShapeError) -> TensorInfo {
  try requireFloat(x)
  guard x.shape.rank == 4 else { throw ShapeError("input must have rank 4 (NHWC: [batch, height, width, channels]), got \(x.shape)") }
  try geo.validate()
  let d = x.shape.dimensions
  let (oh, ow) = try geo.outputSpatial(d[1], d[2])
  return TensorInfo(dtype: x.dtype, shape: PartialShape([d[0], oh, ow, d[3]]))
}

/// Checks that `other` has shape `expected` where both are known.
private func requireShape(_ other: TensorInfo, _ expected: PartialShape, _ what: String, dtype: DType) throws(ShapeError) {
  guard other.dtype == dtype else { throw ShapeError("\(what) has dtype \(other.dtype), expected \(dtype)") }
  guard other.shape.rank == expected.rank else { throw ShapeError("\(what) \(other.shape) must have shape \(expected)") }
  for (a, b) in zip(other.shape.dimensions, expected.dimensions) {
    if let a, let b, a != b { throw ShapeError("\(what) \(other.shape) must have shape \(expected)") }
  }
}

// MARK: - Max pooling

/// The largest element of each window of NHWC images (`tf.nn.max_pool2d`):
/// `y[n, oy, ox, c] = max_{i, j} x[n, oy·sₕ − pₜ + i, ox·s_w − pₗ + j, c]` over the window's
/// positions inside the image (``Padding/same`` pads with nothing, as TF does). NaN propagates:
/// a window holding NaN gives NaN wherever the NaN is (as ``max(_:axes:keepDims:name:file:line:)``
/// and PyTorch's `max_pool2d`; TensorFlow's CPU kernel skips it).
///
/// Gradient (TF's rule): each upstream value flows to its window's maximum, the first one in
/// row-major order on ties, and the window's first NaN when it holds one (``MaxPoolGrad``).
package struct MaxPool: Primitive, Equatable {
  /// The window, strides and padding.
  package let geometry: WindowGeometry
  /// `MaxPool`.
  package var typeName: String { "MaxPool" }
  /// The number of inputs.
  package var arity: Int? { 1 }
  /// `[n, oh, ow, c]`.
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] { [try pooledType(inputs[0], geometry)] }
  /// Pools.
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let x = inputs[0]
    try outputs.update(0) { try Kernels.pool(.max, x, nil, geometry, into: &$0) }
  }
  /// `maxPoolGrad(x, G)`.
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] {
    guard let g = upstream[0] else { return [nil] }
    let x = op.input(0)
    return [try x.graph.apply(MaxPoolGrad(geometry: geometry), x, g, location: x.graph.gradientLocation)]
  }
}

/// The gradient of ``MaxPool`` (TF's `MaxPoolGrad`): zeros of `x`'s shape with each `dy` added at
/// its window's maximum in `x` (the first on ties; the first NaN when the window holds one).
/// Inputs `x`, `dy`.
///
/// Gradients: none for `x` (the result is piecewise constant in it), and for `dy` the values of
/// the upstream gradient read at each window's maximum (``MaxPoolGradGrad``).
package struct MaxPoolGrad: Primitive, Equatable {
  /// The window, strides and padding.
  package let geometry: WindowGeometry
  /// `MaxPoolGrad`.
  package var typeName: String { "MaxPoolGrad" }
  /// The number of inputs.
  package var arity: Int? { 2 }
  /// `x`'s shape.
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] {
    let y = try pooledType(inputs[0], geometry)
    try requireShape(inputs[1], y.shape, "the gradient", dtype: inputs[0].dtype)
    return [inputs[0]]
  }
  /// Routes the gradient.
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let x = inputs[0], dy = inputs[1]
    try outputs.update(0) { try Kernels.pool(.maxGradient, x, dy, geometry, into: &$0) }
  }
  /// `[nil, maxPoolGradGrad(x, G)]`.
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] {
    guard let g = upstream[0] else { return [nil, nil] }
    let x = op.input(0)
    return [nil, try x.graph.apply(MaxPoolGradGrad(geometry: geometry), x, g, location: x.graph.gradientLocation)]
  }
}

/// The values of `v` (of `x`'s shape) at each window's maximum in `x`: the adjoint of
/// ``MaxPoolGrad`` in its gradient input (TF's `MaxPoolGradGrad`),
/// `y[n, oy, ox, c] = v[n, argmax-position, c]`. Inputs `x`, `v`.
///
/// Gradients: none for `x`; `maxPoolGrad(x, G)` for `v`.
package struct MaxPoolGradGrad: Primitive, Equatable {
  /// The window, strides and padding.
  package let geometry: WindowGeometry
  /// `MaxPoolGradGrad`.
  package var typeName: String { "MaxPoolGradGrad" }
  /// The number of inputs.
  package var arity: Int? { 2 }
  /// The pooled shape.
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] {
    let y = try pooledType(inputs[0], geometry)
    try requireShape(inputs[1], inputs[0].shape, "the values", dtype: inputs[0].dtype)
    return [y]
  }
  /// Selects.
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let x = inputs[0], v = inputs[1]
    try outputs.update(0) { try Kernels.pool(.maxSelect, x, v, geometry, into: &$0) }
  }
  /// `[nil, maxPoolGrad(x, G)]`.
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] {
    guard let g = upstream[0] else { return [nil, nil] }
    let x = op.input(0)
    return [nil, try x.graph.apply(MaxPoolGrad(geometry: geometry), x, g, location: x.graph.gradientLocation)]
  }
}

// MARK: - Average pooling

/// The mean of each window of NHWC images (`tf.nn.avg_pool2d`):
/// `y[n, oy, ox, c] = (1/|W|) Σ_{(i, j) ∈ W} x[n, oy·sₕ − pₜ + i, ox·s_w − pₗ + j, c]`, where `W` is
/// the set of the window's positions inside the image (with ``Padding/same`` the border windows
/// divide by their count of real elements, as TF does).
///
/// Gradient (linear): `avgPoolGrad(G)`, each upstream value divided by its window's count and
/// added over the window (``AvgPoolGrad``).
package struct AvgPool: Primitive, Equatable {
  /// The window, strides and padding.
  package let geometry: WindowGeometry
  /// `AvgPool`.
  package var typeName: String { "AvgPool" }
  /// The number of inputs.
  package var arity: Int? { 1 }
  /// `[n, oh, ow, c]`.
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] { [try pooledType(inputs[0], geometry)] }
  /// Pools.
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let x = inputs[0]
    try outputs.update(0) { try Kernels.pool(.average, x, nil, geometry, into: &$0) }
  }
  /// `avgPoolGrad(G, like: x)`.
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] {
    guard let g = upstream[0] else { return [nil] }
    let x = op.input(0)
    return [try x.graph.apply(AvgPoolGrad(geometry: geometry), g, x, location: x.graph.gradientLocation)]
  }
}

/// The adjoint of ``AvgPool`` (TF's `AvgPoolGrad`): `dx = Σ_windows dy / |W|` spread over each
/// window's positions inside the image. Inputs: `dy` and a reference with `x`'s shape.
///
/// Gradients (linear): `avgPool(G)` for `dy`; none for the reference.
package struct AvgPoolGrad: Primitive, Equatable {
  /// The window, strides and padding.
  package let geometry: WindowGeometry
  /// `AvgPoolGrad`.
  package var typeName: String { "AvgPoolGrad" }
  /// The number of inputs.
  package var arity: Int? { 2 }
  /// The reference's shape.
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] {
    let x = inputs[1]
    let y = try pooledType(TensorInfo(dtype: inputs[0].dtype, shape: x.shape), geometry)
    try requireShape(inputs[0], y.shape, "the gradient", dtype: inputs[0].dtype)
    return [TensorInfo(dtype: inputs[0].dtype, shape: x.shape)]
  }
  /// Spreads the gradient.
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let dy = inputs[0], shape = inputs[1].shape
    try outputs.update(0) { try Kernels.pool(.averageGradient, dy, nil, inputShape: shape, geometry, into: &$0) }
  }
  /// `[avgPool(G), nil]`.
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] {
    guard let g = upstream[0] else { return [nil, nil] }
    return [try g.graph.apply(AvgPool(geometry: geometry), g, location: g.graph.gradientLocation), nil]
  }
}

// MARK: - Builders

private func poolGeometry(_ window: [Int], _ strides: [Int]?, _ padding: Padding) -> WindowGeometry {
  WindowGeometry(window: window, strides: strides ?? window, padding: padding)
}

/// Max pooling of NHWC `input` (`tf.nn.max_pool2d`): the largest element of each
/// `window = [height, width]` window, moved by `strides` (the window by default), with
/// ``Padding/valid`` or ``Padding/same`` padding (padded positions never win).
/// - Throws: ``GraphError`` for a rank other than 4, a window or stride that is not positive, or
///   a window larger than the padded input.
public func maxPool2d(
  _ input: Tensor, window: [Int], strides: [Int]? = nil, padding: Padding = .valid, name: String? = nil,
  file: StaticString = #fileID, line: UInt = #line
) throws -> Tensor {
  try input.graph.apply(
    MaxPool(geometry: poolGeometry(window, strides, padding)), [input], name: name, location: input.graph.location(file, line))
}

/// Average pooling of NHWC `input` (`tf.nn.avg_pool2d`): the mean of each `window = [height, width]`
/// window, moved by `strides` (the window by default); with ``Padding/same`` the border windows
/// average only their positions inside the image (as TF).
/// - Throws: ``GraphError`` for a rank other than 4, a window or stride that is not positive, or
///   a window larger than the padded input.
public func avgPool2d(
  _ input: Tensor, window: [Int], strides: [Int]? = nil, padding: Padding = .valid, name: String? = nil,
  file: StaticString = #fileID, line: UInt = #line
) throws -> Tensor {
  try input.graph.apply(
    AvgPool(geometry: poolGeometry(window, strides, padding)), [input], name: name, location: input.graph.location(file, line))
}

/// The gradient of ``maxPool2d(_:window:strides:padding:name:file:line:)`` for the output gradient
/// `dy` (TF's `MaxPoolGrad`), exposed for tests and custom gradients.
func maxPoolGrad(
  _ input: Tensor, _ dy: Tensor, window: [Int], strides: [Int]? = nil, padding: Padding = .valid,
  file: StaticString = #fileID, line: UInt = #line
) throws -> Tensor {
  try input.graph.apply(
    MaxPoolGrad(geometry: poolGeometry(window, strides, padding)), [input, dy], location: input.graph.location(file, line))
}

/// The mean over the height and width of NHWC `input`, `[n, h, w, c] → [n, c]`
/// (Keras' `GlobalAveragePooling2D`): `y[n, c] = (1/(h·w)) Σ_{y, x} x[n, y, x, c]`. A composite of
/// ``mean(_:axes:keepDims:name:file:line:)``, differentiated through it.
/// - Throws: ``GraphError`` for a rank other than 4.
public func globalAveragePool(
  _ input: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line
) throws -> Tensor {
  let loc = input.graph.location(file, line)
  guard input.shape.rank == 4 else {
    throw GraphError.invalidOperation(
      op: "GlobalAveragePool", name: name ?? "GlobalAveragePool", inputs: [input.inputDescription],
      reason: "input must have rank 4 (NHWC: [batch, height, width, channels]), got \(input.shape)", location: loc)
  }
  return try mean(input, axes: [1, 2], name: name ?? "GlobalAveragePool", file: file, line: line)
}
