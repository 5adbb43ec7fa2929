import ArrayCore
import GraphCore
import Recipes
import Testing
import Training

/// ONNX export of the Fashion-MNIST classifiers (checked against onnxruntime by
/// Scripts/check_onnx.py on a trained model, see Scripts/formats_roundtrips.log): the
/// training-phase flag is folded away (dropout off, batch normalization's moving statistics)
/// and the NHWC convolutions and poolings become ONNX's NCHW operations between transposes.
@Suite struct ONNXCNNTests {
  static func model(_ kind: FashionModelKind) throws -> FashionModel {
    let net = try FashionNetwork(kind: kind, seed: 1)
    let session = Session(graph: net.graph)
    try session.initializeVariables()
    return try FashionModel(session: session, graph: net.graph, kind: kind, epochsDone: 0)
  }

  @Test func cnnExports() throws {
    let (ops, initializerNames) = try onnxContents(Self.model(.cnn).onnxModel())
    let initializers = initializerNames.count
    #expect(ops.filter { $0 == "Conv" }.count == 2)
    #expect(ops.filter { $0 == "MaxPool" }.count == 2)
    // Around each: input to NCHW and back, and the filter to OIHW.
    #expect(ops.filter { $0 == "Transpose" }.count == 2 * 3 + 2 * 2)
    #expect(!ops.contains("Mul"))  // dropout is gone in inference mode
    #expect(ops.last == "Identity")
    #expect(initializers >= 6)
  }

  @Test func cnnWithBatchNormalizationExports() throws {
    let (ops, _) = try onnxContents(Self.model(.cnnBN).onnxModel())
    #expect(ops.filter { $0 == "Conv" }.count == 2)
    // The inference branch: 1/√(variance + ε) as Sqrt then Reciprocal.
    #expect(ops.filter { $0 == "Reciprocal" }.count == 2)
    #expect(!ops.contains("ReduceMean"))
  }

  @Test func mlpExports() throws {
    let (ops, _) = try onnxContents(Self.model(.mlp).onnxModel())
    #expect(ops.filter { $0 == "MatMul" }.count == 3)
  }

  /// Dropout that stays on (a training flag whose default is true) has no ONNX form: the
  /// error names the operation.
  @Test func trainingModeDropoutIsNamedInTheError() throws {
    let g = Graph()
    let x = g.placeholder(.float32, shape: [nil, 4], name: "x")
    let on = try TrainingPhase(graph: g, default: true)
    let y = try dropout(x, rate: 0.5, seed: 1, training: on.flag)
    #expect {
      _ = try g.onnxModel(inputs: [x], outputs: [y])
    } throws: { error in
      "\(error)".contains("DropoutMask: ")
    }
  }
}
