import ArrayCore
import Foundation
import GraphCore
import Testing
import TestSupport
import Training

/// Tests/Fixtures/normalization_reference.json (written by Scripts/reference/normalization.py).
private func reference() throws -> [String: Any] {
  let file = "\(#filePath)"
  let path = file.split(separator: "/", omittingEmptySubsequences: false).dropLast(2).joined(separator: "/")
    + "/Fixtures/normalization_reference.json"
  let data = try Data(contentsOf: URL(fileURLWithPath: path))
  return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
}

private func floats(_ any: Any?) throws -> [Float] { try #require(any as? [Double]).map { Float($0) } }
private func shape(_ any: Any?) throws -> Shape { Shape(try #require(any as? [Int])) }

private func maxDifference(_ a: [Float], _ b: [Float]) -> Float {
  zip(a, b).map { Swift.abs($0 - $1) }.max() ?? 0
}

@Suite("Layers: BatchNorm, LayerNorm, Dropout, Flatten, Embedding")
struct ModelLayerTests {
  @Test("LayerNorm matches Keras's LayerNormalization on the committed fixture")
  func layerNormMatchesKeras() throws {
    let ref = try #require(try reference()["layer_norm"] as? [String: Any])
    let graph = Graph()
    let x = graph.placeholder(.float32, shape: [nil, 5])
    let layer = try LayerNorm(graph: graph, features: 5)
    let y = try layer(x)
    let session = Session(graph: graph)
    try session.initializeVariables()
    try session.setValue(NDArray(try floats(ref["gamma"]), shape: [5]), for: layer.gamma)
    try session.setValue(NDArray(try floats(ref["beta"]), shape: [5]), for: layer.beta)
    let out = try session.run(y, feeding: [x: NDArray(try floats(ref["x"]), shape: try shape(ref["shape"]))])
    let d = maxDifference(out.scalars(as: Float.self), try floats(ref["y"]))
    #expect(d < 2e-6, "max difference \(d)")
  }

  @Test("BatchNorm matches Keras: training output, moving averages after one step, inference output")
  func batchNormMatchesKeras() throws {
    let ref = try #require(try reference()["batch_norm"] as? [String: Any])
    let graph = Graph()
    let phase = try TrainingPhase(graph: graph)
    let x = graph.placeholder(.float32, shape: [nil, 3, 3, 2])
    let layer = try BatchNorm(graph: graph, channels: 2, phase: phase, momentum: 0.9, epsilon: 1e-3)
    let y = try layer(x)
    #expect(graph.updateOperations.count == 2)
    let session = Session(graph: graph)
    try session.initializeVariables()
    try session.setValue(NDArray(try floats(ref["gamma"]), shape: [2]), for: layer.gamma)
    try session.setValue(NDArray(try floats(ref["beta"]), shape: [2]), for: layer.beta)
    let xs = NDArray(try floats(ref["x"]), shape: try shape(ref["shape"]))
    // Training: the updates run with the output, as a train operation would run them.
    let feeds = [x: xs].merging(phase.feed(true)) { a, _ in a }
    let outs = try session.run([y], feeding: feeds, targets: graph.updateOperations)
    #expect(maxDifference(outs[0].scalars(as: Float.self), try floats(ref["y_train"])) < 1e-5)
    #expect(maxDifference(try session.value(of: layer.movingMean).scalars(as: Float.self), try floats(ref["moving_mean"])) < 1e-6)
    #expect(maxDifference(try session.value(of: layer.movingVariance).scalars(as: Float.self), try floats(ref["moving_variance"])) < 1e-5)
    // Inference (flag not fed): the moving averages; running the updates then changes nothing.
    let x2 = NDArray(try floats(ref["x2"]), shape: try shape(ref["shape2"]))
    let inferred = try session.run([y], feeding: [x: x2], targets: graph.updateOperations)[0]
    #expect(maxDifference(inferred.scalars(as: Float.self), try floats(ref["y_inference"])) < 1e-5)
    #expect(maxDifference(try session.value(of: layer.movingMean).scalars(as: Float.self), try floats(ref["moving_mean"])) < 1e-6)
  }

  @Test("minimize makes the training operation run the moving-average updates; gamma and beta train, the averages do not")
  func trainOpRunsUpdates() throws {
    let graph = Graph()
    let phase = try TrainingPhase(graph: graph)
    let x = graph.placeholder(.float32, shape: [nil, 3])
    let bn = try BatchNorm(graph: graph, channels: 3, phase: phase, momentum: 0.5)
    let loss = try mean(square(bn(x) - graph.constant(NDArray([Float(1), 2, 3], shape: [3]))))
    #expect(graph.trainableVariables.map { $0.operation.name } == ["batch_normalization/gamma", "batch_normalization/beta"])
    let train = try GradientDescentOptimizer(learningRate: 0.1).minimize(loss)
    #expect(train.name == "train_with_updates")
    let session = Session(graph: graph)
    try session.initializeVariables()
    let batch = NDArray([Float(1), 2, 3, 3, 6, 9], shape: [2, 3])
    try session.run(train, feeding: [x: batch].merging(phase.feed(true)) { a, _ in a })
    // mean of the batch [2, 4, 6], variance [1, 4, 9]; momentum 0.5 from 0 and 1.
    expectClose(try session.value(of: bn.movingMean).converted(to: .float64), NDArray([1.0, 2, 3], shape: [3]), atol: 1e-6)
    expectClose(try session.value(of: bn.movingVariance).converted(to: .float64), NDArray([1.0, 2.5, 5], shape: [3]), atol: 1e-6)
    #expect(try session.value(of: bn.beta).scalars(as: Float.self) != [0, 0, 0])
    // A step with the flag false leaves the averages alone.
    try session.run(train, feeding: [x: batch])
    expectClose(try session.value(of: bn.movingMean).converted(to: .float64), NDArray([1.0, 2, 3], shape: [3]), atol: 1e-6)
    // So does a training step on an empty batch (it has no statistics; the kernels give 0 and 0,
    // toward which the averages were decayed: the variance went from 2.5 to 1.25), as PyTorch.
    try session.run(train, feeding: [x: try NDArray.zeros([0, 3])].merging(phase.feed(true)) { a, _ in a })
    expectClose(try session.value(of: bn.movingMean).converted(to: .float64), NDArray([1.0, 2, 3], shape: [3]), atol: 1e-6)
    expectClose(try session.value(of: bn.movingVariance).converted(to: .float64), NDArray([1.0, 2.5, 5], shape: [3]), atol: 1e-6)
  }

  @Test("an eager BatchNorm in training leaves its moving averages alone on an empty batch")
  func eagerBatchNormOnAnEmptyBatch() throws {
    let graph = Graph.eager()
    let phase = try TrainingPhase(graph: graph, default: true)
    let bn = try BatchNorm(graph: graph, channels: 2, phase: phase, momentum: 0.5, name: "empty_batch_bn")
    #expect(try bn(Tensor(try NDArray.zeros([0, 2]))).value.shape == [0, 2])
    #expect(try bn.movingMean.value == NDArray([Float(0), 0]))
    #expect(try bn.movingVariance.value == NDArray([Float(1), 1]))
    _ = try bn(Tensor(NDArray([Float(1), 2, 3, 6], shape: [2, 2])))
    #expect(try bn.movingMean.value == NDArray([Float(1), 2]))
  }

  @Test("Dropout zeroes about `rate` of the elements while training and passes through otherwise; Flatten keeps N unknown")
  func dropoutAndFlatten() throws {
    let graph = Graph()
    let phase = try TrainingPhase(graph: graph)
    let x = graph.placeholder(.float32, shape: [nil, 4, 5, 2])
    let flat = try Flatten()(x)
    #expect(flat.shape == PartialShape([nil, 40]))
    let y = try Dropout(rate: 0.5, seed: 3, phase: phase)(flat)
    let session = Session(graph: graph)
    let ones = NDArray([Float](repeating: 1, count: 100 * 40), shape: [100, 4, 5, 2])
    let trained = try session.run(y, feeding: [x: ones].merging(phase.feed(true)) { a, _ in a }).scalars(as: Float.self)
    let zeros = trained.filter { $0 == 0 }.count
    #expect(trained.allSatisfy { $0 == 0 || $0 == 2 })
    #expect(zeros > 1800 && zeros < 2200, "\(zeros) of 4000 dropped")
    #expect(try session.run(y, feeding: [x: ones]).scalars(as: Float.self).allSatisfy { $0 == 1 })
    #expect(throws: GraphError.self) { try Dropout(rate: 1, seed: 0, phase: phase) }
  }

  @Test("Embedding looks rows up, its gradient scatters into the table, and a bad id is a run-time error naming the operation")
  func embedding() throws {
    let graph = Graph()
    let ids = graph.placeholder(.int32, shape: [nil, 2])
    let layer = try Embedding(graph: graph, vocabulary: 4, dimension: 3, seed: 9)
    let y = try layer(ids)
    #expect(y.shape == PartialShape([nil, 2, 3]))
    let g = try #require(try gradients(of: [sum(y)], withRespectTo: [layer.table])[0])
    let session = Session(graph: graph)
    try session.initializeVariables()
    let table = try session.value(of: layer.table).scalars(as: Float.self)
    #expect(table.allSatisfy { Swift.abs($0) <= 0.05 })
    let feed = NDArray([Int32(1), 3, 1, 0], shape: [2, 2])
    let out = try session.run([y, g], feeding: [ids: feed])
    #expect(Array(out[0].scalars(as: Float.self)[0..<3]) == Array(table[3..<6]))
    #expect(out[1].scalars(as: Float.self) == [1, 1, 1, 2, 2, 2, 0, 0, 0, 1, 1, 1])
    do {
      _ = try session.run(y, feeding: [ids: NDArray([Int32(0), 4], shape: [1, 2])])
      Issue.record("no error for id 4")
    } catch {
      #expect("\(error)".contains("embedding"), "\(error)")
      #expect("\(error)".contains("4"), "\(error)")
    }
  }

  @Test("bad layer configurations and inputs are errors naming the layer and the user's line")
  func badConfigurations() throws {
    let graph = Graph()
    let phase = try TrainingPhase(graph: graph)
    #expect(throws: GraphError.self) { try BatchNorm(graph: graph, channels: 0, phase: phase) }
    #expect(throws: GraphError.self) { try BatchNorm(graph: graph, channels: 2, phase: phase, momentum: 1) }
    #expect(throws: GraphError.self) { try LayerNorm(graph: graph, features: 3, epsilon: 0) }
    #expect(throws: GraphError.self) { try Embedding(graph: graph, vocabulary: 0, dimension: 2, seed: 1) }
    let bn = try BatchNorm(graph: graph, channels: 2, phase: phase)
    let line = #line + 1
    let x = graph.placeholder(.float32, shape: [nil, 3])
    do {
      _ = try bn(x)
      Issue.record("no error")
    } catch {
      let text = "\(error)"
      #expect(text.contains("BatchNorm") && text.contains("[?, 3]") && text.contains("ModelLayerTests.swift:\(line - 2)"), "\(text)")
    }
    #expect(throws: GraphError.self) { try flatten(graph.placeholder(.float32, shape: [nil, nil, 2])) }
    // A placeholder whose sizes multiply beyond Int: the product of the sizes to merge trapped.
    #expect(throws: GraphError.self) { try Flatten()(graph.placeholder(.float32, shape: [nil, 1 << 32, 1 << 32])) }
    #expect(throws: GraphError.self) { try flatten(graph.placeholder(.float32, shape: [1 << 33, 1 << 31])) }
    #expect(throws: GraphError.self) { try normalize(x, axes: [0], epsilon: -1) }
    // An unknown last size: fed [2, 1], γ and β broadcast the output to [2, 3] without a word.
    let layerNorm = try LayerNorm(graph: graph, features: 3)
    #expect { try layerNorm(graph.placeholder(.float32, shape: [nil, nil])) } throws: {
      "\($0)".contains("[LayerNorm]") && "\($0)".contains("[?, ?]") && "\($0)".contains("last size is 3")
    }
    _ = try layerNorm(x)
    let x3 = graph.placeholder(.float32, shape: [2, 3, 4])
    #expect(throws: GraphError.self) { try normalize(x3, axes: [0, 2]) }
  }

  @Test("Conv2D computes a valid convolution plus bias (a plain-loop oracle), Glorot-uniform kernels; pooling layers' shapes in a Sequential")
  func convolutionLayers() throws {
    let graph = Graph()
    let x = graph.placeholder(.float64, shape: [nil, 5, 4, 2])
    let conv = try Training.Conv2D(graph: graph, inputChannels: 2, filters: 3, kernelSize: [3, 2], activation: .relu, dtype: .float64, seed: 4)
    #expect(conv.kernel.shape == PartialShape([3, 2, 2, 3]))
    let y = try conv(x)
    #expect(y.shape == PartialShape([nil, 3, 3, 3]))
    let session = Session(graph: graph)
    try session.initializeVariables()
    let limit = (6.0 / Double(3 * 2 * 2 + 3 * 2 * 3)).squareRoot()
    let k0 = try session.value(of: conv.kernel).doubles
    #expect(k0.allSatisfy { Swift.abs($0) <= limit } && k0.contains { Swift.abs($0) > limit / 2 })
    let k = randomArray([3, 2, 2, 3], seed: 1), b = randomArray([3], seed: 2), xs = randomArray([2, 5, 4, 2], seed: 3)
    try session.setValue(k, for: conv.kernel)
    try session.setValue(b, for: try #require(conv.bias))
    let out = try session.run(y, feeding: [x: xs]).doubles
    let kv = k.doubles, bv = b.doubles, xv = xs.doubles
    var expected: [Double] = []
    for n in 0..<2 {
      for i in 0..<3 {
        for j in 0..<3 {
          for o in 0..<3 {
            var s = bv[o]
            for di in 0..<3 {
              for dj in 0..<2 {
                for c in 0..<2 { s += xv[((n * 5 + i + di) * 4 + j + dj) * 2 + c] * kv[((di * 2 + dj) * 2 + c) * 3 + o] }
              }
            }
            expected.append(Swift.max(s, 0))
          }
        }
      }
    }
    expectClose(NDArray(out, shape: [2, 3, 3, 3]), NDArray(expected, shape: [2, 3, 3, 3]), atol: 1e-12)

    let phase = try TrainingPhase(graph: graph)
    let model = Sequential([
      try Training.Conv2D(graph: graph, inputChannels: 2, filters: 4, kernelSize: [3, 3], padding: .same, dtype: .float64, seed: 5),
      try BatchNorm(graph: graph, channels: 4, phase: phase, dtype: .float64), Activation.relu,
      try MaxPool2D(window: [2, 2]), try AvgPool2D(window: [2, 1]), GlobalAveragePool(), try LayerNorm(graph: graph, features: 4, dtype: .float64),
    ])
    let z = try model(x)
    #expect(z.shape == PartialShape([nil, 4]))
    #expect(model.variables.count == 2 + 4 + 2)
    #expect(throws: GraphError.self) { try Training.Conv2D(graph: graph, inputChannels: 3, filters: 4, kernelSize: [3, 3], groups: 2, seed: 1) }
    #expect(throws: GraphError.self) { try Training.Conv2D(graph: graph, inputChannels: 3, filters: 4, kernelSize: [0, 3], seed: 1) }
    #expect(throws: GraphError.self) { try MaxPool2D(window: [2]) }
    #expect(throws: GraphError.self) { try conv(graph.placeholder(.float64, shape: [nil, 5, 4, 3])) }
  }
}
