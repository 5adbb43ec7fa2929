import GraphCore

/// The numbers shown on an edge of a graph picture.
public struct EdgeAnnotation: Sendable, Hashable {
  /// The tensor's value, as text (`[0.9346]`).
  public var value: String
  /// The gradient of the loss with respect to the tensor (`[-1.504]`), shown on edges into
  /// forward operations; `nil` when there is none.
  public var gradient: String?
  /// Creates an annotation.
  public init(value: String, gradient: String? = nil) {
    self.value = value
    self.gradient = gradient
  }
}

extension Graph {
  /// The graph as Graphviz DOT text, so `dot -Tsvg` can draw it.
  ///
  /// Every operation is a node labelled with its name, its type and the dtype and static shape
  /// of each output. Forward operations are blue boxes; operations added by
  /// ``gradients(of:withRespectTo:gradientSeeds:file:line:)`` (``Operation/isGradient``) are
  /// orange dashed boxes grouped in a "gradients" cluster, and the edges into them are orange;
  /// the optimizer's update operations (those that read gradients and write variables, with
  /// their constants) are violet, in an "update" cluster; variables are green, placeholders
  /// yellow. Control dependencies are dotted edges, and an
  /// operation that writes a variable has a dashed "updates" edge to it.
  ///
  /// - Parameters:
  ///   - title: A caption above the picture (none when empty).
  ///   - roots: Draw only these operations and what they depend on (through data and control
  ///     inputs); all operations when `nil`.
  ///   - edgeAnnotations: Numbers for the edges that carry a tensor: its value, and (on edges
  ///     into forward operations only) the gradient flowing back along it, as
  ///     ``stepAnnotations(training:loss:session:feeding:maxElements:)-(_,_,_,Feeds,_)`` computes them.
  /// - Returns: DOT text; nodes are `n<operation id>` in creation order, so the output is
  ///   deterministic.
  public func dot(
    title: String = "", reachingFrom roots: [Operation]? = nil, edgeAnnotations: [Tensor: EdgeAnnotation] = [:]
  ) -> String {
    let all = operations
    let included = roots.map { ancestors(of: $0) } ?? [Bool](repeating: true, count: all.count)
    let drawn = all.filter { included[$0.id] }

    var out = "digraph \(dotQuoted(title.isEmpty ? "graph" : title)) {\n"
    var graphAttributes = "rankdir=TB, fontname=\"Helvetica\", fontsize=14, nodesep=0.3, ranksep=0.35"
    if !title.isEmpty { graphAttributes += ", label=\(dotQuoted(title)), labelloc=t" }
    out += "  graph [\(graphAttributes)];\n"
    out += "  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fontsize=10, penwidth=1.2];\n"
    out += "  edge [fontname=\"Helvetica\", fontsize=9, color=\"#374151\", arrowsize=0.7];\n"

    let update = updateOperations(drawn, count: all.count)
    let forward = drawn.filter { !$0.isGradient && !update[$0.id] }
    let backward = drawn.filter(\.isGradient)
    let updates = drawn.filter { update[$0.id] }
    for op in forward { out += "  " + nodeStatement(op, isUpdate: false) + "\n" }
    if !backward.isEmpty {
      out += "  subgraph cluster_gradients {\n"
      out += "    label=\"gradients (backpropagation)\"; style=\"rounded,dashed\"; color=\"#ea580c\"; fontcolor=\"#c2410c\";\n"
      for op in backward { out += "    " + nodeStatement(op, isUpdate: false) + "\n" }
      out += "  }\n"
    }
    if !updates.isEmpty {
      out += "  subgraph cluster_update {\n"
      out += "    label=\"update (optimizer)\"; style=\"rounded,dotted\"; color=\"#7c3aed\"; fontcolor=\"#6d28d9\";\n"
      for op in updates { out += "    " + nodeStatement(op, isUpdate: true) + "\n" }
      out += "  }\n"
    }
    for op in drawn {
      for input in op.inputs where included[input.operation.id] {
        var attributes: [String] = []
        if op.isGradient { attributes.append("color=\"#ea580c\"") }
        var label = input.operation.outputs.count > 1 ? [input.name] : []
        if let note = edgeAnnotations[input] {
          label.append("= " + note.value)
          if let g = note.gradient, !op.isGradient { label.append("∂ = " + g) }
        }
        if !label.isEmpty {
          attributes.append("label=" + dotQuoted(label.joined(separator: "\n")))
          if op.isGradient { attributes.append("fontcolor=\"#c2410c\"") }
        }
        out += "  n\(input.operation.id) -> n\(op.id)" + (attributes.isEmpty ? "" : " [" + attributes.joined(separator: ", ") + "]") + ";\n"
      }
      for dep in op.controlInputs where included[dep.id] {
        out += "  n\(dep.id) -> n\(op.id) [style=dotted, arrowhead=odot];\n"
      }
      if let v = op.assignedVariable, included[v.operation.id] {
        out += "  n\(op.id) -> n\(v.operation.id) [style=dashed, color=\"#16a34a\", fontcolor=\"#15803d\", label=\"updates\", constraint=false];\n"
      }
    }
    out += "}\n"
    return out
  }

