import ArrayCore
import CBackpropKernels

// Collectives: operations whose kernels combine values across the ranks of a data-parallel job
// (see ``Communicator``). Every rank must run the same graph, so the collectives happen in the
// same order everywhere. With one rank (``SingleProcessCommunicator``) each is an identity.

/// The element-wise sum or mean of each input over the ranks (`MPI_Allreduce`), all inputs
/// reduced together through one flat fusion buffer and one collective call (Horovod's tensor
/// fusion). With `root` set, the result is kept on rank `root` and every other rank gets zeros
/// (`MPI_Reduce`'s meaning; the gradient of `Broadcast`).
///
/// For `N` ranks holding `x_r`: `y = Σ_r x_r` (sum) or `y = (1/N) Σ_r x_r` (mean), on every rank.
///
/// Gradient: the map is linear and symmetric across ranks, so the adjoint of rank `r`'s input
/// is `∂L/∂x_r = Σ_s ȳ_s` (sum) or `(1/N) Σ_s ȳ_s` (mean): the same all-reduce of the upstream
/// gradients. With `root`, `∂L/∂x_r = ȳ_root`: a `Broadcast` from `root`.
package struct AllReduce: Primitive, Equatable {
  /// Sum or mean.
  package let reduction: CollectiveReduction
  /// The one rank that keeps the result (`nil`: every rank).
  package let root: Int?
  /// The ranks.
  package let communicator: any Communicator
  /// The fusion buffers, kept from step to step (grown when needed, never shrunk).
  let fusion = FusionBuffers()

  /// The reduction `reduction` over `communicator`'s ranks, kept on `root` only when given.
  package init(reduction: CollectiveReduction, root: Int? = nil, communicator: any Communicator) {
    self.reduction = reduction
    self.root = root
    self.communicator = communicator
  }

  /// Any number of tensors (at least one).
  package var arity: Int? { nil }

  /// The same reduction and root over the same communicator (the fusion buffers are scratch).
  package static func == (a: AllReduce, b: AllReduce) -> Bool {
    a.reduction == b.reduction && a.root == b.root && a.communicator === b.communicator
  }

  /// `AllReduce` (every rank gets the result) or `Reduce` (only `root` does).
  package var typeName: String { root == nil ? "AllReduce" : "Reduce" }

  /// One output per input, of the same dtype and shape; all inputs share one float dtype.
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] {
    guard let dtype = inputs.first?.dtype else { throw ShapeError("needs at least one tensor") }
    guard dtype.isFloatingPoint, inputs.allSatisfy({ $0.dtype == dtype }) else {
      throw ShapeError("the tensors must share one float dtype, got \(inputs.map(\.dtype))")
    }
    if let root, root < 0 || root >= communicator.size {
      throw ShapeError("root \(root) is not a rank of 0..<\(communicator.size)")
    }
    return inputs
  }

  /// One fused collective over all the inputs.
  /// Copies the inputs one after the other into the kept send buffer, reduces it into the kept
  /// receive buffer with one collective call (dividing by the rank count for a mean), and
  /// copies each result into its output's previous buffer: no allocation in a steady loop.
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let start = ContinuousClock.now
    let dtype = inputs[0].dtype
    var total = 0
    for i in 0..<inputs.count { total += inputs[i].elementCount }
    let (send, receive) = fusion.reserve(bytes: total * dtype.byteSize)
    var offset = 0
    for i in 0..<inputs.count {
      inputs[i].withUnsafeRawBytes { if let base = $0.baseAddress { (send + offset).copyMemory(from: base, byteCount: $0.count) } }
      offset += inputs[i].elementCount * dtype.byteSize
    }
    try communicator.allReduceSum(send, into: receive, count: total, dtype: dtype)
    if reduction == .mean { divide(receive, count: total, dtype: dtype, by: communicator.size) }
    let keeps = root.map { communicator.rank == $0 } ?? true
    offset = 0
    for i in 0..<outputs.count {
      let shape = inputs[i].shape
      let bytes = inputs[i].elementCount * dtype.byteSize
      outputs.update(i) { out in
        out.prepare(fittingAnInput: shape, dtype: dtype)
        out.withUnsafeMutableRawBytes { target in
          guard let base = target.baseAddress else { return }
          if keeps {
            base.copyMemory(from: receive + offset, byteCount: bytes)
          } else {
            base.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
          }
        }
      }
      offset += bytes
    }
    if communicator is MPICommunicator {
      let elapsed = (ContinuousClock.now - start).components
      bp_mpi_note_fused(Double(elapsed.seconds) + Double(elapsed.attoseconds) * 1e-18)
    }
  }

  /// The same all-reduce of the upstream gradients (zeros where none flows), or a broadcast from
  /// `root`.
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] {
    let graph = op.graph
    let ups = try zip(upstream, op.inputs).map { u, x in try u ?? zerosLike(x) }
    if let root {
      return try graph.addOperation(Broadcast(root: root, communicator: communicator), inputs: ups).outputs
    }
    return try graph.addOperation(AllReduce(reduction: reduction, root: nil, communicator: communicator), inputs: ups).outputs
  }
}

