import ArgumentParser
import Backprop
import Foundation
import Recipes

extension DigitsOptimizer: ExpressibleByArgument {}

/// `backprop digits`: trains the multilayer perceptron on the UCI handwritten digits.
struct DigitsCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "digits",
    abstract: "Train a multilayer perceptron on the UCI handwritten digits (8x8 images, 10 classes).",
    discussion: """
      Defaults: standardized inputs, a fixed seeded 80/20 split, 64-128-10 with ReLU, Adam at 1e-3, \
      batch 32, 20 epochs. Prints one line per epoch: loss, train accuracy, test accuracy, time.
      """)

  @Option(help: "The digits CSV (64 pixels, then the class). Default: Data/digits.csv of the repository.")
  var data: String?

  @Option(help: "Hidden layer sizes, comma-separated (e.g. 128 or 256,256).")
  var hidden = "128"

  @Option(help: "The optimizer: \(DigitsOptimizer.allCases.map(\.rawValue).joined(separator: ", ")).")
  var optimizer = DigitsOptimizer.adam

  @Option(name: .customLong("learning-rate"), help: "The learning rate (a positive number).")
  var learningRate = 1e-3

  @Option(name: .customLong("batch-size"), help: "Samples per training step.")
  var batchSize = 32

  @Option(help: "Passes over the training set.")
  var epochs = 20

  @Option(help: "Seed for the initial weights and the sample order (the split stays fixed).")
  var seed: UInt64 = 42

  @Option(name: .customLong("split-seed"), help: "Seed for the 80/20 train/test split.")
  var splitSeed = DigitsRecipe.Configuration().splitSeed

  @Option(help: "Save the trained model (weights, standardizer, layer sizes) to this safetensors file.")
  var save: String?

  @Option(
    name: .customLong("save-model"),
    help: ArgumentHelp("Save the trained network (graph and weights, standardization included) as a whole-model directory for `backprop predict --model DIR`.", valueName: "dir"))
  var saveModel: String?

  @OptionGroup(title: "Outputs") var outputs: TrainingOutputOptions

  /// The parsed `--hidden` sizes, or nil when malformed.
  var hiddenSizes: [Int]? {
    let parts = hidden.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.filter { $0 != " " }) }
    guard !parts.isEmpty, parts.allSatisfy({ ($0 ?? 0) >= 1 }) else { return nil }
    return parts.compactMap { $0 }
  }

  func validate() throws {
    if hiddenSizes == nil { throw ValidationError("--hidden must be positive integers separated by commas (e.g. 128 or 256,256), got '\(hidden)'") }
    if !(learningRate.isFinite && learningRate > 0) {
      throw ValidationError("--learning-rate must be a finite number > 0, got \(learningRate)")
    }
    if batchSize < 1 { throw ValidationError("--batch-size must be at least 1, got \(batchSize)") }
    if epochs < 1 { throw ValidationError("--epochs must be at least 1, got \(epochs)") }
    if let save { try validateOutputPath(save, flag: "--save") }
  }

  func run() throws {
    var c = DigitsRecipe.Configuration()
    c.dataPath = data
    c.hiddenSizes = hiddenSizes ?? [128]
    c.optimizer = optimizer
    c.learningRate = learningRate
    c.batchSize = batchSize
    c.epochs = epochs
    c.seed = seed
    c.splitSeed = splitSeed
    let tensorBoard = try outputs.openTensorBoard()
    let report = try DigitsRecipe(c).run(monitor: tensorBoard?.digitsMonitor(learningRate: learningRate) ?? DigitsMonitor())
    try tensorBoard?.close()
    if let logdir = outputs.logdir { print("wrote the TensorBoard log to \(logdir) (tensorboard --logdir \(logdir))") }
    let correct = Int((report.testAccuracy * Double(report.testCount)).rounded())
    print(
      "\(report.model.layerSizes.map(String.init).joined(separator: "-")) \(optimizer.rawValue): test accuracy \(correct)/\(report.testCount) = \(DigitsRecipe.percent(report.testAccuracy))")
    if let save {
      try report.model.save(toPath: save)
      print("saved the model to \(save)")
    }
    if let saveModel {
      try report.model.saveModelDirectory(saveModel)
      print("saved the whole model to \(saveModel)")
    }
    let name = report.model.layerSizes.map(String.init).joined(separator: "-")
    try outputs.write(
      figure: report.figure(title: "Digits \(name), \(optimizer.rawValue) at \(formatCompact(learningRate)), batch \(batchSize), seed \(seed)"),
      log: report.epochLog(), losses: report.epochs.map(\.loss), smoothed: report.epochs.map(\.loss))
  }
}

/// `backprop predict`: classifies rows of pixels with a model saved by `backprop digits --save`.
struct PredictCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "predict",
    abstract: "Classify rows of 64 pixels with a model saved by `backprop digits --save FILE`.",
    discussion: """
      Prints one predicted class per row. When the CSV has a 65th column it is taken as the true \
      class and the accuracy is reported on standard error.
      """)

  @Option(help: "The model file written by `backprop digits --save`, or a whole-model directory (`--save-model`, Session.saveModel).")
  var model: String

  @Option(help: "A CSV of rows of 64 pixels (0..16), optionally followed by the class.")
  var input: String

  @Flag(help: "The CSV's first row is a header.")
  var header = false

  func run() throws {
    var isDirectory: ObjCBool = false
    let wholeModel = FileManager.default.fileExists(atPath: model, isDirectory: &isDirectory) && isDirectory.boolValue
    // The model first, so that a bad model is reported before the input is read.
    let classifier = wholeModel ? nil : try DigitsModel(contentsOfFile: model)
    let loaded = wholeModel ? try Session.loadModel(from: model) : nil
    let table = try NumericTable(contentsOfFile: input, hasHeader: header)
    let n = DigitsModel.inputSize
    guard table.columnCount == n || table.columnCount == n + 1 else {
      throw CLIError("\(input): rows must have \(n) pixels (or \(n) pixels and the class), found \(table.columnCount) columns")
    }
    let hasLabels = table.columnCount == n + 1
    let pixels: NDArray
    var labels: [Int32] = []
    if hasLabels {
      let data = try table.dataset()
      pixels = data.features
      labels = data.labels.scalars(as: Int32.self)
    } else {
      pixels = table.matrix()
    }
    let predictions: [Int]
    if let (session, metadata) = loaded {
      // A directory written by Session.saveModel (`backprop digits --save-model`): the graph
      // names its input and output in the metadata.
      guard let input = metadata["input"].flatMap(session.graph.tensor(named:)),
        let output = metadata["output"].flatMap(session.graph.tensor(named:))
      else { throw CLIError("\(model): the model's metadata does not name an existing 'input' and 'output' tensor") }
      let logits = try session.run(output, feeding: [input: pixels.converted(to: input.dtype)])
      guard logits.rank == 2 else { throw CLIError("\(model): the output is \(logits.shape), not [rows, classes]") }
      let k = logits.shape[1]
      let values = logits.doubles
      predictions = (0..<logits.shape[0]).map { r in
        var best = 0
        for j in 1..<max(k, 1) where values[r * k + j] > values[r * k + best] { best = j }
        return best
      }
    } else {
      predictions = try classifier?.predict(pixels) ?? []
    }
    print(predictions.map(String.init).joined(separator: "\n"))
    if hasLabels {
      let correct = zip(predictions, labels).filter { $0 == Int($1) }.count
      let line = "accuracy \(Double(correct) / Double(predictions.count)) (\(correct)/\(predictions.count))\n"
      FileHandle.standardError.write(Data(line.utf8))
    }
  }
}
