import ArrayCore

// A node's input and output lists, kept inline for the common sizes (two inputs, one output) so
// that appending an operation allocates no array for them: an eager tape appends a node for every
// operation it records (issue 16). Both read like arrays (random-access collections).

/// A node's inputs: up to two held inline, more in an array.
struct NodeInputs: RandomAccessCollection, ExpressibleByArrayLiteral, Sendable {
  /// The first two inputs when there are at most two.
  private var first = ValueRef(node: 0, output: 0)
  private var second = ValueRef(node: 0, output: 0)
  /// Every input, when there are more than two (empty otherwise: no allocation).
  private var more: [ValueRef] = []
  /// The number of inputs.
  let count: Int

  /// The inputs `refs`.
  init(_ refs: [ValueRef]) {
    count = refs.count
    if count > 2 {
      more = refs
    } else {
      if count > 0 { first = refs[0] }
      if count > 1 { second = refs[1] }
    }
  }

  /// The tensors' references (without an intermediate array for up to two), read from the
  /// buffer ``Graph`` builds operations from (see `Graph.withLent`).
  init(_ tensors: UnsafeBufferPointer<Tensor>) {
    count = tensors.count
    if count > 2 {
      more = tensors.map { ValueRef(node: $0.node, output: $0.output) }
    } else {
      if count > 0 { first = ValueRef(node: tensors[0].node, output: tensors[0].output) }
      if count > 1 { second = ValueRef(node: tensors[1].node, output: tensors[1].output) }
    }
  }

  /// `[]`, `[a, b]`.
  init(arrayLiteral elements: ValueRef...) { self.init(elements) }

  /// Whether `other` lists the same inputs (compared field by field: no iterators).
  func isSame(as other: NodeInputs) -> Bool {
    count == other.count && (count > 2 ? more == other.more : first == other.first && (count < 2 || second == other.second))
  }

  /// 0.
  var startIndex: Int { 0 }
  /// ``count``.
  var endIndex: Int { count }
  /// Input `i`.
  @inline(__always) subscript(i: Int) -> ValueRef {
    if count > 2 { return more[i] }
    precondition(i >= 0 && i < count, "NodeInputs: index \(i) out of range")
    return i == 0 ? first : second
  }
}

/// A node's output types: one held inline, several (or none) in an array.
struct NodeOutputs: RandomAccessCollection, MutableCollection, ExpressibleByArrayLiteral, Sendable {
  /// The output type when there is exactly one.
  private var single = TensorInfo(dtype: .float32, shape: PartialShape([]))
  /// Every output type, when there is not exactly one (empty otherwise: no allocation).
  private var more: [TensorInfo] = []
  /// The number of outputs.
  let count: Int

  /// One output.
  init(_ info: TensorInfo) {
    single = info
    count = 1
  }

  /// The outputs `infos`.
  init(_ infos: [TensorInfo]) {
    count = infos.count
    if count == 1 { single = infos[0] } else { more = infos }
  }

  /// `[]`, `[info]`.
  init(arrayLiteral elements: TensorInfo...) { self.init(elements) }

  /// 0.
  var startIndex: Int { 0 }
  /// ``count``.
  var endIndex: Int { count }
  /// Output `i`'s type. A getter, not a `_read` coroutine: the coroutine (two yields) was not
  /// inlined, and a read of `graph.nodes[n].outputs[o]` through it keeps the graph's node array
  /// retained across the call (about 1.6k instructions per eager regression step went to it);
  /// inlined, a reader such as `outputs[0].shape.rank` loads the field it needs.
  subscript(i: Int) -> TensorInfo {
    @inline(__always) get {
      if count != 1 { return more[i] }
      precondition(i == 0, "NodeOutputs: index \(i) out of range")
      return single
    }
    @inline(__always) _modify {
      if count != 1 {
        yield &more[i]
      } else {
        precondition(i == 0, "NodeOutputs: index \(i) out of range")
        yield &single
      }
    }
  }
}

extension NodeOutputs {
  /// Whether output `o`'s static shape is exactly `shape` (every size known and equal), read in
  /// place: through the subscript the type's shape array is retained and released around the
  /// comparison, once per output of every eager operation.
  func shape(_ o: Int, isExactly shape: Shape) -> Bool {
    if count == 1 {
      precondition(o == 0, "NodeOutputs: index \(o) out of range")
      return single.shape.isExactly(shape)
    }
    return more.withUnsafeBufferPointer { $0[o].shape.isExactly(shape) }
  }
}

extension Array {
  /// Removes every element and keeps the memory, as `removeAll(keepingCapacity: true)` does.
  /// A few elements are popped one by one (that method's general `replaceSubrange` costs about
  /// a thousand instructions per call, for the short arrays an eager step empties); more are
  /// removed at once, since each pop destroys its element through the generic
  /// `Optional` witness (about 200 instructions per node of a dead tape).
  @inline(__always) mutating func removeAllKeepingCapacity() {
    if count > 4 {
      removeAll(keepingCapacity: true)
    } else {
      while popLast() != nil {}
    }
  }
}
