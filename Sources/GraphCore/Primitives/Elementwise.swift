import ArrayCore
import RealModule

// MARK: - One definition per elementwise function

/// An elementwise function of one floating-point value, `y = f(x)`, defined once: its scalar
/// function and its derivative.
///
/// Everything else is derived from these two: the array kernel (``evaluate(_:into:)`` maps the
/// scalar function over the elements unless a definition supplies a vectorized form that computes
/// the same values), the session's scalar fast path and its constant folding (``apply(_:)-(Float)``),
/// and the ``Unary`` primitive's shape rule and gradient. So the general path and the scalar path
/// agree bit for bit by construction.
///
/// To add a function, write a type that conforms, a public builder that calls
/// ``unary(_:_:name:file:line:)``, and a row in the operation table (Tests/GraphCoreTests/OpTable.swift);
/// see "Writing your own operation" in the documentation.
public protocol UnaryFunction: Sendable {
  /// The operation type's name, TensorFlow style (`Sin`, `Relu`).
  var typeName: String { get }
  /// The function on one element: the one definition every path computes.
  func callAsFunction<T: FloatElement>(_ x: T) -> T
  /// The vector-Jacobian product `∂L/∂x` for the upstream gradient `g`, built from graph
  /// operations (so it can be differentiated again), given the input `x` and the output `y`;
  /// `nil` when the function has no gradient (zero almost everywhere, as `round`).
  func gradient(_ g: Tensor, x: Tensor, y: Tensor) throws -> Tensor?
  /// The array kernel: `out[i] = f(x[i])`. Derived (a map of ``callAsFunction(_:)``); a
  /// definition may supply a vectorized form that computes exactly the same values.
  func evaluate(_ x: NDArray, into out: inout NDArray) throws
  /// `f(x)` in `Float` (derived: the scalar fast path calls it without generic dispatch).
  func apply(_ x: Float) -> Float
  /// `f(x)` in `Double` (derived).
  func apply(_ x: Double) -> Double
}

extension UnaryFunction {
  /// Maps ``callAsFunction(_:)`` over the elements (over the kernel threads for large arrays:
  /// ``ArrayCore/Kernels/concurrentMap(_:into:_:)``).
  @inlinable @inline(__always) public func evaluate(_ x: NDArray, into out: inout NDArray) throws {
    switch x.dtype {
    case .float32: Kernels.concurrentMap(x, into: &out, ElementwiseOf<Self, Float>(function: self))
    case .float64: Kernels.concurrentMap(x, into: &out, ElementwiseOf<Self, Double>(function: self))
    default: throw ShapeError("\(typeName) needs a float input, got \(x.dtype)")
    }
  }
  /// ``callAsFunction(_:)`` in `Float`.
  @inlinable @inline(__always) public func apply(_ x: Float) -> Float { self(x) }
  /// ``callAsFunction(_:)`` in `Double`.
  @inlinable @inline(__always) public func apply(_ x: Double) -> Double { self(x) }
}

/// A ``UnaryFunction`` in one element type, as an ``ArrayCore/ElementMap`` (its array kernel).
@usableFromInline struct ElementwiseOf<F: UnaryFunction, T: FloatElement>: ElementMap {
  @usableFromInline let function: F
  @inlinable init(function: F) { self.function = function }
  @inlinable func callAsFunction(_ x: T) -> T { function(x) }
}

