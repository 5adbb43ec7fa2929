import ArgumentParser
import Backprop
import Foundation
import Recipes

/// `backprop export --onnx FILE --model MODEL.safetensors`: the digits network (with its
/// standardization) or a Fashion-MNIST classifier (CNN or MLP) as an ONNX model for
/// onnxruntime and other runtimes.
struct ExportCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "export",
    abstract: "Export a model saved by `backprop digits --save` (input 'pixels' [n, 64]) or `backprop fashion --save` (input 'pixels' [n, 784] / 255) as ONNX (output 'logits' [n, 10]).",
    discussion: """
      With --logits, also computes Backprop's own logits for the rows of --input and writes them \
      as a .npy file, which Scripts/check_onnx.py compares with onnxruntime's.
      """)

  @Option(help: ArgumentHelp("Write the ONNX model here.", valueName: "file.onnx"))
  var onnx: String

  @Option(help: "The model file written by `backprop digits --save` or `backprop fashion --save`.")
  var model: String

  @Option(help: ArgumentHelp("For --logits: a CSV of rows of 64 pixels (optionally with the class) for a digits model, an IDX file of 28x28 images (plain or .gz) for a Fashion-MNIST model.", valueName: "file"))
  var input: String?

  @Option(help: ArgumentHelp("Write Backprop's logits of the --input rows as .npy.", valueName: "file.npy"))
  var logits: String?

  func validate() throws {
    try validateInputPath(model, flag: "--model")
    if let input { try validateInputPath(input, flag: "--input") }
    try validateOutputPath(onnx, flag: "--onnx")
    if let logits {
      try validateOutputPath(logits, flag: "--logits")
      if input == nil { throw ValidationError("--logits needs --input FILE.csv") }
    }
    // The ONNX file or the logits written over the model or the rows would destroy them.
    try validateDistinctFiles(
      [
        FileArgument(flag: "--model", path: model, isInput: true),
        FileArgument(flag: "--onnx", path: onnx, isInput: false),
      ] + (input.map { [FileArgument(flag: "--input", path: $0, isInput: true)] } ?? [])
        + (logits.map { [FileArgument(flag: "--logits", path: $0, isInput: false)] } ?? []))
  }

  func run() throws {
    let file = try SafetensorsFile(contentsOfFile: model)
    let fashion = file.metadata["format"] == FashionModel.formatName
    let classifier = fashion ? nil : try DigitsModel(contentsOfFile: model)
    let cnn = fashion ? try FashionModel(contentsOfFile: model) : nil
    let bytes = try cnn?.onnxModel() ?? classifier!.onnxModel()
    do {
      try FileIO.writeAtomically(bytes, toPath: onnx)
    } catch {
      throw CLIError("cannot write the ONNX model: \(error)")
    }
    print("wrote the ONNX model (\(bytes.count) bytes) to \(onnx)")
    guard let logits, let input else { return }
    let values: NDArray
    if let cnn {
      let images = try IDXArray(contentsOfFile: input)
      let side = FashionMNIST.side
      guard images.typeCode == 0x08, images.dimensions.count == 3, images.dimensions[1] == side, images.dimensions[2] == side else {
        throw CLIError("\(input): expected an IDX file of unsigned-byte images [n, \(side), \(side)], got dimensions \(images.dimensions)")
      }
      values = try cnn.logits(NDArray(images.bytes.map { Float($0) / 255 }, shape: [images.dimensions[0], side * side]))
    } else {
      let table = try NumericTable(contentsOfFile: input)
      let n = DigitsModel.inputSize
      guard table.columnCount == n || table.columnCount == n + 1 else {
        throw CLIError("\(input): rows must have \(n) pixels (or \(n) pixels and the class), found \(table.columnCount) columns")
      }
      let pixels = table.columnCount == n + 1 ? try table.dataset().features : table.matrix()
      values = try classifier!.logits(pixels)
    }
    try values.writeNPY(toPath: logits)
    print("wrote Backprop's logits \(values.shape) to \(logits)")
  }
}
