import ArrayCore
import Foundation
import GraphCore
import Plotting
import Testing

/// The notebook's regression graph, small: loss = (x·A − y)², and its gradient with respect to A.
func regressionGraph() throws -> (graph: Graph, x: Tensor, y: Tensor, a: Tensor, loss: Tensor, gradA: Tensor, update: GraphCore.Operation) {
  let graph = Graph()
  let x = graph.placeholder(.float32, shape: [1], name: "x_data")
  let y = graph.placeholder(.float32, shape: [1], name: "y_target")
  let a = try graph.variable(NDArray([Float(3)]), name: "A")
  let loss = try square(multiply(x, a) - y)
  let grads = try gradients(of: loss, withRespectTo: [a])
  let gradA = try #require(grads[0])
  let update = try assignSubtract(a, gradA, name: "update_A")
  return (graph, x, y, a, loss, gradA, update)
}

/// The node statements (`n3 [label="...", ...];`) of DOT text, keyed by node id.
func nodeStatements(_ dot: String) -> [String: String] {
  var out: [String: String] = [:]
  for line in dot.split(separator: "\n") {
    let t = line.trimmingCharacters(in: .whitespaces)
    guard t.hasPrefix("n"), let space = t.firstIndex(of: " "), t[space...].hasPrefix(" [label=") else { continue }
    out[String(t[..<space])] = t
  }
  return out
}

/// The edges (`n0 -> n4`) of DOT text, with their attribute lists.
func edges(_ dot: String) -> [(String, String, String)] {
  dot.split(separator: "\n").compactMap { line in
    let t = line.trimmingCharacters(in: .whitespaces)
    let parts = t.split(separator: " ", maxSplits: 3)
    guard parts.count >= 3, parts[1] == "->" else { return nil }
    return (String(parts[0]), String(parts[2].trimmingCharacters(in: CharacterSet(charactersIn: ";"))), parts.count > 3 ? String(parts[3]) : "")
  }
}

@Suite struct GraphDOTTests {
  @Test func nodesEdgesAndGradientStyling() throws {
    let (graph, _, _, _, _, _, update) = try regressionGraph()
    let dot = graph.dot(title: "regression", reachingFrom: [update])
    #expect(dot.hasPrefix("digraph \"regression\" {"))
    #expect(dot.hasSuffix("}\n"))
    let nodes = nodeStatements(dot)
    // Every node has a label with its name, type, dtype and shape.
    let byName = Dictionary(uniqueKeysWithValues: graph.operations.map { ($0.name, "n\($0.id)") })
    let xID = try #require(byName["x_data"])
    let aID = try #require(byName["A"])
    let xNode = try #require(nodes[xID])
    #expect(xNode.contains("label=\"x_data\\nPlaceholder  float32 [1]\""))
    let aNode = try #require(nodes[aID])
    #expect(aNode.contains("VariableV2  float32 [1]"))
    #expect(aNode.contains("#dcfce7"))
    // Gradient operations: orange, dashed, and inside the gradients cluster; forward ones not.
    for op in graph.operations {
      guard let statement = nodes["n\(op.id)"] else { continue }
      #expect(statement.contains("dashed") == op.isGradient, "\(op.name)")
      #expect(statement.contains("#ffedd5") == op.isGradient, "\(op.name)")
    }
    #expect(graph.operations.contains { $0.isGradient })
    let cluster = try #require(dot.range(of: "subgraph cluster_gradients {"))
    let clusterEnd = try #require(dot[cluster.upperBound...].range(of: "\n  }\n"))
    let clusterText = String(dot[cluster.upperBound..<clusterEnd.lowerBound])
    for op in graph.operations where nodes["n\(op.id)"] != nil {
      #expect(clusterText.contains("n\(op.id) [") == op.isGradient, "\(op.name)")
    }
    // Data edges follow the inputs; edges into gradient operations are orange.
    let edgeList = edges(dot)
    for op in graph.operations where nodes["n\(op.id)"] != nil {
      for input in op.inputs {
        let edge = edgeList.first { $0.0 == "n\(input.operation.id)" && $0.1 == "n\(op.id)" }
        #expect(edge != nil, "\(input.name) -> \(op.name)")
        #expect(edge?.2.contains("#ea580c") == op.isGradient)
      }
    }
    // The update (it reads a gradient and writes A) is violet in the update cluster; the
    // forward operations are blue and outside it.
    let updateStatement = try #require(nodes["n\(update.id)"])
    #expect(updateStatement.contains("#ede9fe"))
    let updateCluster = try #require(dot.range(of: "subgraph cluster_update {"))
    #expect(dot[updateCluster.upperBound...].contains("n\(update.id) ["))
    for name in ["Mul", "Sub", "Square"] {
      let id = try #require(byName[name])
      #expect(nodes[id]?.contains("#dbeafe") == true, "\(name)")
      #expect(!dot[updateCluster.upperBound...].contains("\(id) ["), "\(name)")
    }
    // The update writes A: a dashed "updates" edge from it to the variable.
    let updateEdge = edgeList.first { $0.0 == "n\(update.id)" && $0.1 == byName["A"] }
    #expect(updateEdge?.2.contains("updates") == true)
  }