/// An elementwise function of two floating-point values with NumPy broadcasting,
/// `z = f(x, y)`, defined once: its scalar function and its two partial derivatives.
///
/// As for ``UnaryFunction``, the array kernel, the in-place update of ``assignAdd(_:_:name:file:line:)``
/// and friends, the scalar fast path and constant folding are all derived from
/// ``callAsFunction(_:_:)``. Gradients may have the broadcast shape: the autodiff walker sums
/// them back to each input's shape (the one place where un-broadcasting happens).
public protocol BinaryFunction: Sendable {
  /// The operation type's name, TensorFlow style (`Add`, `Atan2`).
  var typeName: String { get }
  /// The function on one pair of elements: the one definition every path computes.
  func callAsFunction<T: FloatElement>(_ x: T, _ y: T) -> T
  /// The vector-Jacobian products `(∂L/∂x, ∂L/∂y)` for the upstream gradient `g`, given the
  /// inputs and the output `z`, built from graph operations; `nil` where there is none.
  func gradient(_ g: Tensor, x: Tensor, y: Tensor, z: Tensor) throws -> (Tensor?, Tensor?)
  /// The vector-Jacobian products for the inputs in `needed` only (`nil` for the others): an
  /// eager tape computes each gradient operation at once, so it asks only for the inputs whose
  /// gradient it uses. Derived by default (``gradient(_:x:y:z:)``, with the other result
  /// dropped); a definition may implement this instead and derive ``gradient(_:x:y:z:)`` from
  /// it as `gradient(g, x: x, y: y, z: z, needed: (true, true))` (one definition either way).
  func gradient(_ g: Tensor, x: Tensor, y: Tensor, z: Tensor, needed: (x: Bool, y: Bool)) throws -> (Tensor?, Tensor?)
  /// The array kernel with broadcasting: `out[i] = f(x[i], y[i])`. Derived (a zip of
  /// ``callAsFunction(_:_:)``); a definition may supply a vectorized form with the same values.
  func evaluate(_ x: NDArray, _ y: NDArray, into out: inout NDArray) throws
  /// `v[i] ← f(v[i], d[i])` in place, `d` broadcast to `v`'s shape (derived).
  func update(_ v: inout NDArray, with d: NDArray) throws
  /// `f(x, y)` in `Float` (derived: the scalar fast path calls it without generic dispatch).
  func apply(_ x: Float, _ y: Float) -> Float
  /// `f(x, y)` in `Double` (derived).
  func apply(_ x: Double, _ y: Double) -> Double
  /// A value `e` with `f(x, e) = f(e, x) = x`, bit for bit, for every `x` but a signaling NaN
  /// (`1` for multiplication), or `nil` (the default) when there is none. The scalar program
  /// drops an operation on it (Grappler's "remove multiplications by ones"): a gradient's first
  /// step multiplies by the ones of `grad_ys`.
  var identityElement: Double? { get }
}

extension BinaryFunction {
  /// ``gradient(_:x:y:z:)``, without the result not `needed`.
  public func gradient(_ g: Tensor, x: Tensor, y: Tensor, z: Tensor, needed: (x: Bool, y: Bool)) throws -> (Tensor?, Tensor?) {
    let (dx, dy) = try gradient(g, x: x, y: y, z: z)
    return (needed.x ? dx : nil, needed.y ? dy : nil)
  }
  /// Zips ``callAsFunction(_:_:)`` over the broadcast elements.
  @inlinable @inline(__always) public func evaluate(_ x: NDArray, _ y: NDArray, into out: inout NDArray) throws {
    guard x.dtype == y.dtype else { throw ShapeError("\(typeName): dtypes \(x.dtype) and \(y.dtype) differ") }
    switch x.dtype {
    case .float32: try Kernels.zip(x, y, Float.self, Float.self, into: &out) { self($0, $1) }
    case .float64: try Kernels.zip(x, y, Double.self, Double.self, into: &out) { self($0, $1) }
    default: throw ShapeError("\(typeName) needs float inputs, got \(x.dtype)")
    }
  }
  /// Updates `v` in place with ``callAsFunction(_:_:)``.
  @inlinable @inline(__always) public func update(_ v: inout NDArray, with d: NDArray) throws {
    switch v.dtype {
    case .float32 where d.dtype == .float32: try updateInPlace(&v, d, Float.self)
    case .float64 where d.dtype == .float64: try updateInPlace(&v, d, Double.self)
    default: throw ShapeError("\(typeName) needs a float variable and a value of its dtype, got \(v.dtype) and \(d.dtype)")
    }
  }
  /// None.
  public var identityElement: Double? { nil }
  /// ``callAsFunction(_:_:)`` in `Float`.
  @inlinable @inline(__always) public func apply(_ x: Float, _ y: Float) -> Float { self(x, y) }
  /// ``callAsFunction(_:_:)`` in `Double`.
  @inlinable @inline(__always) public func apply(_ x: Double, _ y: Double) -> Double { self(x, y) }