/// Rank `root`'s value of each input on every rank (`MPI_Bcast`), all inputs through one flat
/// buffer: `y_r = x_root`.
///
/// Gradient: `∂L/∂x_root = Σ_s ȳ_s` and zero on the other ranks (a `AllReduce` sum kept on
/// `root`, typed `Reduce`).
package struct Broadcast: Primitive, Equatable {
  /// The rank whose values are copied.
  package let root: Int
  /// The ranks.
  package let communicator: any Communicator

  /// The broadcast from `root` over `communicator`'s ranks.
  package init(root: Int, communicator: any Communicator) {
    self.root = root
    self.communicator = communicator
  }

  /// The same root over the same communicator.
  package static func == (a: Broadcast, b: Broadcast) -> Bool { a.root == b.root && a.communicator === b.communicator }

  /// Any number of tensors (at least one).
  package var arity: Int? { nil }

  /// `Broadcast`.
  package var typeName: String { "Broadcast" }

  /// One output per input, of the same dtype and shape.
  package func outputTypes(for inputs: [TensorInfo]) throws -> [TensorInfo] {
    guard !inputs.isEmpty else { throw ShapeError("needs at least one tensor") }
    guard root >= 0, root < communicator.size else { throw ShapeError("root \(root) is not a rank of 0..<\(communicator.size)") }
    return inputs
  }

  /// One broadcast of all the inputs' bytes.
  package func evaluate(_ inputs: Operands, _ outputs: Results, _ context: ExecutionContext) throws {
    let values = (0..<inputs.count).map { inputs[$0] }
    let result = try communicator.broadcast(values, root: root)
    for i in 0..<outputs.count { outputs[i] = result[i] }
  }

  /// The sum of the upstream gradients over the ranks, kept on `root` (zeros elsewhere).
  package func gradient(of op: Operation, upstream: [Tensor?]) throws -> [Tensor?] {
    let ups = try zip(upstream, op.inputs).map { u, x in try u ?? zerosLike(x) }
    guard ups.allSatisfy({ $0.dtype.isFloatingPoint }) else { return ups.map { _ in nil } }
    return try op.graph.addOperation(AllReduce(reduction: .sum, root: root, communicator: communicator), inputs: ups).outputs
  }
}

/// The element-wise sum or mean of each tensor over the ranks of `communicator`, every tensor
/// reduced through one fused collective (see `AllReduce`). The tensors must share one float
/// dtype.
/// - Throws: ``GraphError`` for an empty list, mixed or non-float dtypes.
public func allReduce(
  _ tensors: [Tensor], _ reduction: CollectiveReduction = .sum, over communicator: any Communicator,
  name: String? = nil, file: StaticString = #fileID, line: UInt = #line
) throws -> [Tensor] {
  guard let graph = tensors.first?.graph else {
    throw GraphError.invalidArgument(op: "AllReduce", reason: "no tensors to reduce", location: SourceLocation(file, line))
  }
  return try graph.addOperation(
    AllReduce(reduction: reduction, root: nil, communicator: communicator), inputs: tensors, name: name,
    location: graph.location(file, line)
  ).outputs
}

/// Rank `root`'s value of each tensor on every rank of `communicator` (see `Broadcast`).
/// - Throws: ``GraphError`` for an empty list or a root outside the ranks.
public func broadcast(
  _ tensors: [Tensor], from root: Int = 0, over communicator: any Communicator, name: String? = nil,
  file: StaticString = #fileID, line: UInt = #line
) throws -> [Tensor] {
  guard let graph = tensors.first?.graph else {
    throw GraphError.invalidArgument(op: "Broadcast", reason: "no tensors to broadcast", location: SourceLocation(file, line))
  }
  return try graph.addOperation(
    Broadcast(root: root, communicator: communicator), inputs: tensors, name: name, location: graph.location(file, line)
  ).outputs
}

/// An all-reduce's send and receive buffers, kept between steps (allocated again only to grow).
/// Used by one kernel at a time: a session runs its steps one after the other.
final class FusionBuffers: @unchecked Sendable {
  private var send: UnsafeMutableRawPointer?
  private var receive: UnsafeMutableRawPointer?
  private var capacity = 0

  /// Buffers of at least `bytes` bytes each (64-byte aligned).
  func reserve(bytes: Int) -> (UnsafeMutableRawPointer, UnsafeMutableRawPointer) {
    if bytes > capacity || send == nil {
      send?.deallocate()
      receive?.deallocate()
      capacity = Swift.max(bytes, 64)
      send = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 64)
      receive = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 64)
    }
    return (send!, receive!)
  }

  deinit {
    send?.deallocate()
    receive?.deallocate()
  }
}