  @Test func rootsLimitTheDrawing() throws {
    let (graph, _, _, _, loss, _, _) = try regressionGraph()
    let dot = graph.dot(reachingFrom: [loss.operation])
    let nodes = nodeStatements(dot)
    // loss = Square(Sub(Mul(x, A), y)): x, y, A and three operations; no gradients, and not
    // A's initial value.
    #expect(nodes.count == 6)
    #expect(!dot.contains("cluster_gradients"))
    #expect(graph.dot().split(separator: "\n").count > dot.split(separator: "\n").count)
  }

  @Test func labelsAreEscaped() throws {
    let graph = Graph()
    _ = graph.placeholder(.float32, shape: [nil, 2], name: "a\"b")
    let dot = graph.dot(title: "t\\\"")
    #expect(dot.contains("label=\"a\\\"b\\nPlaceholder  float32 [?, 2]\""))
    #expect(dot.hasPrefix("digraph \"t\\\\\\\"\" {"))
  }

  /// Only where Graphviz is installed (a visible skip elsewhere; .ci/run installs it): `dot`
  /// must parse the text and exit 0.
  @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/dot"), "Graphviz is not installed (apt-get install graphviz)"))
  func graphvizAcceptsTheOutput() throws {
    let (graph, x, y, _, loss, _, update) = try regressionGraph()
    let session = Session(graph: graph)
    try session.initializeVariables()
    let notes = try stepAnnotations(
      training: update, loss: loss, session: session, feeding: [x: NDArray([Float(2)]), y: NDArray([Float(10)])])
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/dot")
    process.arguments = ["-Tsvg", "-o", "/dev/null"]
    let input = Pipe()
    process.standardInput = input
    try process.run()
    input.fileHandleForWriting.write(Data(graph.dot(title: "t", reachingFrom: [update], edgeAnnotations: notes).utf8))
    try input.fileHandleForWriting.close()
    process.waitUntilExit()
    #expect(process.terminationStatus == 0)
  }

  @Test func stepAnnotationsShowTheChainRule() throws {
    let (graph, x, y, a, loss, _, update) = try regressionGraph()
    let session = Session(graph: graph)
    try session.initializeVariables()
    // x = 2, y = 10, A = 3: x·A = 6, x·A − y = −4, loss = 16;
    // ∂loss/∂(x·A − y) = 2·(−4) = −8, ∂loss/∂(x·A) = −8, ∂loss/∂A = −8·x = −16, ∂loss/∂x = −8·A = −24.
    let notes = try stepAnnotations(
      training: update, loss: loss, session: session, feeding: [x: NDArray([Float(2)]), y: NDArray([Float(10)])])
    let mul = loss.operation.inputs[0].operation.inputs[0]
    let sub = loss.operation.inputs[0]
    #expect(notes[loss] == EdgeAnnotation(value: "[16]", gradient: "[1]"))
    #expect(notes[sub] == EdgeAnnotation(value: "[-4]", gradient: "[-8]"))
    #expect(notes[mul] == EdgeAnnotation(value: "[6]", gradient: "[-8]"))
    #expect(notes[a] == EdgeAnnotation(value: "[3]", gradient: "[-16]"))
    #expect(notes[x] == EdgeAnnotation(value: "[2]", gradient: "[-24]"))
    #expect(notes[y] == EdgeAnnotation(value: "[10]", gradient: "[8]"))
    // The step ran: A ← 3 − (−16) = 19 (the update subtracts the raw gradient here).
    #expect(try session.value(of: a).scalarValue == 19)
    // The gradients added for the annotations are not drawn.
    let drawn = nodeStatements(graph.dot(reachingFrom: [update])).count
    let before = try regressionGraph()
    #expect(drawn == nodeStatements(before.graph.dot(reachingFrom: [before.update])).count)
  }
}