  @inlinable @inline(__always) func updateInPlace<T: FloatElement>(_ v: inout NDArray, _ d: NDArray, _: T.Type) throws {
    guard try broadcastShape(v.shape, d.shape) == v.shape else {
      throw ShapeError("update of shape \(d.shape) does not fit variable of shape \(v.shape)")
    }
    var spread = NDArray()
    let source: NDArray
    if d.elementCount == v.elementCount || d.elementCount == 1 {
      source = d
    } else {
      try Kernels.broadcast(d, to: v.shape, into: &spread)
      source = spread
    }
    v.withUnsafeMutableBufferPointer(as: T.self) { dst in
      source.withUnsafeBufferPointer(as: T.self) { s in
        if s.count == dst.count {
          for i in 0..<dst.count { dst[i] = self(dst[i], s[i]) }
        } else {
          let x = s[0]
          for i in 0..<dst.count { dst[i] = self(dst[i], x) }
        }
      }
    }
  }
}

// MARK: - The two primitives every elementwise function runs through

/// ``Unary`` and ``Binary``: a primitive that is its function `f` plus a closure made from it,
/// so that what it computes, for the backward cache (``Primitive/isSame(as:)``), is `f`.
package protocol PrimitiveOfFunction: Primitive {
  associatedtype Function
  /// The function, of its own type.
  var f: Function { get }
}

extension PrimitiveOfFunction {
  /// The same function with the same settings (the closure is made from it).
  package func isSame(as other: any Primitive) -> Bool { Self.sameFunction(self, other) }
  /// Whether the function stores nothing (the closure is made from its type).
  package var isIdentifiedByType: Bool { MemoryLayout<Function>.size == 0 }

  /// Whether `other` is a primitive of this type with an equal function (its type opened).
  static func sameFunction<Other: Primitive>(_ primitive: Self, _ other: Other) -> Bool {
    Other.self == Self.self && sameValue(primitive.f, unsafeBitCast(other, to: Self.self).f)
  }
}

/// The primitive of every ``UnaryFunction``: same dtype and shape as its float input; kernel,
/// gradient and scalar form all come from the function's one definition.
///
/// Generic over the function, so that the primitive is only its function (empty for most) and
/// a two-word closure: it sits in an existential's inline buffer, with no box to allocate per
/// operation and no shared box to count when a node stores or copies it. Code that needs the
/// function without knowing its type casts to ``UnaryPrimitive``.
package struct Unary<F: UnaryFunction>: UnaryPrimitive, PrimitiveOfFunction {
  /// The function, of its own type.
  package let f: F
  /// The function.
  package var function: any UnaryFunction { f }
  /// The function's code specialized for its type, made here, where the type is known at the
  /// caller (one closure without captures, two words, so the primitive still fits an
  /// existential's inline buffer): given an array, its kernel (`out[i] = f(x[i])`, returning
  /// `nil`); given none, the function prepared for the scalar fast path (called only when a plan
  /// is lowered). Called from ``evaluate(_:_:_:)``, which a plan reaches through the
  /// ``Primitive`` existential, the kernel written there would be generic code calling the
  /// definition through two witness tables per element (about 2 ns: `sqrt` of 256x1024 floats
  /// took 511 us where NumPy takes 111); a ``ScalarFunction`` made inside ``scalarForm`` likewise.
  let specialized: @Sendable (F, NDArray?, inout NDArray) throws -> ScalarFunction?
  /// Creates the primitive for `function`.
  package init(_ function: F) {
    f = function
    specialized = { f, x, out in
      guard let x else { return ScalarFunction(f) }
      try f.evaluate(x, into: &out)
      return nil
    }
  }
  /// The number of inputs: 1.
  package var arity: Int? { 1 }
  /// The function's type name.
  package var typeName: String { f.typeName }
  /// The function on one scalar (the scalar fast path), prepared when a plan is lowered.
  package var scalarForm: ScalarForm? {
    var unused = NDArray()
    // (Without an array the closure neither throws nor returns nil.)
    return (try? specialized(f, nil, &unused)).map { .unary($0) }
  }
  /// Same dtype and shape as the input, which must be floating point.
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] { [try outputType(for: inputs)!] }
  /// The input's type (the rule, without an array).
  package func outputType(for inputs: [TensorInfo]) throws -> TensorInfo? {
    try requireFloat(inputs[0])
    return inputs[0]
  }
  /// Applies the function elementwise.
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    if ScalarValues.unary(f, inputs, outputs) { return }
    let x = inputs[0]
    try outputs.update(0) { _ = try specialized(f, x, &$0) }
  }
  /// The function's derivative.
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] {
    guard let g = upstream[0] else { return [nil] }
    return [try f.gradient(g, x: op.input(0), y: op.output)]
  }
}

