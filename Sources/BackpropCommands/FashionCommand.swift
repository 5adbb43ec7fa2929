import ArgumentParser
import Backprop
import Foundation
import Recipes

extension FashionModelKind: ExpressibleByArgument {}
extension FashionLearningRateDecay: ExpressibleByArgument {}

/// `backprop fashion`: trains a convolutional network on Fashion-MNIST.
struct FashionCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "fashion",
    abstract: "Train a convolutional network on Fashion-MNIST (28x28 grayscale clothing images, 10 classes).",
    discussion: """
      Defaults (the Keras example CNN): Conv2D(32, 3x3)+ReLU, MaxPool 2, Conv2D(64, 3x3)+ReLU, MaxPool 2, \
      Flatten, Dropout 0.5, Dense(10); softmax cross-entropy, batch 128, 15 epochs, pixels scaled to [0, 1]; \
      Adam from 5e-3 with a cosine decay to 0 over the run (the Keras example's constant Adam at 1e-3: \
      --learning-rate 1e-3 --lr-decay none). Reads the four IDX files from \(FashionMNIST.defaultDirectory) \
      (`\(FashionMNIST.installCommand)`) or --data DIR. Prints one line per epoch: loss, train accuracy \
      (running, during the epoch), test accuracy, seconds.
      """)

  @Option(help: "A directory with the four IDX files (train-images-idx3-ubyte[.gz] ...). Default: \(FashionMNIST.defaultDirectory).")
  var data: String?

  @Option(help: "The model: \(FashionModelKind.allCases.map(\.rawValue).joined(separator: ", ")) (cnn-bn: batch normalization after each convolution).")
  var model = FashionModelKind.cnn

  @Option(name: .customLong("learning-rate"), parsing: .unconditional, help: "Adam's learning rate (a positive number; the initial rate under --lr-decay cosine).")
  var learningRate = 5e-3

  @Option(
    name: .customLong("lr-decay"),
    help: "How the learning rate changes: cosine (from --learning-rate to 0 over all the steps of --epochs; resume with the same --epochs to continue it) or none (constant, the Keras example).")
  var lrDecay = FashionLearningRateDecay.cosine

  @Option(name: .customLong("batch-size"), parsing: .unconditional, help: "Images per training step.")
  var batchSize = 128

  @Option(parsing: .unconditional, help: "Passes over the training set (in total, counting a restored run's).")
  var epochs = 15

  @Option(parsing: .unconditional, help: "Seed for the initial weights, the dropout masks and the image order: an integer from 0 to 2^64 - 1.")
  var seed: UInt64 = 42

  @Option(name: .customLong("train-limit"), parsing: .unconditional, help: "Train on the first N training images only (quick runs).")
  var trainLimit: Int?

  @Option(name: .customLong("test-limit"), parsing: .unconditional, help: "Test on the first N test images only.")
  var testLimit: Int?

  @Option(help: "Save the model (architecture, weights and optimizer state) to this safetensors file.")
  var save: String?

  @Option(
    help: ArgumentHelp(
      "Resume from a file written by --save or a directory written by --save-model (trains the remaining epochs up to --epochs).",
      valueName: "file|dir"))
  var restore: String?

  @Option(
    name: .customLong("save-model"),
    help: ArgumentHelp(
      "Save the whole model (the training graph as a TensorFlow GraphDef, every variable and Adam slot, an inference branch from raw pixel values 0...255) to this directory, for `backprop predict --model DIR` and `--restore DIR`.",
      valueName: "dir"))
  var saveModel: String?

  @Flag(
    help: """
      Data-parallel training over MPI: start with `mpiexec -n N backprop fashion --distributed`. Each rank takes \
      --batch-size images of every global batch of N x --batch-size; gradients are averaged; dropout masks and \
      batch normalization statistics are each rank's own; only rank 0 prints and writes files. The learning rate \
      is used as given.
      """)
  var distributed = false

  @Flag(help: profileHelp) var profile = false

  @OptionGroup(title: "Outputs") var outputs: TrainingOutputOptions

  func validate() throws {
    try validateLearningRate(learningRate)
    if batchSize < 1 { throw ValidationError("--batch-size must be at least 1, got \(batchSize)") }
    if !(1...maximumEpochs).contains(epochs) { throw ValidationError("--epochs must be between 1 and \(maximumEpochs), got \(epochs)") }
    if let trainLimit, trainLimit < 1 { throw ValidationError("--train-limit must be at least 1, got \(trainLimit)") }
    if let testLimit, testLimit < 1 { throw ValidationError("--test-limit must be at least 1, got \(testLimit)") }
    // The files only rank 0 reads or writes (see `isLaterRank()`).
    if isLaterRank() { return }
    if let save { try validateOutputPath(save, flag: "--save") }
    if let restore { try validateModelInputPath(restore, flag: "--restore") }
    if let saveModel { try validateModelOutputPath(saveModel, flag: "--save-model") }
    try validateDistinctFiles(
      FileArgument.given(["--restore": restore, "--save": save, "--save-model": saveModel], inputs: ["--restore"]) + outputs.files)
  }

  func run() throws {
    try runRanks(distributed: distributed, command: "fashion", train: train(communicator:))
  }

  private func train(communicator: (any Communicator)?) throws {
    let rank = communicator?.rank ?? 0
    printDataParallelHeader(communicator, batchSize: batchSize, unit: "images")
    var c = FashionRecipe.Configuration()
    c.communicator = communicator
    c.dataDirectory = data
    c.model = model
    c.learningRate = learningRate
    c.learningRateDecay = lrDecay
    c.batchSize = batchSize
    c.epochs = epochs
    c.seed = seed
    c.trainLimit = trainLimit
    c.testLimit = testLimit
    c.restorePath = restore
    c.modelPath = saveModel
    c.profiles = profile
    let progress = ProgressDisplay(quiet: outputs.quiet || rank != 0)
    let tensorBoard = rank == 0 ? try outputs.openTensorBoard() : nil
    let report: FashionRecipe.Report
    do {
      report = try FashionRecipe(c).run(
        output: progress.print, onStep: progress.update, monitor: tensorBoard?.trainingMonitor() ?? DigitsMonitor())
    } catch {
      progress.finish()
      throw error
    }
    progress.finish()
    try tensorBoard?.close()
    guard rank == 0 else { return }  // only rank 0 speaks and writes
    let correct = Int((report.testAccuracy * Double(report.testCount)).rounded())
    print("\(model.rawValue): test accuracy \(correct)/\(report.testCount) = \(DigitsRecipe.percent(report.testAccuracy))")
    printProfile(report.profile)
    if let save {
      try report.model.save(toPath: save)
      print("saved the model to \(save)")
    }
    if let saveModel { print("saved the whole model to \(saveModel)") }
    if let logdir = outputs.logdir { print("wrote the TensorBoard log to \(logdir) (tensorboard --logdir \(logdir))") }
    try outputs.write(
      figure: report.figure(title: "Fashion-MNIST \(model.rawValue), Adam at \(formatCompact(learningRate))\(lrDecay == .cosine ? " (cosine decay)" : ""), batch \(batchSize), seed \(seed)"),
      log: report.epochLog(), losses: report.epochs.map(\.loss), smoothed: report.epochs.map(\.loss))
  }
}
