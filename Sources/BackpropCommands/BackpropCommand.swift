import ArgumentParser
import Foundation
import Backprop
import Recipes
import CBackpropKernels

/// The `backprop` command: runs the notebook's recipes and the benchmarks.
///
/// The executable `backprop` (target BackpropCLI) calls `BackpropCommand.main()`; the fuzz target
/// FuzzCLI calls `BackpropCommand.parseAsRoot(_:)`, which parses and validates without running.
public struct BackpropCommand: ParsableCommand {
  /// The command's name, abstract and subcommands.
  public static let configuration = CommandConfiguration(
    commandName: "backprop",
    abstract: "TensorFlow-style graphs and backpropagation in Swift: run the recipes of the notebook \"Implementing Back Propagation\".",
    subcommands: [
      RegressionCommand.self, ClassificationCommand.self, DigitsCommand.self, FashionCommand.self, PredictCommand.self, GraphCommand.self,
      ExportCommand.self,
      BenchCommand.self,
    ])

  /// Creates the root command (it has no options of its own).
  public init() {}

  /// Runs the tool (what the `backprop` executable calls): parses, validates and runs the
  /// command, like `ParsableCommand.main()`, with two differences. Every message printed for
  /// an error is made safe to print first (``SafeText``: no control characters or escape
  /// sequences, bounded length), and file-system errors from Foundation are described in words
  /// with their path. And standard output is flushed and checked at the end: a write error
  /// (`backprop predict ... > /dev/full`) is an error exit (status 1), not success.
  public static func main() {
    do {
      var command = try parseAsRoot()
      try command.run()
    } catch {
      exitPrinting(error)
    }
    let failure = bp_flush_stdout()
    if failure != 0 {
      let message = String(cString: strerror(failure))
      FileHandle.standardError.write(Data("Error: cannot write to standard output: \(message)\n".utf8))
      Foundation.exit(1)
    }
  }

  /// Prints `error` as `ParsableCommand.exit(withError:)` does (help and version on standard
  /// output with status 0, errors on standard error with their status), made safe to print,
  /// and exits.
  static func exitPrinting(_ error: Error) -> Never {
    let error = describingFileSystemErrors(error)
    let code = exitCode(for: error)
    let message = SafeText.printable(fullMessage(for: error), limit: 100_000, keepNewlines: true)
    if code == .success {
      if !message.isEmpty { print(message) }
      _ = bp_flush_stdout()
    } else {
      FileHandle.standardError.write(Data((message.hasSuffix("\n") ? message : message + "\n").utf8))
    }
    Foundation.exit(code.rawValue)
  }
}

/// `error`, or a ``CLIError`` describing it in words with its path when it is a Foundation file
/// error (an `NSCocoaErrorDomain` code and a raw dictionary are no message for a user).
func describingFileSystemErrors(_ error: Error) -> Error {
  guard let cocoa = error as? CocoaError else { return error }
  let path = cocoa.filePath ?? cocoa.url?.path ?? "a file"
  var reason: String
  switch cocoa.code {
  case .fileNoSuchFile, .fileReadNoSuchFile: reason = "no such file or directory"
  case .fileReadNoPermission, .fileWriteNoPermission: reason = "permission denied"
  case .fileWriteOutOfSpace: reason = "no space left on the device"
  case .fileWriteVolumeReadOnly: reason = "the file system is read-only"
  case .fileWriteFileExists: reason = "the file exists"
  case .fileReadTooLarge: reason = "the file is too large"
  case .fileReadCorruptFile, .fileReadUnknownStringEncoding, .fileReadInapplicableStringEncoding:
    reason = "the file's contents cannot be read as text"
  default: reason = "the file operation failed"
  }
  if let underlying = cocoa.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
    reason = String(cString: strerror(Int32(underlying.code)))
  }
  return CLIError("\(path): \(reason)")
}

/// Options shared by the notebook's two recipes.
struct RecipeOptions: ParsableArguments {
  @Option(parsing: .unconditional, help: "Seed for the data, the initial value of A and the sample order: an integer from 0 to 2^64 - 1 (the same seed gives the same output).")
  var seed: UInt64 = 42

  @Option(parsing: .unconditional, help: "Number of training steps.")
  var steps: Int?