/// A ``Unary`` primitive of any function (`primitive as? any UnaryPrimitive`).
package protocol UnaryPrimitive: Primitive {
  /// The function.
  var function: any UnaryFunction { get }
}

/// The ``Unary`` primitive of `function`, which may be an existential (a function decoded from
/// a file): its type is opened here.
package func unaryPrimitive(_ function: some UnaryFunction) -> any Primitive { Unary(function) }

/// The ``Binary`` primitive of `function` (see ``unaryPrimitive(_:)``).
package func binaryPrimitive(_ function: some BinaryFunction) -> any Primitive { Binary(function) }

/// A ``Binary`` primitive of any function (`primitive as? any BinaryPrimitive`).
package protocol BinaryPrimitive: Primitive {
  /// The function.
  var function: any BinaryFunction { get }
}

/// The primitive of every ``BinaryFunction``: both inputs float and of one dtype, the output of
/// their broadcast shape; kernel, gradient and scalar form come from the function's definition.
/// Generic over the function, as ``Unary``.
package struct Binary<F: BinaryFunction>: BinaryPrimitive, PrimitiveOfFunction {
  /// The function, of its own type.
  package let f: F
  /// The function.
  package var function: any BinaryFunction { f }
  /// The function's code specialized for its type (as ``Unary/specialized``): given two
  /// arrays, its broadcasting kernel; given none, the function prepared for the scalar fast path.
  let specialized: @Sendable (F, (NDArray, NDArray)?, inout NDArray) throws -> ScalarFunction?
  /// Creates the primitive for `function`.
  package init(_ function: F) {
    f = function
    specialized = { f, operands, out in
      guard let (a, b) = operands else { return ScalarFunction(f) }
      try f.evaluate(a, b, into: &out)
      return nil
    }
  }
  /// The number of inputs: 2.
  package var arity: Int? { 2 }
  /// The function's type name.
  package var typeName: String { f.typeName }
  /// The function on two scalars (the scalar fast path), prepared when a plan is lowered.
  package var scalarForm: ScalarForm? {
    var unused = NDArray()
    return (try? specialized(f, nil, &unused)).map { .binary($0) }
  }
  /// Both inputs float and of one dtype; the output has their broadcast shape.
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] { [try outputType(for: inputs)!] }
  /// The broadcast type (the rule, without an array).
  package func outputType(for inputs: [TensorInfo]) throws -> TensorInfo? {
    try requireFloat(inputs[0], "x")
    guard inputs[0].dtype == inputs[1].dtype else {
      throw ShapeError("dtypes \(inputs[0].dtype) and \(inputs[1].dtype) differ")
    }
    // Equal known shapes (the common case) need no broadcasting and no new shape.
    if inputs[0].shape == inputs[1].shape && inputs[0].shape.isFullyKnown { return inputs[0] }
    // A scalar broadcasts to the other shape as it is (an operator's constant: `x * 2`).
    if inputs[1].shape.rank == 0 { return inputs[0] }
    if inputs[0].shape.rank == 0 { return TensorInfo(dtype: inputs[0].dtype, shape: inputs[1].shape) }
    let shape = try broadcastDimensions(inputs[0].shape.dimensions, inputs[1].shape.dimensions)
    return TensorInfo(dtype: inputs[0].dtype, shape: PartialShape(shape))
  }
  /// Applies the function with broadcasting.
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    if ScalarValues.binary(f, inputs, outputs) { return }
    let a = inputs[0]
    let b = inputs[1]
    try outputs.update(0) { _ = try specialized(f, (a, b), &$0) }
  }
  /// The function's partial derivatives.
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] {
    guard let g = upstream[0] else { return [nil, nil] }
    let (dx, dy) = try f.gradient(g, x: op.input(0), y: op.input(1), z: op.output)
    return [dx, dy]
  }
  /// The function's partial derivatives for the inputs in `needed` only.
  package func gradient(of op: Operation, upstream: [Tensor?], needed: InputMask) throws -> [Tensor?] {
    guard let g = upstream[0] else { return [nil, nil] }
    let (dx, dy) = try f.gradient(
      g, x: op.input(0), y: op.input(1), z: op.output, needed: (needed.contains(0), needed.contains(1)))
    return [dx, dy]
  }
}

