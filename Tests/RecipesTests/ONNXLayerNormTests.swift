import ArrayCore
import Foundation
import GraphCore
import Testing
import TestSupport
import Training

#if canImport(Glibc)
  import Glibc
#endif

/// ONNX export refused `LayerNorm` ("cannot export to ONNX: Normalize"). At the exporter's
/// opset 13 (ONNX's `LayerNormalization` needs 17) it is written as its decomposition, in the
/// kernel's order: `ReduceMean`, `Sub`, `Mul`, `ReduceMean`, `Add` of ε, `Sqrt`, `Div`.
/// `Tests/Fixtures/onnx/layernorm.onnx` is the model below with its input and Backprop's
/// outputs (`.npy`); `Scripts/check_onnx.py --outputs` runs it in onnxruntime
/// (`BACKPROP_WRITE_FIXTURES=1 swift test --filter ONNXLayerNormTests` rewrites them).
@Suite struct ONNXLayerNormTests {
  @Test func layerNormExportsToONNX() throws {
    let g = Graph()
    let x = g.placeholder(.float32, shape: [nil, 6], name: "x")
    let model = Sequential([
      try Dense(graph: g, inputSize: 6, units: 4, activation: .relu, seed: 1), try LayerNorm(graph: g, features: 4),
      try Dense(graph: g, inputSize: 4, units: 3, seed: 2),
    ])
    let y = try model(x)
    let session = Session(graph: g)
    try session.initializeVariables()
    var generator = SeededGenerator(seed: 5)
    let input = NDArray((0..<30).map { _ in Float(generator.normal(mean: 1, standardDeviation: 3)) }, shape: [5, 6])
    let output = try session.run([y], feeding: [x: input])[0]
    let bytes = try g.onnxModel(inputs: [x], outputs: [y], session: session)
    let ops = try onnxContents(bytes).ops
    #expect(ops.filter { $0 == "ReduceMean" }.count == 2)
    #expect(ops.contains("Sqrt") && ops.contains("Div") && !ops.contains("LayerNormalization"), "\(ops)")
    let files = (model: onnxFixtures + "/layernorm.onnx", input: onnxFixtures + "/layernorm_input.npy", output: onnxFixtures + "/layernorm_output.npy")
    if getenv("BACKPROP_WRITE_FIXTURES") != nil {
      try FileIO.makeDirectories(atPath: onnxFixtures)
      try FileIO.writeAtomically(bytes, toPath: files.model)
      try input.writeNPY(toPath: files.input)
      try output.writeNPY(toPath: files.output)
    }
    #expect(try FileIO.readBytes(atPath: files.model) == bytes)
    #expect(try NDArray(npyFile: files.input).isBitIdentical(to: input))
    #expect(try NDArray(npyFile: files.output).isBitIdentical(to: output))

    // The statistics are outputs too (a batch normalization in training reads them).
    let h = Graph()
    let z = h.placeholder(.float64, shape: [2, 3], name: "z")
    let normalized = try LayerNorm(graph: h, features: 3, dtype: .float64)(z)
    let s = Session(graph: h)
    try s.initializeVariables()
    #expect(try onnxContents(h.onnxModel(inputs: [z], outputs: [normalized], session: s)).ops.contains("ReduceMean"))
  }
}