  @Option(name: .customLong("learning-rate"), parsing: .unconditional, help: "Gradient-descent learning rate (a positive number).")
  var learningRate: Double?

  @Option(name: .customLong("print-every"), parsing: .unconditional, help: "Print A and the loss every N steps.")
  var printEvery: Int?

  @Option(
    name: .customLong("batch-size"),
    parsing: .unconditional, help: "Samples per training step, drawn with replacement (the notebook: 1; the same --batch-size is needed to resume with --restore).")
  var batchSize: Int?

  @Option(
    name: .customLong("save"),
    help: ArgumentHelp(
      "After the last step, save the variables (and optimizer slots) to a safetensors checkpoint.",
      valueName: "file.safetensors"))
  var savePath: String?

  @Option(
    name: .customLong("restore"),
    help: ArgumentHelp(
      "Restore a checkpoint written by --save (or a whole-model directory written by --save-model) and continue after its step, with the same samples as an uninterrupted run (same --seed); --steps is the total.",
      valueName: "file.safetensors|dir"))
  var restorePath: String?

  @Option(
    name: .customLong("save-model"),
    help: ArgumentHelp(
      "After the last step, save the whole model to this directory: the graph as a TensorFlow GraphDef (graph.pb) and every variable (variables.safetensors), for `backprop predict --model DIR` and `--restore DIR`.",
      valueName: "dir"))
  var modelPath: String?

  @Flag(
    name: .customLong("check-numerics"),
    help: "Stop at the first operation that produces NaN or infinity, naming it and where it was built.")
  var checkNumerics = false

  @Flag(
    help: "Train in eager style: no graph and no session, a gradient tape per step (the same kernels, gradients and update, so the same output).")
  var eager = false

  func validate() throws {
    if let savePath { try validateOutputPath(savePath, flag: "--save") }
    if let restorePath {
      guard FileManager.default.fileExists(atPath: restorePath) || isSymbolicLink(restorePath) else { throw ValidationError("--restore \(restorePath): no such file") }
      try validateModelInputPath(restorePath, flag: "--restore")
    }
    if let modelPath { try validateModelOutputPath(modelPath, flag: "--save-model") }
    if let steps, !(1...maximumSteps).contains(steps) {
      throw ValidationError(
        "--steps must be between 1 and \(maximumSteps) (each step's loss and parameters are kept for the plot and logs), got \(steps)")
    }
    if let printEvery, printEvery < 1 { throw ValidationError("--print-every must be at least 1, got \(printEvery)") }
    if let batchSize, !(1...1_000_000).contains(batchSize) {
      throw ValidationError("--batch-size must be between 1 and 1000000, got \(batchSize)")
    }
    if let learningRate { try validateLearningRate(learningRate) }
  }

  /// The checkpoint files named, for ``validateDistinctFiles(_:)``.
  var files: [FileArgument] {
    FileArgument.given(["--restore": restorePath, "--save": savePath, "--save-model": modelPath], inputs: ["--restore"])
  }

  /// Hooks that restore `--restore` before the first step and save `--save` after the last;
  /// the checkpoint's metadata records the recipe, the seed, the batch size and the step, and a
  /// resumed run must name the same seed and batch size (the samples of the steps done are
  /// skipped, so either would change which samples the remaining steps draw).
  func checkpointHooks(recipe: String, batchSize: Int) -> TrainingHooks {
    TrainingHooks(
      willStart: { session in
        try resumedStep(recipe: recipe, batchSize: batchSize) { file, source in
          try Checkpoint.restore(session: session, from: file, source: source)
        }
      },
      didFinish: { session, steps in
        guard let savePath else { return }
        try Checkpoint.save(session: session, to: savePath, metadata: checkpointMetadata(recipe: recipe, batchSize: batchSize, steps: steps))
      })
  }

  /// ``checkpointHooks(recipe:batchSize:)`` for an eager run (`--eager`): the same checks and
  /// metadata, on the eager graph of the model's variables, so a checkpoint of either run
  /// resumes the other.
  func eagerCheckpointHooks(recipe: String, batchSize: Int) -> EagerTrainingHooks {
    EagerTrainingHooks(
      willStart: { variables in
        try resumedStep(recipe: recipe, batchSize: batchSize) { file, source in
          try Checkpoint.restore(variablesOf: variables, from: file, source: source)
        }
      },
      didFinish: { variables, steps in
        guard let savePath else { return }
        try Checkpoint.save(variablesOf: variables, to: savePath, metadata: checkpointMetadata(recipe: recipe, batchSize: batchSize, steps: steps))
      })
  }