/// Applies an elementwise function of one tensor: the public builder of every
/// ``UnaryFunction``, built-in or yours.
/// - Throws: ``GraphError`` when `x` is not floating point.
public func unary(
  _ function: some UnaryFunction, _ x: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line
) throws -> Tensor {
  try x.graph.apply(Unary(function), x, name: name, location: x.graph.location(file, line))
}

/// Applies an elementwise function of two tensors with NumPy broadcasting: the public builder of
/// every ``BinaryFunction``, built-in or yours.
/// - Throws: ``GraphError`` when the dtypes differ, are not floating point, or the shapes do not
///   broadcast.
public func binary(
  _ function: some BinaryFunction, _ x: Tensor, _ y: Tensor, name: String? = nil,
  file: StaticString = #fileID, line: UInt = #line
) throws -> Tensor {
  try x.graph.apply(Binary(function), x, y, name: name, location: x.graph.location(file, line))
}

/// The operators' builder: no source line of their own, so errors name the inputs' creation
/// sites instead.
func binaryOperator(_ primitive: some Primitive, _ x: Tensor, _ y: Tensor) throws -> Tensor {
  try x.graph.apply(primitive, x, y, location: x.graph.operatorLocation)
}

// MARK: - Operators

extension Tensor {
  /// `x + y` with broadcasting. Errors name the operation and both inputs with the place each
  /// was built (operators cannot know their own source line).
  public static func + (x: Tensor, y: Tensor) throws -> Tensor { try binaryOperator(Binary(Add()), x, y) }
  /// `x - y` with broadcasting.
  public static func - (x: Tensor, y: Tensor) throws -> Tensor { try binaryOperator(Binary(Subtract()), x, y) }
  /// `x * y` (elementwise) with broadcasting.
  public static func * (x: Tensor, y: Tensor) throws -> Tensor { try binaryOperator(Binary(Multiply()), x, y) }
  /// `x / y` (elementwise) with broadcasting.
  public static func / (x: Tensor, y: Tensor) throws -> Tensor { try binaryOperator(Binary(Divide()), x, y) }
  /// `-x`.
  public static prefix func - (x: Tensor) throws -> Tensor {
    try x.graph.apply(Unary(Negate()), x, location: x.graph.operatorLocation)
  }

  /// `x + c`, with `c` a constant of `x`'s dtype.
  public static func + (x: Tensor, c: Double) throws -> Tensor { try x + x.graph.scalar(c, like: x) }
  /// `c + x`.
  public static func + (c: Double, x: Tensor) throws -> Tensor { try x.graph.scalar(c, like: x) + x }
  /// `x - c`.
  public static func - (x: Tensor, c: Double) throws -> Tensor { try x - x.graph.scalar(c, like: x) }
  /// `c - x`.
  public static func - (c: Double, x: Tensor) throws -> Tensor { try x.graph.scalar(c, like: x) - x }
  /// `x * c`.
  public static func * (x: Tensor, c: Double) throws -> Tensor { try x * x.graph.scalar(c, like: x) }
  /// `c * x`.
  public static func * (c: Double, x: Tensor) throws -> Tensor { try x.graph.scalar(c, like: x) * x }
  /// `x / c`.
  public static func / (x: Tensor, c: Double) throws -> Tensor { try x / x.graph.scalar(c, like: x) }
  /// `c / x`.
  public static func / (c: Double, x: Tensor) throws -> Tensor { try x.graph.scalar(c, like: x) / x }
}

// MARK: - Cast

