import ArgumentParser
import Backprop
import Recipes

/// The `backprop` command: runs the notebook's recipes and the benchmarks.
@main
struct BackpropCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "backprop",
    abstract: "TensorFlow-style graphs and backpropagation in Swift: run the recipes of the notebook \"Implementing Back Propagation\".",
    subcommands: [RegressionCommand.self, ClassificationCommand.self, GraphCommand.self, BenchCommand.self])
}

/// Options shared by the notebook's two recipes.
struct RecipeOptions: ParsableArguments {
  @Option(help: "Seed for the data, the initial value of A and the sample order (same seed, same output).")
  var seed: UInt64 = 42

  @Option(help: "Number of training steps.")
  var steps: Int?

  @Option(name: .customLong("learning-rate"), help: "Gradient-descent learning rate (a positive number).")
  var learningRate: Double?

  @Option(name: .customLong("print-every"), help: "Print A and the loss every N steps.")
  var printEvery: Int?

  @Flag(
    name: .customLong("check-numerics"),
    help: "Stop at the first operation that produces NaN or infinity, naming it and where it was built.")
  var checkNumerics = false

  func validate() throws {
    if let steps, steps < 1 { throw ValidationError("--steps must be at least 1, got \(steps)") }
    if let printEvery, printEvery < 1 { throw ValidationError("--print-every must be at least 1, got \(printEvery)") }
    if let learningRate, !(learningRate.isFinite && learningRate > 0) {
      throw ValidationError("--learning-rate must be a finite number > 0, got \(learningRate)")
    }
  }
}

extension RegressionLoss: ExpressibleByArgument {}

struct RegressionCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "regression",
    abstract: "Fit x * A = 10 with x ~ N(1, 0.1): L2 loss, gradient descent at 0.02, 100 steps.")

  @OptionGroup var options: RecipeOptions

  @Option(help: "The loss: l2 (squared error, as in the notebook) or l1 (absolute error).")
  var loss: RegressionLoss = .l2

  @OptionGroup(title: "Outputs") var outputs: TrainingOutputOptions

  func run() throws {
    var c = RegressionRecipe.Configuration()
    c.seed = options.seed
    c.loss = loss
    if let s = options.steps { c.steps = s }
    if let r = options.learningRate { c.learningRate = r }
    if let p = options.printEvery { c.printEvery = p }
    c.checkNumerics = options.checkNumerics
    let recipe = RegressionRecipe(c)
    let progress = ProgressDisplay(quiet: outputs.quiet)
    let report = try recipe.run(output: progress.print, onStep: progress.update)
    progress.finish()
    try outputs.finish(report: report, figure: recipe.figure(for: report))
  }
}

struct ClassificationCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "classification",
    abstract: "Learn A in sigmoid(x + A) between N(-1, 1) and N(3, 1): sigmoid cross-entropy, gradient descent at 0.05, 1400 steps.")

  @OptionGroup var options: RecipeOptions

  @OptionGroup(title: "Outputs") var outputs: TrainingOutputOptions

  func run() throws {
    var c = ClassificationRecipe.Configuration()
    c.seed = options.seed
    if let s = options.steps { c.steps = s }
    if let r = options.learningRate { c.learningRate = r }
    if let p = options.printEvery { c.printEvery = p }
    c.checkNumerics = options.checkNumerics
    let recipe = ClassificationRecipe(c)
    let progress = ProgressDisplay(quiet: outputs.quiet)
    let report = try recipe.run(output: progress.print, onStep: progress.update)
    progress.finish()
    try outputs.finish(report: report, figure: recipe.figure(for: report))
  }
}