  /// The metadata of a checkpoint written after `steps` steps.
  private func checkpointMetadata(recipe: String, batchSize: Int, steps: Int) -> [String: String] {
    ["recipe": recipe, "seed": String(seed), "batch-size": String(batchSize), "step": String(steps), "writer": "backprop"]
  }

  /// The steps `--restore`'s checkpoint had done (0 without one), once its recipe, seed and
  /// batch size are checked against this run's and `restore` has set the variables from it.
  /// The metadata is checked before the variables, so another recipe's checkpoint is named as
  /// such, not listed as missing and unexpected variables.
  private func resumedStep(recipe: String, batchSize: Int, restore: (SafetensorsFile, String) throws -> Void) throws -> Int {
    guard let restorePath else { return 0 }
    let source = Session.isModelDirectory(restorePath) ? restorePath + "/" + Session.ModelFiles.variables : restorePath
    let file = try SafetensorsFile(contentsOfFile: source)
    let metadata = file.metadata
    if let saved = metadata["recipe"], saved != recipe {
      throw CLIError("\(restorePath) is a checkpoint of the \(saved) recipe, not of \(recipe)")
    }
    // A file that names no recipe (another tool's, a model written by `digits --save`) is
    // described by its variables first.
    let restoredFirst = metadata["recipe"] == nil
    if restoredFirst { try restore(file, source) }
    // (Checkpoints written before the batch size was recorded are not checked for it.)
    let samples = "to get the same samples"
    if let mismatch = resumedSettingMismatch(
      of: restorePath,
      [
        ResumedSetting(flag: "--seed", saved: metadata["seed"], current: String(seed), reason: samples),
        ResumedSetting(flag: "--batch-size", saved: metadata["batch-size"], current: String(batchSize), reason: samples),
      ])
    {
      throw CLIError(mismatch)
    }
    guard let text = metadata["step"], let step = Int(text), step >= 0 else {
      throw CLIError("\(restorePath) does not record its step (metadata 'step'); it was not written by --save or --save-model")
    }
    if !restoredFirst { try restore(file, source) }
    return step
  }
}

/// The most `--steps` a notebook recipe takes: 10,000,000 (the run's history, kept in memory for
/// the plot and logs, is then about a gigabyte); `Int.max` would run until memory ran out.
let maximumSteps = 10_000_000

/// The most `--epochs` of `digits` and `fashion`: 100,000 (a request of `Int.max` epochs is a
/// typo, not a run to wait for).
let maximumEpochs = 100_000

/// The `--loss` choices of `backprop regression`.
enum RegressionLossOption: String, ExpressibleByArgument, CaseIterable {
  /// Squared error, as in the notebook.
  case l2
  /// Absolute error.
  case l1

  /// The recipe's loss.
  var loss: RecipeLoss {
    switch self {
    case .l2: .l2
    case .l1: .l1
    }
  }
}

extension RecipeOptions {
  /// The one place where the command line becomes a recipe's configuration: the recipe's
  /// notebook settings, with each option given replacing its setting.
  func configuration(from base: NotebookRecipe.Configuration) -> NotebookRecipe.Configuration {
    var c = base
    c.seed = seed
    if let steps { c.steps = steps }
    if let learningRate { c.learningRate = learningRate }
    if let printEvery { c.printEvery = printEvery }
    if let batchSize { c.batchSize = batchSize }
    c.checkNumerics = checkNumerics
    c.modelPath = modelPath
    return c
  }

