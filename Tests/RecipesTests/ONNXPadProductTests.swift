import ArrayCore
import Foundation
import GraphCore
import Testing
import TestSupport

#if canImport(Glibc)
  import Glibc
#endif

/// `pad`, `mirrorPad` and `product` in ONNX (opset 13): `Pad` with its pads (all befores, then
/// all afters) and value as inputs (mode `reflect` for REFLECT mirror padding; SYMMETRIC as
/// reversed `Slice`s concatenated per axis), `ReduceProd` with its axes as an attribute.
/// `Tests/Fixtures/onnx/pad_prod.onnx` is the model below with its input (one element 0) and
/// Backprop's output (`.npy`); `Scripts/check_onnx.py --outputs` runs it in onnxruntime
/// (`BACKPROP_WRITE_FIXTURES=1 swift test --filter ONNXPadProductTests` rewrites them).
@Suite struct ONNXPadProductTests {
  @Test func padAndProductExportToONNX() throws {
    let g = Graph()
    let x = g.placeholder(.float32, shape: [nil, 3, 4], name: "x")
    let padded = try pad(x, paddings: [(0, 0), (1, 0), (0, 2)], value: 1.5, name: "padded")
    let zeros = try pad(padded, paddings: [(0, 0), (0, 1), (1, 0)], name: "zeros")
    let mirrored = try mirrorPad(x, paddings: [(0, 0), (1, 1), (2, 0)], mode: .reflect, name: "mirrored")
    let columns = try product(padded, axes: [1], name: "columns") + product(mirrored, axes: [1])
    // SYMMETRIC: [?, 3 + 2 + 1, 4 + 1 + 2]; a different weight added to each row before the
    // product over them, so that rows in the wrong order give other values.
    let symmetric = try mirrorPad(x, paddings: [(0, 0), (2, 1), (1, 2)], mode: .symmetric, name: "symmetric")
    let rowWeights: [Float] = (0..<42).map { (i: Int) -> Float in Float(i / 7) * 0.5 + Float(i % 7) * 0.125 }
    let weights = g.constant(NDArray(rowWeights, shape: [6, 7]), name: "weights")
    let y = try product(zeros + 2, axes: [1], keepDims: false, name: "prod") + pad(columns, paddings: [(0, 0), (1, 0)])
      + product(symmetric + weights, axes: [1])
    let session = Session(graph: g)
    var generator = SeededGenerator(seed: 7)
    var values = (0..<24).map { _ in Float(generator.normal(mean: 0, standardDeviation: 1)) }
    values[5] = 0
    let input = NDArray(values, shape: [2, 3, 4])
    let output = try session.run([y], feeding: [x: input])[0]
    #expect(output.shape == [2, 7])
    let bytes = try g.onnxModel(inputs: [x], outputs: [y], session: session)
    let (ops, initializers) = try onnxContents(bytes)
    #expect(ops.filter { $0 == "Pad" }.count == 4 && ops.filter { $0 == "ReduceProd" }.count == 4, "\(ops)")
    // SYMMETRIC: two axes, each a Concat of two reversed slices and the values.
    #expect(ops.filter { $0 == "Slice" }.count == 4 && ops.filter { $0 == "Concat" }.count == 2, "\(ops)")
    #expect(initializers.contains("padded/pads") && initializers.contains("padded/constant_value"), "\(initializers)")
    let files = (model: onnxFixtures + "/pad_prod.onnx", input: onnxFixtures + "/pad_prod_input.npy", output: onnxFixtures + "/pad_prod_output.npy")
    if getenv("BACKPROP_WRITE_FIXTURES") != nil {
      try FileIO.makeDirectories(atPath: onnxFixtures)
      try FileIO.writeAtomically(bytes, toPath: files.model)
      try input.writeNPY(toPath: files.input)
      try output.writeNPY(toPath: files.output)
    }
    #expect(try FileIO.readBytes(atPath: files.model) == bytes)
    #expect(try NDArray(npyFile: files.input).isBitIdentical(to: input))
    #expect(try NDArray(npyFile: files.output).isBitIdentical(to: output))
  }
}
