import ArgumentParser
import Backprop
import Foundation
import Recipes

/// `backprop export --onnx FILE --model MODEL.safetensors`: the digits network (with its
/// standardization) or a Fashion-MNIST classifier (CNN or MLP) as an ONNX model for
/// onnxruntime and other runtimes; `--model DIR`: the inference path of a whole-model directory
/// (`--save-model`), from the input to the output its metadata names.
struct ExportCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "export",
    abstract: "Export a model saved by `backprop digits --save` (input 'pixels' [n, 64]) or `backprop fashion --save` (input 'pixels' [n, 784] / 255) as ONNX (output 'logits' [n, 10]), or a --save-model directory (its metadata's input and output).",
    discussion: """
      With --logits, also computes Backprop's own logits for the rows of --input and writes them \
      as a .npy file, which Scripts/check_onnx.py compares with onnxruntime's (model files only; \
      `backprop predict --model DIR` prints a directory's outputs).
      """)

  @Option(help: ArgumentHelp("Write the ONNX model here.", valueName: "file.onnx"))
  var onnx: String

  @Option(help: "The model file written by `backprop digits --save` or `backprop fashion --save`, or a directory written by --save-model.")
  var model: String

  @Option(help: ArgumentHelp("For --logits: a CSV of rows of 64 pixels (optionally with the class) for a digits model, an IDX file of 28x28 images (plain or .gz) for a Fashion-MNIST model.", valueName: "file"))
  var input: String?

  @Option(help: ArgumentHelp("Write Backprop's logits of the --input rows as .npy.", valueName: "file.npy"))
  var logits: String?

  func validate() throws {
    // A whole-model directory is read file by file, each checked by the loader.
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: model, isDirectory: &isDirectory), isDirectory.boolValue {
      guard Session.isModelDirectory(model) else {
        throw ValidationError(
          "--model \(model) is a directory without a model's \(Session.ModelFiles.graph): give a whole-model directory (written by --save-model) or a model file (written by --save)")
      }
    } else {
      try validateInputPath(model, flag: "--model")
    }
    if let input { try validateInputPath(input, flag: "--input") }
    try validateOutputPath(onnx, flag: "--onnx")
    if let logits {
      try validateOutputPath(logits, flag: "--logits")
      if input == nil { throw ValidationError("--logits needs --input FILE.csv") }
    }
    // The ONNX file or the logits written over the model or the rows would destroy them.
    try validateDistinctFiles(
      FileArgument.given(["--model": model, "--onnx": onnx, "--input": input, "--logits": logits], inputs: ["--model", "--input"]))
  }

  func run() throws {
    if Session.isModelDirectory(model) { return try runWholeModel() }
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

  /// Exports a whole-model directory: what its output needs from its input (the inference
  /// path; flags such as the training phase take their defaults, dropout off), with the
  /// variables' values, under the tensors' names.
  func runWholeModel() throws {
    if logits != nil {
      throw CLIError("--logits is for model files; `backprop predict --model \(model) --input FILE` prints a directory's outputs")
    }
    let (session, metadata) = try Session.loadModel(from: model)
    guard let input = metadata["input"].flatMap(session.graph.tensor(named:)),
      let output = metadata["output"].flatMap(session.graph.tensor(named:))
    else { throw CLIError("\(model): the model's metadata does not name an existing 'input' and 'output' tensor") }
    let bytes = try session.graph.onnxModel(inputs: [input], outputs: [output], session: session)
    do {
      try FileIO.writeAtomically(bytes, toPath: onnx)
    } catch {
      throw CLIError("cannot write the ONNX model: \(error)")
    }
    print("wrote the ONNX model (\(bytes.count) bytes; input '\(input.name)' \(input.shape), output '\(output.name)' \(output.shape)) to \(onnx)")
  }
}
