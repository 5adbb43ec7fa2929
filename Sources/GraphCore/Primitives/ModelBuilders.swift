import ArrayCore

// Builders that models need, composed of existing primitives (their op-table rows name the
// builder and cover the primitives they use).

/// The rows of an embedding table picked by int32 ids (`tf.nn.embedding_lookup`):
/// `y[i..., d] = table[ids[i...], d]` for a table `[V, D]`, of shape `ids.shape + [D]`.
///
/// A `Gather` along axis 0; its gradient for the table is the dense "sparse-to-dense" scatter-add
/// of the upstream rows into zeros of the table's shape (repeated ids accumulate); none for the ids.
/// - Throws: `GraphError` naming `EmbeddingLookup` when the table is not rank 2 or the ids are
///   not int32; at run time, an id outside `0..<V` is a `SessionError` naming the operation
///   and the id.
public func embeddingLookup(
  _ table: Tensor, ids: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line
) throws -> Tensor {
  let loc = table.graph.location(file, line)
  guard table.shape.rank == 2, ids.dtype == .int32 else {
    throw GraphError.invalidOperation(
      op: "EmbeddingLookup", name: name ?? "embedding_lookup", inputs: [table.inputDescription, ids.inputDescription],
      reason: "needs a rank-2 table [vocabulary, dimension] and int32 ids", location: loc)
  }
  return try table.graph.apply(Gather(axis: 0), table, ids, name: name ?? "embedding_lookup", location: loc)
}

/// `x` reshaped to `[N, rest]` (Keras's `Flatten`, `tf.layers.flatten`): the first axis (the
/// batch, possibly unknown) is kept and the others are merged, `rest = Π x.shape[1...]`.
/// A `Reshape` to `[-1, rest]`.
/// - Throws: `GraphError` naming `Flatten` when `x` has rank 0 or a dimension other than the
///   first is unknown when the graph is built.
public func flatten(_ x: Tensor, name: String? = nil, file: StaticString = #fileID, line: UInt = #line) throws -> Tensor {
  let loc = x.graph.location(file, line)
  // The input's shape is checked before its sizes are multiplied: a placeholder may declare
  // sizes whose product overflows `Int` (`[nil, 2³², 2³²]`), refused here as by every builder.
  try x.graph.check(x, op: "Flatten", location: loc)
  let dims = x.shape.dimensions
  guard dims.count >= 1, dims.dropFirst().allSatisfy({ $0 != nil }) else {
    throw GraphError.invalidOperation(
      op: "Flatten", name: name ?? "flatten", inputs: [x.inputDescription],
      reason: "needs rank >= 1 with every dimension but the first known", location: loc)
  }
  let rest = dims.dropFirst().reduce(1) { $0 * $1! }
  if let n = dims[0], n * rest == 0 || rest == 0 {
    return try x.graph.apply(Reshape(shape: [n, rest]), [x], name: name ?? "flatten", location: loc)
  }
  guard rest > 0 else {
    throw GraphError.invalidOperation(
      op: "Flatten", name: name ?? "flatten", inputs: [x.inputDescription],
      reason: "cannot flatten a batch of unknown size whose samples have no element", location: loc)
  }
  return try x.graph.apply(Reshape(shape: [-1, rest]), [x], name: name ?? "flatten", location: loc)
}
