import ArgumentParser
import Backprop
import Foundation
import Recipes
import CBackpropKernels

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

  @Option(
    name: .customLong("learning-rate"), parsing: .unconditional,
    help: "The learning rate (a positive number). (default: the optimizer's: 0.01 for sgd, momentum and adagrad, 0.001 for adam, rmsprop and adamw)")
  var learningRateOption: Double?

  /// `--learning-rate`, or the optimizer's default rate.
  var learningRate: Double { learningRateOption ?? optimizer.defaultLearningRate }

  @Option(name: .customLong("batch-size"), parsing: .unconditional, help: "Samples per training step.")
  var batchSize = 32

  @Option(parsing: .unconditional, help: "Passes over the training set.")
  var epochs = 20

  @Option(parsing: .unconditional, help: "Seed for the initial weights and the sample order: an integer from 0 to 2^64 - 1 (the split stays fixed).")
  var seed: UInt64 = 42

  @Option(name: .customLong("split-seed"), parsing: .unconditional, help: "Seed for the 80/20 train/test split: an integer from 0 to 2^64 - 1.")
  var splitSeed = DigitsRecipe.Configuration().splitSeed

  @Option(help: "Save the trained model (weights, standardizer, layer sizes) to this safetensors file.")
  var save: String?

  @Option(help: "The dtype of the network and its training: float32 or float64 (the saved model is float32).")
  var dtype = "float32"

  @Option(
    help: ArgumentHelp(
      "After every epoch, save every variable (optimizer slots included) and the epoch to this safetensors checkpoint.",
      valueName: "file.safetensors"))
  var checkpoint: String?

  @Option(
    help: ArgumentHelp(
      "Resume from a checkpoint written by --checkpoint, or a whole-model directory written by --save-model, after its epoch, with the same samples as an uninterrupted run (same --seed); any number of ranks.",
      valueName: "file.safetensors|dir"))
  var restore: String?

  @Flag(
    help: """
      Data-parallel training over MPI: start with `mpiexec -n N backprop digits --distributed`. Each rank takes \
      --batch-size samples of every global batch of N x --batch-size; gradients are averaged; only rank 0 prints \
      and writes files. The learning rate is used as given (linear scaling: multiply it by N yourself).
      """)
  var distributed = false

  @Option(
    name: .customLong("save-model"),
    help: ArgumentHelp("Save the whole model (the training graph as a TensorFlow GraphDef, every variable and optimizer slot, an inference branch from raw pixels) to this directory, for `backprop predict --model DIR` and `--restore DIR`.", valueName: "dir"))
  var saveModel: String?

  @Flag(help: profileHelp) var profile = false

  @OptionGroup(title: "Outputs") var outputs: TrainingOutputOptions

  /// The parsed `--hidden` sizes, or nil when malformed.
  var hiddenSizes: [Int]? {
    let parts = hidden.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.filter { $0 != " " }) }
    guard !parts.isEmpty, parts.allSatisfy({ ($0 ?? 0) >= 1 }) else { return nil }
    return parts.compactMap { $0 }
  }

  func validate() throws {
    if hiddenSizes == nil { throw ValidationError("--hidden must be positive integers separated by commas (e.g. 128 or 256,256), got '\(hidden)'") }
    try validateLearningRate(learningRate, dtype: dtype == "float64" ? .float64 : .float32)
    if batchSize < 1 { throw ValidationError("--batch-size must be at least 1, got \(batchSize)") }
    if !(1...maximumEpochs).contains(epochs) { throw ValidationError("--epochs must be between 1 and \(maximumEpochs), got \(epochs)") }
    if dtype != "float32" && dtype != "float64" { throw ValidationError("--dtype must be float32 or float64, got '\(dtype)'") }
    if let data { try validateInputPath(data, flag: "--data") }
    do {
      try DigitsRecipe.checkMemory(hiddenSizes: hiddenSizes ?? [], batchSize: batchSize)
    } catch {
      throw ValidationError("--hidden \(hidden): \(error)")
    }
    // The files only rank 0 reads or writes (see `isLaterRank()`).
    if isLaterRank() { return }
    if let save { try validateOutputPath(save, flag: "--save") }
    if let checkpoint { try validateOutputPath(checkpoint, flag: "--checkpoint") }
    if let restore {
      guard FileManager.default.fileExists(atPath: restore) || isSymbolicLink(restore) else { throw ValidationError("--restore \(restore): no such file") }
      try validateModelInputPath(restore, flag: "--restore")
    }
    if let saveModel { try validateModelOutputPath(saveModel, flag: "--save-model") }
    try validateDistinctFiles(
      FileArgument.given(
        ["--data": data, "--save": save, "--checkpoint": checkpoint, "--restore": restore, "--save-model": saveModel],
        inputs: ["--data", "--restore"]) + outputs.files)
  }

  func run() throws {
    try runRanks(distributed: distributed, command: "digits", train: train(communicator:))
  }

  private func train(communicator: (any Communicator)?) throws {
    let rank = communicator?.rank ?? 0
    printDataParallelHeader(communicator, batchSize: batchSize, unit: "samples")
    var c = DigitsRecipe.Configuration()
    c.dataPath = data
    c.hiddenSizes = hiddenSizes ?? [128]
    c.optimizer = optimizer
    c.learningRate = learningRate
    c.batchSize = batchSize
    c.epochs = epochs
    c.seed = seed
    c.splitSeed = splitSeed
    c.dtype = dtype == "float64" ? .float64 : .float32
    c.communicator = communicator
    c.checkpointPath = checkpoint
    c.restorePath = restore
    c.modelPath = saveModel
    c.profiles = profile
    let tensorBoard = rank == 0 ? try outputs.openTensorBoard() : nil
    let report = try DigitsRecipe(c).run(monitor: tensorBoard?.trainingMonitor() ?? DigitsMonitor())
    try tensorBoard?.close()
    guard rank == 0 else { return }  // only rank 0 speaks and writes
    if let logdir = outputs.logdir { print("wrote the TensorBoard log to \(logdir) (tensorboard --logdir \(logdir))") }
    if let world = communicator as? MPICommunicator, ProcessInfo.processInfo.environment["BACKPROP_MPI_STATS"] != nil {
      let s = world.statistics
      let stepsPerEpoch = Batches.count(samples: report.trainCount, size: Batches.globalSize(perRank: batchSize, ranks: world.size))
      let steps = stepsPerEpoch * report.epochs.count
      let seconds = report.epochs.reduce(0) { $0 + $1.seconds }
      print(
        "mpi-stats ranks=\(world.size) steps=\(steps) train-seconds=\(seconds) steps-per-second=\(Double(steps) / seconds) "
          + "mpi-allreduce-calls=\(s.mpiCalls) mpi-allreduce-seconds=\(s.mpiSeconds) fused-calls=\(s.fusedCalls) "
          + "fused-seconds=\(s.fusedSeconds) fused-share=\(s.fusedSeconds / seconds)")
    }
    let correct = Int((report.testAccuracy * Double(report.testCount)).rounded())
    print(
      "\(report.model.layerSizes.map(String.init).joined(separator: "-")) \(optimizer.rawValue): test accuracy \(correct)/\(report.testCount) = \(DigitsRecipe.percent(report.testAccuracy))")
    printProfile(report.profile)
    if let save {
      try report.model.save(toPath: save)
      print("saved the model to \(save)")
    }
    if let saveModel { print("saved the whole model to \(saveModel)") }
    let name = report.model.layerSizes.map(String.init).joined(separator: "-")
    try outputs.write(
      figure: report.figure(title: "Digits \(name), \(optimizer.rawValue) at \(formatCompact(learningRate)), batch \(batchSize), seed \(seed)"),
      log: report.epochLog(), losses: report.epochs.map(\.loss), smoothed: report.epochs.map(\.loss))
  }
}

