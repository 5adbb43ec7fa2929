// Read-only views of an operation's structure beyond its data inputs, for tools that draw or
// inspect graphs (DOT pictures, checkpoint listings).

extension Operation {
  /// The operations that must run before this one although no value flows from them (TF1's
  /// control inputs, as created by ``Graph/group(_:name:file:line:)``), in the order given.
  public var controlInputs: [Operation] {
    graph.nodes[id].controlInputs.map { Operation(graph: graph, id: $0) }
  }

  /// The variable this operation writes, for `Assign`, `AssignAdd` and `AssignSub`; `nil` for
  /// every other operation.
  public var assignedVariable: Tensor? {
    switch graph.nodes[id].primitive {
    case let p as Assign: return Tensor(graph: graph, node: p.variable, output: 0)
    case let p as AssignUpdate: return Tensor(graph: graph, node: p.variable, output: 0)
    default: return nil
    }
  }
}
