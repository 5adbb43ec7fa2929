import ArrayCore
import Foundation
import GraphCore
import Testing
import TestSupport
import Training

private let fixtures: String = {
  let file = "\(#filePath)"
  return file.split(separator: "/", omittingEmptySubsequences: false).dropLast(2).joined(separator: "/") + "/Fixtures/graphdef"
}()

/// A GraphDef loaded and saved again grew at every round: the importer made a `Const` node for
/// every constant input that it folds into an attribute (a `Reshape`'s shape, a reduction's axes,
/// a random operation's shape), and the exporter wrote a new constant under a fresh name beside
/// it (`flatten/shape_1`); random values with a mean and a deviation came back as three
/// operations whose first was exported as three more. A model directory loaded and saved again
/// had 19 more nodes per round (223, 242, 261). `Graph(graphDef:)` then `graphDef()` is now a
/// fixed point from the first round on: the same node count and the same bytes.
@Suite struct GraphDefFixedPointTests {
  /// The node count of each graph and the bytes of each export, for `rounds` round trips from
  /// `bytes`.
  private func rounds(_ bytes: [UInt8], _ count: Int) throws -> (nodes: [Int], files: [[UInt8]]) {
    var nodes: [Int] = [], files: [[UInt8]] = [bytes]
    for _ in 0..<count {
      let g = try Graph(graphDef: files.last!)
      nodes.append(g.operationCount)
      files.append(try g.graphDef())
    }
    return (nodes, files)
  }

  @Test func committedFixturesAreFixedPoints() throws {
    // The top level's GraphDefs, and a model directory's (`EmbeddingTensorFlowTests`).
    let names = try FileManager.default.contentsOfDirectory(atPath: fixtures).filter { $0.hasSuffix(".pb") }.sorted()
      + ["embedding_model/graph.pb"]
    #expect(names.count >= 8)
    for name in names {
      let bytes = try FileIO.readBytes(atPath: fixtures + "/" + name, limit: 1 << 26)
      let (nodes, files) = try rounds(bytes, 3)
      #expect(nodes[0] == nodes[1] && nodes[1] == nodes[2], "\(name): \(nodes)")
      let same = files[1] == files[2] && files[2] == files[3]
      #expect(same, "\(name): \(files.map(\.count)) bytes")
    }
  }

  /// A CNN with batch normalization, dropout and random initial values with a mean and a
  /// deviation, trained by Adam, saved and loaded as a model directory three times: the same
  /// graph each time, and the training goes on from the saved values.
  @Test func modelDirectoriesLoadedAndSavedAgainKeepTheirGraph() throws {
    let g = Graph()
    let x = g.placeholder(.float32, shape: [nil, 4, 4, 1], name: "x")
    let y = g.placeholder(.int32, shape: [nil], name: "y")
    let phase = try TrainingPhase(graph: g)
    let model = Sequential([
      try Conv2D(graph: g, inputChannels: 1, filters: 2, kernelSize: [3, 3], padding: .same, seed: 1),
      try BatchNorm(graph: g, channels: 2, phase: phase), Activation.relu, try MaxPool2D(), Flatten(),
      try Dropout(rate: 0.25, seed: 5, phase: phase), try Dense(graph: g, inputSize: 8, units: 3, seed: 2),
    ])
    let logits = try model(x)
    let probabilities = try softmax(logits, name: "probabilities")
    let noise = try g.variable(randomNormal(g, shape: [3], mean: 2, standardDeviation: 0.5, seed: 9), name: "noise")
    let loss = try sparseSoftmaxCrossEntropy(logits: logits + noise, labels: y)
    let train = try AdamOptimizer(learningRate: 0.01).minimize(loss)
    // A constant nothing reads: the user may fetch it by name, so it stays.
    _ = g.constant(NDArray([Float(4), 2]), name: "answer")
    var rng = SeededGenerator(seed: 3)
    let xs = NDArray((0..<32).map { _ in Float(rng.normal(mean: 0, standardDeviation: 1)) }, shape: [2, 4, 4, 1])
    let ys = NDArray([Int32(1), 2], shape: [2])
    var session = Session(graph: g)
    try session.initializeVariables()
    try session.run([], feeding: [x: xs, y: ys, phase.flag: NDArray(scalar: true)], targets: [train])
    var counts: [Int] = [], files: [[UInt8]] = []
    for _ in 0..<3 {
      let dir = NSTemporaryDirectory() + "backprop-fixedpoint-\(UUID().uuidString)"
      defer { try? FileManager.default.removeItem(atPath: dir) }
      try session.saveModel(to: dir)
      files.append(try FileIO.readBytes(atPath: dir + "/" + Session.ModelFiles.graph, limit: 1 << 26))
      session = try Session.loadModel(from: dir).session
      let h = session.graph
      counts.append(h.operationCount)
      for name in [x.name, y.name, phase.flag.name, probabilities.name, loss.name, "answer:0"] {
        #expect(h.tensor(named: name) != nil, "\(name)")
      }
      let feeds: [Tensor: NDArray] = [
        try #require(h.tensor(named: x.name)): xs, try #require(h.tensor(named: y.name)): ys,
        try #require(h.tensor(named: phase.flag.name)): NDArray(scalar: true),
      ]
      try session.run([], feeding: feeds, targets: [try #require(h.operation(named: train.name))])
    }
    #expect(counts[0] == counts[1] && counts[1] == counts[2], "\(counts)")
    let same = files[1] == files[2]
    #expect(same, "\(files.map(\.count)) bytes")
    #expect(try session.run([try #require(session.graph.tensor(named: "answer"))])[0].doubles == [4, 2])
  }
}