  /// Runs `recipe` with these options' checkpoint hooks and `outputs`' files and progress.
  ///
  /// A run whose loss becomes NaN or infinite (a learning rate too large for the problem) is an
  /// error (exit status 1) naming the step, as `backprop digits` does: nothing is saved
  /// (`--save`, `--save-model`), and the plot and logs hold the steps done.
  func run(_ recipe: NotebookRecipe, outputs: TrainingOutputOptions) throws {
    let c = recipe.configuration
    let watch = DivergenceWatch()
    if eager {
      let tensorBoard = try outputs.openTensorBoard()
      var hooks = eagerCheckpointHooks(recipe: recipe.name, batchSize: c.batchSize)
      if let tensorBoard { hooks = tensorBoard.wrapping(hooks, graph: try recipe.makeModel().graph, totalSteps: c.steps, epochLength: 100) }
      hooks.didFinish = watch.checking(before: hooks.didFinish, learningRate: c.learningRate)
      try outputs.train(figure: recipe.figure(for:), tensorBoard: tensorBoard, learningRate: c.learningRate) { output, onStep in
        try recipe.runEagerly(output: output, onStep: { watch.see($0); onStep($0) }, hooks: hooks)
      }
      return
    }
    let tensorBoard = try outputs.openTensorBoard()
    var hooks = checkpointHooks(recipe: recipe.name, batchSize: c.batchSize)
    if let tensorBoard { hooks = tensorBoard.wrapping(hooks, totalSteps: c.steps, epochLength: 100) }
    hooks.didFinish = watch.checking(before: hooks.didFinish, learningRate: c.learningRate)
    try outputs.train(figure: recipe.figure(for:), tensorBoard: tensorBoard, learningRate: c.learningRate) { output, onStep in
      try recipe.run(output: output, onStep: { watch.see($0); onStep($0) }, hooks: hooks)
    }
  }
}

struct RegressionCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "regression",
    abstract: "Fit x * A = 10 with x ~ N(1, 0.1): L2 loss, gradient descent at 0.02, 100 steps.")

  @OptionGroup var options: RecipeOptions

  @Option(help: "The loss: l2 (squared error, as in the notebook) or l1 (absolute error).")
  var loss: RegressionLossOption = .l2

  @OptionGroup(title: "Outputs") var outputs: TrainingOutputOptions

  func validate() throws { try validateDistinctFiles(options.files + outputs.files) }

  func run() throws {
    var c = options.configuration(from: .regression)
    c.loss = loss.loss
    try options.run(.regression(c), outputs: outputs)
  }
}

struct ClassificationCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "classification",
    abstract: "Learn A in sigmoid(x + A) between N(-1, 1) and N(3, 1): sigmoid cross-entropy, gradient descent at 0.05, 1400 steps.")

  @OptionGroup var options: RecipeOptions

  @OptionGroup(title: "Outputs") var outputs: TrainingOutputOptions

  func validate() throws { try validateDistinctFiles(options.files + outputs.files) }

  func run() throws {
    try options.run(.classification(options.configuration(from: .classification)), outputs: outputs)
  }
}

/// Checks a `--learning-rate`: a finite number > 0 that stays finite and nonzero in the dtype
/// the recipe trains in (float32 unless `--dtype float64`: `1e-50` would round to 0 and `1e39`
/// overflow in float32).
func validateLearningRate(_ learningRate: Double, dtype: DType = .float32) throws {
  guard learningRate.isFinite, learningRate > 0 else {
    throw ValidationError("--learning-rate must be a finite number > 0, got \(learningRate)")
  }
  do {
    try checkLearningRate(learningRate, dtype: dtype)
  } catch {
    throw ValidationError("--\(error)".replacingOccurrences(of: "--learning rate", with: "--learning-rate"))
  }
}

/// Remembers the first training step whose loss or parameters are NaN or infinite.
final class DivergenceWatch {
  private(set) var first: (step: Int, value: Double)?

  /// Records `step` when it is the first non-finite one.
  func see(_ step: TrainingStep) {
    guard first == nil else { return }
    if !step.loss.isFinite {
      first = (step.step, step.loss)
    } else if let p = step.parameters.first(where: { !$0.value.isFinite }) {
      first = (step.step, p.value)
    }
  }

  /// Throws when a non-finite step was seen.
  func check(learningRate: Double) throws {
    guard let first else { return }
    throw CLIError(
      "the training diverged: the loss or a parameter became \(first.value) at step \(first.step) (learning rate \(learningRate)); try a smaller --learning-rate. Nothing was saved.")
  }

  /// `save` (a run's end: a session's or an eager run's variables, and the steps), preceded by
  /// ``check(learningRate:)``, so that nothing is saved from a diverged run.
  func checking<State>(before save: @escaping (State, Int) throws -> Void, learningRate: Double) -> (State, Int) throws -> Void {
    { state, steps in
      try self.check(learningRate: learningRate)
      try save(state, steps)
    }
  }
}
