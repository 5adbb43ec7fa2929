import ArrayCore

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The C library's `pow`.
private func cPow(_ x: Double, _ y: Double) -> Double {
  #if canImport(Glibc)
    Glibc.pow(x, y)
  #else
    Darwin.pow(x, y)
  #endif
}

/// Adam's update of one variable and its two slots, fused into one pass over the elements
/// (TensorFlow's `ApplyAdam` training op). With gradient `g`, step size `ηₜ`, decay `λ`
/// (AdamW's decoupled weight decay, or none) and the slots `m` and `v`:
///
///     m ← m·β₁ + g·(1−β₁)
///     v ← v·β₂ + g²·(1−β₂)
///     x ← x − x·λ
///     x ← x − ηₜ·m / (√v + ε)
///
/// Each element goes through the same IEEE operations, in the same order, as the graph of
/// separate operations would compute, so the fused and unfused updates agree bit for bit;
/// fusing only saves the passes over memory (about a dozen arrays the size of the variable
/// per step). Updates the three variables in place; not differentiable.
package struct ApplyAdam: Primitive, Equatable {
  let variable: Int
  let m: Int
  let v: Int
  let beta1: Double
  let beta2: Double
  let epsilon: Double
  let decays: Bool

  /// The number of inputs: `decays ? 3 : 2`.
  package var arity: Int? { decays ? 3 : 2 }
  /// `ApplyAdam`.
  package var typeName: String { "ApplyAdam" }
  /// No outputs: the operation is run as a target.
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] { [] }
  /// Not differentiable.
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] {
    [nil, nil] + (decays ? [nil] : [])
  }

  /// Updates `m`, `v` and the variable in place. Inputs: the gradient, the step size (one
  /// element), and the decay (one element) when `decays`.
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let g = inputs[0]
    guard inputs[1].elementCount == 1, !decays || inputs[2].elementCount == 1 else {
      throw ShapeError("ApplyAdam's step size and decay must have one element")
    }
    let stepSize = inputs[1].scalarValue
    let decay = decays ? inputs[2].scalarValue : nil
    try context.updateVariables([variable, m, v]) { state in
      try Kernels.adamUpdate(
        gradient: g, m: &state[1], v: &state[2], x: &state[0], beta1: beta1, beta2: beta2, epsilon: epsilon,
        stepSize: stepSize, decay: decay)
    }
  }
}

/// Adam's fused update of `variable` with its first- and second-moment slots `m` and `v`
/// (see ``ApplyAdam``): `m ← m·β₁ + g·(1−β₁)`, `v ← v·β₂ + g²·(1−β₂)`, then
/// `x ← x − x·decay` (when given) and `x ← x − stepSize·m / (√v + ε)`.
/// - Parameters:
///   - stepSize: `ηₜ`, one element of the variable's dtype.
///   - decay: `λ` for decoupled weight decay (AdamW), one element; `nil` for none.
/// - Throws: ``GraphError`` when `beta1` or `beta2` is outside `[0, 1)` or `epsilon` is not a
///   finite number > 0, a tensor belongs to another graph than `variable`, `variable`,
///   `m` or `v` is not a variable, two of them are the
///   same variable, or the gradient, slots and variable differ in dtype or shape.
@discardableResult
public func applyAdam(
  _ variable: Tensor, m: Tensor, v: Tensor, gradient: Tensor, stepSize: Tensor, decay: Tensor? = nil,
  beta1: Double, beta2: Double, epsilon: Double,
  name: String? = nil, file: StaticString = #fileID, line: UInt = #line
) throws -> Operation {
  let graph = variable.graph
  let loc = graph.location(file, line)
  for (value, what) in [(beta1, "beta1"), (beta2, "beta2")] where !(value >= 0 && value < 1) {
    throw GraphError.invalidArgument(op: "ApplyAdam", reason: "\(what) must be a finite number >= 0 and < 1, got \(value)", location: loc)
  }
  guard epsilon.isFinite, epsilon > 0 else {
    throw GraphError.invalidArgument(op: "ApplyAdam", reason: "epsilon must be a finite number > 0, got \(epsilon)", location: loc)
  }
  let nodes = try [variable, m, v].map { try variableNode($0, in: graph, "ApplyAdam", loc) }
  for t in [gradient, stepSize] + (decay.map { [$0] } ?? []) { try graph.check(t, op: "ApplyAdam", location: loc) }
  guard Set(nodes).count == 3 else {
    throw GraphError.invalidOperation(
      op: "ApplyAdam", name: variable.operation.name,
      inputs: [variable.inputDescription, m.inputDescription, v.inputDescription],
      reason: "the variable and its two slots must be three different variables", location: loc)
  }
  for slot in [m, v] {
    try checkAssignable(variable, slot, "ApplyAdam", loc, exact: true)
    guard slot.shape == variable.shape else {
      throw GraphError.invalidOperation(
        op: "ApplyAdam", name: variable.operation.name, inputs: [variable.inputDescription, slot.inputDescription],
        reason: "slot \(slot.dtype) \(slot.shape) does not fit variable of \(variable.dtype) \(variable.shape)",
        location: loc)
    }
  }
  try checkAssignable(variable, gradient, "ApplyAdam", loc, exact: true)
  for scalar in [stepSize] + (decay.map { [$0] } ?? []) {
    guard scalar.dtype == variable.dtype, scalar.shape.concrete?.elementCount == 1 else {
      throw GraphError.invalidOperation(
        op: "ApplyAdam", name: variable.operation.name, inputs: [variable.inputDescription, scalar.inputDescription],
        reason: "step size and decay must be one element of \(variable.dtype)", location: loc)
    }
  }
  let primitive = ApplyAdam(
    variable: nodes[0], m: nodes[1], v: nodes[2], beta1: beta1, beta2: beta2, epsilon: epsilon, decays: decay != nil)
  return try graph.addOperation(
    primitive, inputs: [gradient, stepSize] + (decay.map { [$0] } ?? []), name: name ?? "ApplyAdam", location: loc)
}

