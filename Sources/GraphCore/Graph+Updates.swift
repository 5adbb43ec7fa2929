extension Graph {
  /// The operations that every training step must run besides the optimizer's updates, in
  /// the order they were registered: TF1's `tf.GraphKeys.UPDATE_OPS` collection, Keras's layer
  /// updates. Batch normalization registers the updates of its moving mean and variance here;
  /// an optimizer's `minimize` makes its training operation depend on all of them, so running
  /// the training operation runs them (TF1 users wrote
  /// `with tf.control_dependencies(update_ops): train = opt.minimize(loss)`).
  public var updateOperations: [Operation] { updateNodes.map { Operation(graph: self, id: $0) } }

  /// Registers `operation` as one that every training step must run (see `updateOperations`).
  /// - Throws: `GraphError/foreignTensor(op:tensor:location:)` when it belongs to another graph.
  public func addUpdateOperation(_ operation: Operation, file: StaticString = #fileID, line: UInt = #line) throws {
    guard operation.graph === self else {
      throw GraphError.foreignTensor(op: "addUpdateOperation", tensor: operation.name, location: SourceLocation(file, line))
    }
    if !updateNodes.contains(operation.id) { updateNodes.append(operation.id) }
  }
}