/// `backprop predict`: classifies with a model saved by `backprop digits --save` (rows of 64
/// pixels in a CSV) or `backprop fashion --save` (28x28 images in an IDX file).
struct PredictCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "predict",
    abstract: "Classify with a model saved by `backprop digits --save FILE` or `backprop fashion --save FILE`.",
    discussion: """
      Prints one predicted class per row or image. Digits models read a CSV of rows of 64 pixels; when \
      it has a 65th column it is taken as the true class and the accuracy is reported on standard \
      error. Fashion-MNIST models (the file records the architecture) read an IDX images file \
      [n, 28, 28] (plain or .gz, such as t10k-images-idx3-ubyte.gz); with --labels IDX the accuracy \
      is reported on standard error.
      """)

  @Option(help: "The model file written by `backprop digits --save` or `backprop fashion --save`, or a whole-model directory (`backprop digits --save-model`, Session.saveModel).")
  var model: String

  @Option(help: "A CSV of rows of 64 pixels (digits), or an IDX file of 28x28 images (fashion).")
  var input: String

  @Option(help: "Fashion-MNIST models: an IDX file of the images' classes, to report the accuracy.")
  var labels: String?

  @Flag(help: "The CSV's first row is a header.")
  var header = false

  func validate() throws {
    var isDirectory: ObjCBool = false
    // A whole-model directory (graph.pb + variables.safetensors) is read file by file, each
    // checked by the loader; anything else must be a regular file.
    if !(FileManager.default.fileExists(atPath: model, isDirectory: &isDirectory) && isDirectory.boolValue) {
      try validateInputPath(model, flag: "--model")
    }
    try validateInputPath(input, flag: "--input")
    if let labels { try validateInputPath(labels, flag: "--labels") }
  }

  func run() throws {
    if Session.isModelDirectory(model) { return try runWholeModel() }
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: model, isDirectory: &isDirectory), isDirectory.boolValue {
      throw CLIError(
        "--model \(model) is a directory without a model's \(Session.ModelFiles.graph): give a whole-model directory (written by --save-model or Session.saveModel) or a model file (written by --save)")
    }
    let file = try SafetensorsFile(contentsOfFile: model)
    if file.metadata["format"] == FashionModel.formatName { return try runFashion() }
    if labels != nil { throw CLIError("--labels is for Fashion-MNIST models; \(model) is not one") }
    // The model first, so that a bad model is reported before the input is read.
    let classifier = try DigitsModel(contentsOfFile: model)
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
      pixels = try table.checkedMatrix()
    }
    let predictions = try classes(of: classifier.logits(pixels))
    print(predictions.map(String.init).joined(separator: "\n"))
    if hasLabels { reportAccuracy(predictions, labels) }
  }

  /// Runs a whole-model directory (`Session.saveModel`, `--save-model` of any training
  /// command): the metadata names the input and output tensors. The input file is an IDX file
  /// (plain or gzip; each item flattened) or a CSV (one input per row, with one more column taken
  /// as the true class). An input whose first dimension is unknown is fed every row at once; a
  /// fixed-shape input (a notebook model saved before its `x_data` took any batch size) is fed
  /// one row at a time. The output prints one line per row: the class (the argmax of
  /// `[rows, classes]` logits, or the value itself when the metadata says `output-kind` =
  /// `classes`) or the values.
  func runWholeModel() throws {
    let (session, metadata) = try Session.loadModel(from: model)
    guard let inputTensor = metadata["input"].flatMap(session.graph.tensor(named:)),
      let outputTensor = metadata["output"].flatMap(session.graph.tensor(named:))
    else { throw CLIError("\(model): the model's metadata does not name an existing 'input' and 'output' tensor") }
    let dims = inputTensor.shape.dimensions
    let batched = dims.first.map { $0 == nil } ?? false
    let itemDims = (batched ? Array(dims.dropFirst()) : dims).map { $0 ?? -1 }
    guard itemDims.allSatisfy({ $0 >= 0 }) else {
      throw CLIError("\(model): the input \(inputTensor.name) has the shape \(inputTensor.shape); only its first dimension may be unknown")
    }
    let features: Int
    do {
      features = try SizeLimits.checkedProduct(itemDims, what: "the input \(inputTensor.name)")
    } catch {
      throw CLIError("\(model): \(error)")
    }
    // The rows, and the true classes when the input carries them.
    var rows: [Double]
    var rowCount: Int
    var truth: [Int32]?
    if try isIDXFile(input) {
      let images = try IDXArray(contentsOfFile: input)
      rowCount = images.dimensions.first ?? 0
      let perItem = images.dimensions.dropFirst().reduce(1, *)  // IDXArray bounds every product
      guard images.dimensions.count >= 1, perItem == features else {
        // (A rank-1 file holds one value per item: labels, not images.)
        let items =
          images.dimensions.count > 1
          ? "items of \(images.dimensions.dropFirst().map(String.init).joined(separator: "x")) values"
          : "one value per item (a rank-1 IDX file: labels, not images; give them with --labels)"
        throw CLIError("\(input): \(items); the model's input \(inputTensor.name) takes \(features) per row (\(inputTensor.shape))")
      }
      rows = images.doubles
      if let labels {
        let l = try IDXArray(contentsOfFile: labels)
        guard l.dimensions == [rowCount] else {
          throw CLIError("\(labels): expected labels [\(rowCount)], got dimensions \(l.dimensions)")
        }
        truth = l.doubles.map { Int32(exactly: $0) ?? -1 }
      }
    } else {
      if labels != nil { throw CLIError("--labels goes with an IDX input; a CSV input carries its classes as a last column") }
      let table = try NumericTable(contentsOfFile: input, hasHeader: header)
      guard table.columnCount == features || table.columnCount == features + 1 else {
        throw CLIError("\(input): rows must have \(features) values (or \(features) and the class) for the model's input \(inputTensor.name) \(inputTensor.shape), found \(table.columnCount) columns")
      }
      rowCount = table.rowCount
      if table.columnCount == features {
        rows = table.values
      } else {
        rows = []
        rows.reserveCapacity(rowCount * features)
        truth = []
        for r in 0..<rowCount {
          rows += table.values[r * (features + 1)..<(r * (features + 1) + features)]
          truth?.append(Int32(exactly: table.values[r * (features + 1) + features]) ?? -1)
        }
      }
    }
    guard rowCount > 0 else { throw CLIError("\(input): no rows to predict") }
    try checkModelInput(rows, features: features, dtype: inputTensor.dtype)
    let kind = metadata["output-kind"]
    // The classes, kept only to compare with the true ones.
    var predictions: [Int] = []
    var predictionCount = 0
    func predicted(_ c: Int) {
      predictionCount += 1
      if let truth, predictions.count < truth.count { predictions.append(c) }
    }
    // One output's lines, read element by element in the output's own dtype (no float64 copy
    // of the whole output); `firstRow` numbers the rows in errors.
    func emit(_ out: NDArray, rows n: Int, firstRow: Int, _ line: (String) -> Void) throws {
      try withElements(of: out) { count, value in
        try checkModelOutput(count: count, value, perRow: count / max(n, 1), firstRow: firstRow)
        if kind != "values", kind == "classes" || (out.rank == 2 && out.shape[0] == n && out.shape[1] >= 2) {
          if kind == "classes" {
            for i in 0..<count {
              let c = Int(exactly: value(i).rounded()) ?? -1
              predicted(c)
              line(String(c))
            }
            return
          }
          let k = out.shape[1]
          for r in 0..<n {
            let best = firstLargest(value, from: r * k, count: k)
            predicted(best)
            line(String(best))
          }
        } else {
          let perRow = count / max(n, 1)
          for r in 0..<n {
            line((r * perRow..<(r + 1) * perRow).map { out.dtype == .float32 ? String(Float(value($0))) : String(value($0)) }.joined(separator: " "))
          }
        }
      }
    }
    if batched {
      // One run: its output is checked whole before the first line, so the lines go out as
      // they are made.
      let x = NDArray(converting: rows, shape: Shape([rowCount] + itemDims), dtype: inputTensor.dtype)
      var printed = 0
      try emit(session.run(outputTensor, feeding: [inputTensor: x]), rows: rowCount, firstRow: 0) { line in
        print(line)
        printed += 1
      }
      if printed == 0 { print("") }
    } else {
      // A run per row: nothing is printed until every row's output is checked.
      var lines: [String] = []
      for r in 0..<rowCount {
        let x = NDArray(converting: Array(rows[r * features..<(r + 1) * features]), shape: Shape(itemDims), dtype: inputTensor.dtype)
        try emit(session.run(outputTensor, feeding: [inputTensor: x]), rows: 1, firstRow: lines.count) { lines.append($0) }
      }
      print(lines.joined(separator: "\n"))
    }
    if let truth {
      guard predictionCount == truth.count else {
        throw CLIError("\(model): the output gives \(predictionCount) classes for \(truth.count) labelled rows")
      }
      reportAccuracy(predictions, truth)
    }
  }

  /// Whether `path` holds an IDX file (its magic number begins with two zero bytes) or a gzip
  /// stream (`1f 8b`, read as gzip-compressed IDX); anything else is read as CSV.
  func isIDXFile(_ path: String) throws -> Bool {
    guard let handle = FileHandle(forReadingAtPath: path) else { throw CLIError("\(path): cannot be opened") }
    defer { try? handle.close() }
    let head = [UInt8](handle.readData(ofLength: 2))
    return head == [0, 0] || head == [0x1f, 0x8b]
  }

  /// Classifies the images of an IDX file with a Fashion-MNIST model.
  func runFashion() throws {
    let classifier = try FashionModel(contentsOfFile: model)
    let images = try IDXArray(contentsOfFile: input)
    let side = FashionMNIST.side
    guard images.typeCode == 0x08, images.dimensions.count == 3, images.dimensions[1] == side, images.dimensions[2] == side else {
      throw CLIError("\(input): expected an IDX file of unsigned-byte images [n, \(side), \(side)], got dimensions \(images.dimensions)")
    }
    guard images.dimensions[0] > 0 else { throw CLIError("\(input): no rows to predict") }
    var truth: [Int32]?
    if let labels {
      let l = try IDXArray(contentsOfFile: labels)
      guard l.typeCode == 0x08, l.dimensions == [images.dimensions[0]] else {
        throw CLIError("\(labels): expected unsigned-byte labels [\(images.dimensions[0])], got dimensions \(l.dimensions)")
      }
      truth = l.bytes.map { Int32($0) }
    }
    let pixels = NDArray(images.bytes.map { Float($0) / 255 }, shape: [images.dimensions[0], side * side])
    let predictions = try classes(of: classifier.logits(pixels))
    print(predictions.map(String.init).joined(separator: "\n"))
    if let truth { reportAccuracy(predictions, truth) }
  }

  /// Refuses input values a model cannot compute with: NaN or infinity (an IDX file of floats
  /// can hold them), values beyond the range of a float32 input (`1e300` becomes infinity),
  /// and, for an int32 input, values that are not integers of its range (2.7 was fed as 2,
  /// 3e9 as 2147483647) or, for a bool input, other than 0 and 1, naming the row and column,
  /// so that nothing is printed from a value the model was not given.
  func checkModelInput(_ rows: [Double], features: Int, dtype: DType) throws {
    for (i, v) in rows.enumerated() {
      let problem: String? =
        if !v.isFinite {
          "not a finite number"
        } else {
          switch dtype {
          case .float32: Float(v).isFinite ? nil : "out of the range of float32 (its magnitude must be below 3.4e38)"
          case .float64: nil
          case .int32: Int32(exactly: v) == nil ? "not an integer from -2147483648 to 2147483647 (the input is int32)" : nil
          case .bool: v == 0 || v == 1 ? nil : "neither 0 nor 1 (the input is bool)"
          }
        }
      guard let problem else { continue }
      let (row, column) = features > 0 ? (i / features + 1, i % features + 1) : (1, 1)
      throw CLIError("\(input): row \(row), value \(column): \(v) is \(problem); the model cannot classify it")
    }
  }

  /// Refuses a model output that is NaN or infinite (weights that are not finite, or an
  /// overflow inside the network): its argmax would be a class computed from garbage. The
  /// output's `count` elements are read through `value` (see ``withElements(of:_:)``).
  func checkModelOutput(count: Int, _ value: (Int) -> Double, perRow: Int, firstRow: Int) throws {
    for i in 0..<count where !value(i).isFinite {
      throw CLIError(
        "\(model): the model computed \(value(i)) for row \(firstRow + i / max(perRow, 1) + 1) of \(input); its weights or the row's values are not usable (no class is printed from a non-finite output)")
    }
  }

  /// The class of each row of `logits` `[n, k]` (the first largest), after
  /// ``checkModelOutput(count:_:perRow:firstRow:)``.
  func classes(of logits: NDArray) throws -> [Int] {
    let k = logits.rank == 2 ? logits.shape[1] : 1
    return try withElements(of: logits) { count, value in
      try checkModelOutput(count: count, value, perRow: k, firstRow: 0)
      guard k > 0 else { return [] }
      return (0..<(count / k)).map { r in firstLargest(value, from: r * k, count: k) }
    }
  }

  func reportAccuracy(_ predictions: [Int], _ labels: [Int32]) {
    let correct = zip(predictions, labels).filter { $0 == Int($1) }.count
    let line = "accuracy \(Double(correct) / Double(max(predictions.count, 1))) (\(correct)/\(predictions.count))\n"
    FileHandle.standardError.write(Data(line.utf8))
  }
}

