import ArgumentParser
import Backprop
import Foundation
import Recipes

/// `backprop export --onnx FILE --model digits.safetensors`: the digits network (with its
/// standardization) as an ONNX model for onnxruntime and other runtimes.
struct ExportCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "export",
    abstract: "Export a model saved by `backprop digits --save` as ONNX (input 'pixels' [n, 64], output 'logits' [n, 10]).",
    discussion: """
      With --logits, also computes Backprop's own logits for the rows of --input and writes them \
      as a .npy file, which Scripts/check_onnx.py compares with onnxruntime's.
      """)

  @Option(help: ArgumentHelp("Write the ONNX model here.", valueName: "file.onnx"))
  var onnx: String

  @Option(help: "The model file written by `backprop digits --save`.")
  var model: String

  @Option(help: ArgumentHelp("A CSV of rows of 64 pixels (optionally with the class) for --logits.", valueName: "file.csv"))
  var input: String?

  @Option(help: ArgumentHelp("Write Backprop's logits of the --input rows as .npy.", valueName: "file.npy"))
  var logits: String?

  func validate() throws {
    try validateOutputPath(onnx, flag: "--onnx")
    if let logits {
      try validateOutputPath(logits, flag: "--logits")
      if input == nil { throw ValidationError("--logits needs --input FILE.csv") }
    }
  }

  func run() throws {
    let classifier = try DigitsModel(contentsOfFile: model)
    let bytes = try classifier.onnxModel()
    do {
      try FileIO.writeAtomically(bytes, toPath: onnx)
    } catch {
      throw CLIError("cannot write the ONNX model: \(error)")
    }
    print("wrote the ONNX model (\(bytes.count) bytes) to \(onnx)")
    if let logits, let input {
      let table = try NumericTable(contentsOfFile: input)
      let n = DigitsModel.inputSize
      guard table.columnCount == n || table.columnCount == n + 1 else {
        throw CLIError("\(input): rows must have \(n) pixels (or \(n) pixels and the class), found \(table.columnCount) columns")
      }
      let pixels = table.columnCount == n + 1 ? try table.dataset().features : table.matrix()
      let values = try classifier.logits(pixels)
      try values.writeNPY(toPath: logits)
      print("wrote Backprop's logits \(values.shape) to \(logits)")
    }
  }
}
