import ArrayCore
import Foundation
import GraphCore
import Testing
import TestSupport
import Training

#if canImport(Glibc)
  import Glibc
#endif

private let fixture: String = {
  let file = "\(#filePath)"
  return file.split(separator: "/", omittingEmptySubsequences: false).dropLast(2).joined(separator: "/")
    + "/Fixtures/graphdef/embedding_model"
}()

/// The eighth probe's GraphDef forms, run in TensorFlow: a model directory of an `Embedding`
/// (whose gradient is exported as `UnsortedSegmentSum` of the ids with `Shape` and
/// `StridedSlice` for the row count, marked to come back as `ScatterAdd`), `LayerNorm` and a
/// leaky ReLU of slope 0.3 (`_backprop_alpha` beside TensorFlow's float `alpha`), trained by
/// Adam. `Tests/Fixtures/graphdef/embedding_model/` holds the directory saved before training
/// and `embedding_model.json` the batches, Backprop's loss at each step and the variables
/// after the last; `Scripts/tf_graphdef.py check-training` replays the steps in TensorFlow
/// (`BACKPROP_WRITE_FIXTURES=1 swift test --filter EmbeddingTensorFlowTests` rewrites them).
@Suite struct EmbeddingTensorFlowTests {
  @Test func embeddingTrainingDirectoryForTensorFlow() throws {
    let graph = Graph()
    let ids = graph.placeholder(.int32, shape: [nil, 3], name: "ids")
    let labels = graph.placeholder(.int32, shape: [nil], name: "labels")
    let embed = Sequential([
      try Embedding(graph: graph, vocabulary: 7, dimension: 4, seed: 1), try LayerNorm(graph: graph, features: 4),
    ])
    let dense = try Dense(graph: graph, inputSize: 12, units: 2, seed: 2)
    let logits = try dense(Flatten()(leakyRelu(embed(ids), alpha: 0.3)))
    let loss = try sparseSoftmaxCrossEntropy(logits: logits, labels: labels)
    let train = try AdamOptimizer(learningRate: 0.05).minimize(loss)
    let session = Session(graph: graph)
    try session.initializeVariables()
    let directory = NSTemporaryDirectory() + "backprop-embedding-\(UUID().uuidString)"
    defer { try? FileManager.default.removeItem(atPath: directory) }
    try session.saveModel(to: directory)
    let types = try Set(Graph(graphDef: FileIO.readBytes(atPath: directory + "/graph.pb")).operations.map(\.type))
    #expect(types.isSuperset(of: ["ScatterAdd", "Normalize", "LeakyRelu", "GatherV2"]), "\(types.sorted())")
    let exported = try String(decoding: FileIO.readBytes(atPath: directory + "/graph.pb"), as: UTF8.self)
    for form in ["UnsortedSegmentSum", "StridedSlice", "Shape", "_backprop_alpha"] { #expect(exported.contains(form), "\(form)") }

    var batches: [String] = [], losses: [Double] = []
    for i in 0..<4 {
      var generator = SeededGenerator(seed: UInt64(10 + i))
      // Ids repeat within a batch, so the segment sum adds rows.
      let x = NDArray((0..<9).map { _ in Int32(generator.choice(5)) }, shape: [3, 3])
      let y = NDArray((0..<3).map { _ in Int32(generator.choice(2)) })
      losses.append(try session.run([loss], feeding: [ids: x, labels: y], targets: [train])[0].doubles[0])
      batches.append("{\"ids\": \(numbers(x.doubles)), \"labels\": \(numbers(y.doubles))}")
    }
    let finals = try graph.variables.map { v -> String in
      let value = try session.value(of: v)
      return "\"\(v.operation.name)\": {\"shape\": \(numbers(value.shape.dimensions.map(Double.init))), \"values\": \(numbers(value.doubles))}"
    }
    let json = """
      {"ids": "\(ids.name)", "labels": "\(labels.name)", "loss": "\(loss.name)", "train": "\(train.name)", \
      "batches": [\(batches.joined(separator: ", "))], "losses": \(numbers(losses)), \
      "final": {\(finals.joined(separator: ", "))}}

      """
    let files = ["graph.pb", "variables.safetensors"]
    if getenv("BACKPROP_WRITE_FIXTURES") != nil {
      try FileIO.makeDirectories(atPath: fixture)
      for f in files { try FileIO.writeAtomically(FileIO.readBytes(atPath: directory + "/" + f), toPath: fixture + "/" + f) }
      try FileIO.writeAtomically(Array(json.utf8), toPath: fixture + ".json")
    }
    for f in files { #expect(try FileIO.readBytes(atPath: fixture + "/" + f) == FileIO.readBytes(atPath: directory + "/" + f), "\(f)") }
    #expect(try FileIO.readBytes(atPath: fixture + ".json") == Array(json.utf8))
  }

  private func numbers(_ values: [Double]) -> String { "[" + values.map { "\($0)" }.joined(separator: ", ") + "]" }
}