  /// Which drawn operations belong to an optimizer's update rather than to the forward
  /// computation: operations (not gradients, not variables) that write a variable, that read
  /// a gradient or another update operation, that only group update operations, or whose
  /// outputs only update operations read (a learning-rate constant).
  private func updateOperations(_ drawn: [Operation], count: Int) -> [Bool] {
    var update = [Bool](repeating: false, count: count)
    var isDrawn = [Bool](repeating: false, count: count)
    for op in drawn { isDrawn[op.id] = true }
    func eligible(_ op: Operation) -> Bool { !op.isGradient && op.outputs.first?.isVariable != true }
    for op in drawn where eligible(op) {
      let inputs = op.inputs.map(\.operation)
      let controls = op.controlInputs.filter { isDrawn[$0.id] }
      update[op.id] =
        op.assignedVariable != nil || inputs.contains { $0.isGradient || update[$0.id] }
        || (inputs.isEmpty && !controls.isEmpty && controls.allSatisfy { update[$0.id] })
    }
    var consumers = [[Int]](repeating: [], count: count)
    for op in drawn {
      for input in op.inputs { consumers[input.operation.id].append(op.id) }
      for c in op.controlInputs { consumers[c.id].append(op.id) }
    }
    for op in drawn.reversed() where eligible(op) && !update[op.id] {
      let users = consumers[op.id]
      if !users.isEmpty && users.allSatisfy({ update[$0] }) { update[op.id] = true }
    }
    return update
  }

  private func nodeStatement(_ op: Operation, isUpdate: Bool) -> String {
    var lines = [op.name]
    if op.outputs.isEmpty { lines.append(op.type) }
    for t in op.outputs { lines.append("\(op.type)  \(t.dtype) \(t.shape)") }
    var attributes = ["label=" + dotQuoted(lines.joined(separator: "\n"))]
    if op.isGradient {
      attributes += ["fillcolor=\"#ffedd5\"", "color=\"#ea580c\"", "style=\"rounded,filled,dashed\""]
    } else if op.outputs.first?.isVariable == true {
      attributes += ["fillcolor=\"#dcfce7\"", "color=\"#16a34a\"", "penwidth=2"]
    } else if isUpdate {
      attributes += ["fillcolor=\"#ede9fe\"", "color=\"#7c3aed\""]
    } else if op.type == "Placeholder" {
      attributes += ["fillcolor=\"#fef9c3\"", "color=\"#ca8a04\""]
    } else {
      attributes += ["fillcolor=\"#dbeafe\"", "color=\"#2563eb\""]
    }
    if let location = op.location { attributes.append("tooltip=" + dotQuoted("built at \(location)")) }
    return "n\(op.id) [" + attributes.joined(separator: ", ") + "];"
  }
}

/// `text` as a DOT double-quoted string: quotes and backslashes escaped, newlines as `\n`
/// (centred lines).
func dotQuoted(_ text: String) -> String {
  var out = "\""
  for c in text {
    switch c {
    case "\"": out += "\\\""
    case "\\": out += "\\\\"
    case "\n": out += "\\n"
    case "\r": continue
    default: out.append(c)
    }
  }
  return out + "\""
}