/// Converts each element to another dtype (`tf.cast`); booleans become 0 and 1.
/// Gradient: the upstream gradient cast back, when both dtypes are floating point.
package struct Cast: Primitive, Equatable {
  /// Outputs share memory with inputs or session state.
  package var outputsMayAlias: Bool { true }

  /// The target dtype.
  package let dtype: DType
  /// Creates a cast to `dtype`.
  package init(to dtype: DType) { self.dtype = dtype }
  /// The number of inputs: 1.
  package var arity: Int? { 1 }
  /// `Cast`.
  package var typeName: String { "Cast" }
  /// The input's shape with the new dtype.
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] {
    [TensorInfo(dtype: dtype, shape: inputs[0].shape)]
  }
  /// Converts the values.
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let x = inputs[0]
    if x.dtype == dtype { outputs[0] = x; return }
    switch (x.dtype, dtype) {
    case (.float32, .float64): outputs.update(0) { Kernels.map(x, Float.self, Double.self, into: &$0) { Double($0) } }
    case (.float64, .float32): outputs.update(0) { Kernels.map(x, Double.self, Float.self, into: &$0) { Float($0) } }
    case (.bool, .float32): outputs.update(0) { Kernels.map(x, Bool.self, Float.self, into: &$0) { $0 ? 1 : 0 } }
    case (.bool, .float64): outputs.update(0) { Kernels.map(x, Bool.self, Double.self, into: &$0) { $0 ? 1 : 0 } }
    default: outputs[0] = x.converted(to: dtype)
    }
  }
  /// `cast(g, to: x.dtype)` between float types; none otherwise.
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] {
    let x = op.input(0)
    guard let g = upstream[0], x.dtype.isFloatingPoint, dtype.isFloatingPoint else { return [nil] }
    return [try cast(g, to: x.dtype)]
  }
}

/// Converts `x` to `dtype` (`tf.cast`).
public func cast(_ x: Tensor, to dtype: DType, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  try x.graph.apply(Cast(to: dtype), x, name: name, location: x.graph.location(file, line))
}

/// The elementwise kernels' path for values of one element (eager code on scalars, as the
/// notebook's steps): the definition's scalar function (``UnaryFunction/apply(_:)-(Float)``, the
/// one the session's scalar program runs and the array kernels compute) applied to the element
/// in place, without the array kernel's shape checks, dispatch and loops. Same values.
enum ScalarValues {
  /// `f(x)` into output 0 when `x` has one element of a float dtype; `false` otherwise.
  @inline(__always) static func unary(_ f: some UnaryFunction, _ inputs: Operands, _ outputs: Results) -> Bool {
    let x = inputs.address(0)
    if let p = NDArray.scalarAddress(of: x, as: Float.self) {
      let r = f.apply(p.pointee)
      write(r, shape: x, to: outputs.address(0))
      return true
    }
    if let p = NDArray.scalarAddress(of: x, as: Double.self) {
      let r = f.apply(p.pointee)
      write(r, shape: x, to: outputs.address(0))
      return true
    }
    return false
  }

  /// `f(x, y)` into output 0 when `x` and `y` have one element each (every size 1, so the
  /// result has the shape of the one of higher rank) and one float dtype; `false` otherwise.
  @inline(__always) static func binary(_ f: some BinaryFunction, _ inputs: Operands, _ outputs: Results) -> Bool {
    let x = inputs.address(0)
    let y = inputs.address(1)
    // Every size is 1, so the broadcast shape is the operand of higher rank's.
    let shape = x.pointee.shape.rank >= y.pointee.shape.rank ? x : y
    if let p = NDArray.scalarAddress(of: x, as: Float.self), let q = NDArray.scalarAddress(of: y, as: Float.self) {
      let r = f.apply(p.pointee, q.pointee)
      write(r, shape: shape, to: outputs.address(0))
      return true
    }
    if let p = NDArray.scalarAddress(of: x, as: Double.self), let q = NDArray.scalarAddress(of: y, as: Double.self) {
      let r = f.apply(p.pointee, q.pointee)
      write(r, shape: shape, to: outputs.address(0))
      return true
    }
    return false
  }

  /// Makes `out` a one-element array of `source`'s shape (reusing its memory when it can)
  /// holding `value`.
  @inline(__always) private static func write<T: FloatElement>(
    _ value: T, shape source: UnsafePointer<NDArray>, to out: UnsafeMutablePointer<NDArray>
  ) {
    out.pointee.prepare(fittingAnInput: source.pointee.shape, dtype: T.dtype)
    NDArray.uniqueScalarAddress(of: out, as: T.self)!.pointee = value
  }
}