/// Calls `body` with the number of `array`'s elements and a function reading element `i` as a
/// `Double` (exact for every dtype; bool as 0 or 1) in place, in the array's own memory: what
/// `NDArray.doubles` gives, without its copy of the whole array (8 bytes per element, twice a
/// float32 output's memory again).
func withElements<R>(of array: NDArray, _ body: (_ count: Int, _ element: (Int) -> Double) throws -> R) rethrows -> R {
  switch array.dtype {
  case .float32: try array.withUnsafeBufferPointer(as: Float.self) { b in try body(b.count) { Double(b[$0]) } }
  case .float64: try array.withUnsafeBufferPointer(as: Double.self) { b in try body(b.count) { b[$0] } }
  case .int32: try array.withUnsafeBufferPointer(as: Int32.self) { b in try body(b.count) { Double(b[$0]) } }
  case .bool: try array.withUnsafeBufferPointer(as: Bool.self) { b in try body(b.count) { b[$0] ? 1 : 0 } }
  }
}

/// The offset from `start` of the first largest of the `count` values `value(start)`,
/// `value(start + 1)`... (0 when `count` is 0 or 1).
func firstLargest(_ value: (Int) -> Double, from start: Int, count: Int) -> Int {
  var best = 0
  for j in 1..<max(count, 1) where value(start + j) > value(start + best) { best = j }
  return best
}