/// `base^t` for a float64 scalar `t` (with the C library's `pow`). No gradient: used for
/// hyper-parameter powers such as Adam's `β₁ᵗ`.
package struct StepPower: Primitive, Equatable {
  /// The base.
  package let base: Double
  /// `base^t`.
  package init(base: Double) { self.base = base }
  /// The number of inputs: 1.
  package var arity: Int? { 1 }
  /// `StepPower` (not `Pow`: type names are unique, and ``Power`` is TensorFlow's `Pow`).
  package var typeName: String { "StepPower" }
  /// A float64 scalar from a float64 scalar.
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] {
    guard inputs.count == 1, inputs[0].dtype == .float64, inputs[0].shape.rank == 0 else {
      throw ShapeError("the exponent must be a float64 scalar")
    }
    return [TensorInfo(dtype: .float64, shape: [])]
  }
  /// `pow(base, t)`.
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    outputs[0] = NDArray(scalar: cPow(base, inputs[0].scalarValue))
  }
  /// None.
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] { [nil] }
}

/// A value that is its input unless fed (`tf.placeholder_with_default`). No gradient.
package struct PlaceholderWithDefault: Primitive, Equatable {
  /// The shape a fed value may have (TensorFlow's `shape` argument, `[nil]` for any length);
  /// `nil`: the default's shape.
  package let shape: PartialShape?
  /// Creates the primitive; `shape` as TensorFlow's `shape` argument.
  package init(shape: PartialShape? = nil) { self.shape = shape }
  /// The number of inputs: 1.
  package var arity: Int? { 1 }
  /// `PlaceholderWithDefault`.
  package var typeName: String { "PlaceholderWithDefault" }
  /// The output is the input itself (shared memory).
  package var outputsMayAlias: Bool { true }
  /// The default's dtype, with ``shape`` when given (the default must fit it: same rank, equal
  /// sizes where both are known), else the default's shape.
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] {
    guard let shape else { return [inputs[0]] }
    let given = inputs[0].shape
    let fits =
      given.rank == shape.rank
      && zip(given.dimensions, shape.dimensions).allSatisfy { a, b in a == nil || b == nil || a == b }
    guard fits else { throw ShapeError("the default \(given) does not have the declared shape \(shape)") }
    return [TensorInfo(dtype: inputs[0].dtype, shape: shape)]
  }
  /// Passes the default through (when the tensor is fed, the session skips this).
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    outputs[0] = inputs[0]
  }
  /// None.
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] { [nil] }
}
