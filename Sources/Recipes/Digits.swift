import ArrayCore
import Datasets
import GraphCore
import Plotting
import Training

#if canImport(Glibc)
  import Glibc
#endif

/// The optimizers the digits recipe can train with.
public enum DigitsOptimizer: String, Sendable, CaseIterable {
  /// Plain gradient descent, ``GradientDescentOptimizer``.
  case sgd
  /// Momentum 0.9, ``MomentumOptimizer``.
  case momentum
  /// ``AdamOptimizer`` with TF1's defaults (the recipe's default).
  case adam
  /// ``RMSPropOptimizer`` (decay 0.9).
  case rmsprop
  /// ``AdagradOptimizer``.
  case adagrad
  /// ``AdamWOptimizer`` (weight decay 0.01).
  case adamw

  /// The learning rate the command line uses when none is given: the frameworks' defaults,
  /// 0.01 for gradient descent and momentum (Keras's `SGD`, with or without `momentum=0.9`) and
  /// for Adagrad (PyTorch's `Adagrad`), 0.001 for Adam, RMSProp and AdamW (TensorFlow's,
  /// Keras's and PyTorch's). Adam's rate given to plain gradient descent barely moves the
  /// digits network (6% test accuracy after an epoch, 95% at 0.01).
  public var defaultLearningRate: Double {
    switch self {
    case .sgd, .momentum, .adagrad: 0.01
    case .adam, .rmsprop, .adamw: 0.001
    }
  }

  /// The optimizer object for a learning rate.
  /// - Throws: ``GraphError`` for an invalid learning rate.
  public func make(learningRate: Double) throws -> any Optimizer {
    switch self {
    case .sgd: try GradientDescentOptimizer(learningRate: learningRate)
    case .momentum: try MomentumOptimizer(learningRate: .constant(learningRate), momentum: 0.9)
    case .adam: try AdamOptimizer(learningRate: .constant(learningRate))
    case .rmsprop: try RMSPropOptimizer(learningRate: .constant(learningRate))
    case .adagrad: try AdagradOptimizer(learningRate: .constant(learningRate))
    case .adamw: try AdamWOptimizer(learningRate: .constant(learningRate))
    }
  }
}

/// The figures of one training epoch of the digits recipe.
public struct DigitsEpoch: Sendable {
  /// The epoch number, from 1.
  public var epoch: Int
  /// The mean training loss over the epoch's samples (each batch's mean loss weighted by its size),
  /// computed during the epoch, before each batch's update.
  public var loss: Double
  /// The accuracy on the whole training set after the epoch.
  public var trainAccuracy: Double
  /// The accuracy on the test set after the epoch.
  public var testAccuracy: Double
  /// The wall-clock time of the epoch's training steps, in seconds (evaluation excluded).
  public var seconds: Double
}

extension DigitsEpoch {
  /// `epoch  3/20  loss 0.2143  train 0.9527  test 0.9499  ` and `time`: the epoch's line of
  /// `total`, the epoch number right-aligned.
  func formatted(of total: Int, time: String) -> String {
    let width = String(total).count
    let n = String(repeating: " ", count: width - String(epoch).count) + String(epoch)
    return "epoch \(n)/\(total)  loss \(formatFixed(loss, decimals: 4))  train \(formatFixed(trainAccuracy, decimals: 4))  test \(formatFixed(testAccuracy, decimals: 4))  \(time)"
  }

  /// The mean training loss of epoch `epoch` (from 1), the sum `lossSum` over `samples` samples,
  /// and the seconds of `clock` since `start`.
  /// - Throws: ``RecipeError`` when the mean loss is not finite.
  static func trainingFigures(
    lossSum: Double, samples: Int, epoch: Int, clock: ContinuousClock, since start: ContinuousClock.Instant
  ) throws -> (loss: Double, seconds: Double) {
    let elapsed = clock.now - start
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
    let loss = lossSum / Double(samples)
    guard loss.isFinite else {
      throw RecipeError("the training loss became \(loss) in epoch \(epoch); try a smaller learning rate")
    }
    return (loss, seconds)
  }
}

/// The handwritten-digits recipe: a multilayer perceptron trained on the UCI digits (8x8 images,
/// 10 classes; see Data/README.md) with softmax cross-entropy.
///
/// Defaults: standardized inputs (statistics of the training set), a seeded 80/20 split fixed by
/// ``Configuration/splitSeed``, a 64-128-10 network with ReLU (Glorot-uniform kernels, zero
/// biases, as Keras), Adam at 1e-3, batches of 32 in a new seeded order each epoch (the last
/// smaller batch kept), 20 epochs.
public struct DigitsRecipe: Sendable {
  /// Settings of a run.
  public struct Configuration: Sendable {
    /// The digits CSV (64 pixels then the class per row); `nil` looks for the repository's copy
    /// (see ``DigitsRecipe/dataCandidates``).
    public var dataPath: String?
    /// The hidden layer sizes (64-128-10 is `[128]`).
    public var hiddenSizes = [128]
    /// The optimizer.
    public var optimizer = DigitsOptimizer.adam
    /// The learning rate.
    public var learningRate = 1e-3
    /// The batch size.
    public var batchSize = 32
    /// The number of epochs.
    public var epochs = 20
    /// Seeds the initial weights and the order of the samples in each epoch.
    public var seed: UInt64 = 42
    /// Seeds the train/test split (kept fixed when `seed` changes, so runs share a test set).
    public var splitSeed: UInt64 = 2026
    /// The fraction of the rows held out for testing.
    public var testFraction = 0.2
    /// Whether to standardize the inputs.
    public var standardize = true
    /// Use only the first this many rows of the file (for quick tests); `nil` uses all.
    public var rowLimit: Int?
    /// The dtype of the network's inputs, weights and computations (float32; float64 for
    /// checks that need more digits). The saved model is always float32.
    public var dtype: DType = .float32
    /// Data-parallel training over these ranks (`nil`: one process, the plain recipe). Each
    /// rank takes its shard of every global batch of `batchSize × ranks` samples (so
    /// ``batchSize`` is per rank, Horovod's convention), the gradients are averaged by a
    /// ``DistributedOptimizer``, and rank 0's initial (or restored) variables are broadcast. The
    /// learning rate is used as given (see ``DistributedOptimizer`` for the linear-scaling
    /// convention). Only rank 0 writes lines and checkpoints.
    public var communicator: (any Communicator)?
    /// Time every operation the training session runs (``GraphCore/Session/Options/profiles``)
    /// and return the table in ``Report/profile``.
    public var profiles = false
    /// Save a checkpoint (every variable, optimizer slots included, and the epoch reached) to
    /// this safetensors file after every epoch (rank 0 only), atomically.
    public var checkpointPath: String?
    /// Resume from a checkpoint written by ``checkpointPath``, or from a whole-model
    /// directory written by ``modelPath`` (read with `Session.loadModel(from:)`): training
    /// continues after its epoch, with the same sample order as an uninterrupted run (same
    /// seed), on any number of ranks (the global batch `batchSize × ranks` decides the samples
    /// of each step).
    public var restorePath: String?
    /// After training, save the whole model to this directory (`Session.saveModel(to:)`, rank
    /// 0 only): the training graph as a TensorFlow GraphDef with every variable and optimizer
    /// slot, plus an inference branch from raw pixels (`pixels_raw`, standardized in the graph)
    /// to `logits`, named in the metadata (`input`, `output`) so `backprop predict --model DIR`
    /// runs it; `restorePath` continues training from it.
    public var modelPath: String?
    /// Creates the default settings.
    public init() {}

    /// The network's layer sizes: the pixels, ``hiddenSizes``, the classes.
    var layerSizes: [Int] { [DigitsModel.inputSize] + hiddenSizes + [DigitsModel.classCount] }

    /// The settings every rank of a data-parallel run must share (the optimizer, the sample
    /// order and the data), as `name=value` lines for `Communicator.verifySameSettings(_:)`;
    /// not the layer sizes and dtype (the graph check names those), nor paths written or read
    /// by rank 0 only.
    var rankSettings: [(name: String, value: String)] {
      [
        ("optimizer", optimizer.rawValue), ("learningRate", String(learningRate)), ("batchSize", String(batchSize)),
        ("epochs", String(epochs)), ("seed", String(seed)), ("splitSeed", String(splitSeed)),
        ("testFraction", String(testFraction)), ("standardize", String(standardize)),
        ("rowLimit", rowLimit.map(String.init) ?? "none"),
      ]
    }

    /// Checks every setting.
    /// - Throws: ``RecipeError`` naming the setting and its value.
    public func validate() throws {
      guard !hiddenSizes.isEmpty, hiddenSizes.allSatisfy({ $0 >= 1 }) else {
        throw RecipeError("hidden layer sizes must be positive integers, got \(hiddenSizes)")
      }
      guard batchSize >= 1 else { throw RecipeError("batch size must be at least 1, got \(batchSize)") }
      guard epochs >= 1 else { throw RecipeError("epochs must be at least 1, got \(epochs)") }
      try checkLearningRate(learningRate, dtype: dtype)
      guard testFraction > 0, testFraction < 1 else { throw RecipeError("test fraction must be in (0, 1), got \(testFraction)") }
      if let rowLimit, rowLimit < 10 { throw RecipeError("row limit must be at least 10, got \(rowLimit)") }
      guard dtype.isFloatingPoint else { throw RecipeError("dtype must be float32 or float64, got \(dtype)") }
      try DigitsRecipe.checkMemory(hiddenSizes: hiddenSizes, batchSize: batchSize)
    }
  }

  /// What a run produced.
  public struct Report: Sendable {
    /// One entry per epoch.
    public var epochs: [DigitsEpoch] = []
    /// The trained network, with its standardizer, ready to save or predict.
    public var model: DigitsModel
    /// The number of training and test rows.
    public var trainCount = 0, testCount = 0
    /// The test accuracy after the last epoch (when no epoch ran, a restored model having trained
    /// ``Configuration/epochs`` already, the restored model's).
    public var testAccuracy: Double { epochs.last?.testAccuracy ?? restoredTestAccuracy }
    /// The restored model's test accuracy when the run trained no epoch.
    var restoredTestAccuracy = Double.nan
    /// With ``Configuration/profiles``: the time each operation took over the run's training
    /// steps and evaluations (``GraphCore/Session/Options/profiles``); `nil` otherwise.
    public var profile: RunProfile?
  }

  /// The settings.
  public var configuration: Configuration
  /// Creates the recipe.
  public init(_ configuration: Configuration = Configuration()) { self.configuration = configuration }

  /// Checks, before anything is allocated, that a network of `hiddenSizes` trained in batches of
  /// `batchSize` fits the allocation limit: its float32 parameters four times over (weights,
  /// gradients, two optimizer slots) and a batch's activations and their gradients (the whole
  /// training set is evaluated at once: 1797 rows at most are taken for the batch here).
  /// - Throws: ``RecipeError`` naming the sizes, the bytes needed and the limit
  ///   (``SizeLimits/maximumAllocationBytes``); also when a size product overflows.
  public static func checkMemory(hiddenSizes: [Int], batchSize: Int) throws {
    let sizes = [DigitsModel.inputSize] + hiddenSizes + [DigitsModel.classCount]
    let what = "a \(sizes.map(String.init).joined(separator: "-")) network"
    do {
      var parameters = 0
      for i in 1..<sizes.count {
        let layer = try SizeLimits.checkedSum(
          [SizeLimits.checkedProduct([sizes[i - 1], sizes[i]], what: what), sizes[i]], what: what)
        parameters = try SizeLimits.checkedSum([parameters, layer], what: what)
      }
      let units = try SizeLimits.checkedSum(sizes, what: what)
      let rows = Swift.max(Swift.min(batchSize, 1797), 1)
      let activations = try SizeLimits.checkedProduct([units, rows, 2], what: what)
      let elements = try SizeLimits.checkedSum([SizeLimits.checkedProduct([parameters, 4], what: what), activations], what: what)
      try SizeLimits.checkAllocation(elements: elements, bytesPerElement: 4, what: what)
    } catch {
      throw RecipeError(error.description)
    }
  }

  /// The places the repository's `Data/digits.csv` is looked for: the current directory, then the
  /// source checkout this library was built from.
  public static var dataCandidates: [String] {
    let here = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
    let root = here.dropLast(3).joined(separator: "/")  // .../Sources/Recipes/Digits.swift
    return ["Data/digits.csv", root + "/Data/digits.csv"]
  }

  /// Loads the digits table from `path`, or from the first of ``dataCandidates`` that exists.
  /// - Throws: ``DatasetError`` for a bad file, ``RecipeError`` when no candidate exists.
  public static func loadTable(path: String?) throws -> NumericTable {
    if let path { return try NumericTable(contentsOfFile: path) }
    for candidate in dataCandidates {
      do {
        return try NumericTable(contentsOfFile: candidate)
      } catch .unreadableFile {
        continue
      }
    }
    throw RecipeError("cannot find digits.csv (looked at \(dataCandidates.joined(separator: ", "))); pass --data PATH")
  }

  /// Trains the network, writing one line per epoch to `output`:
  /// `epoch  3/20  loss 0.2143  train 0.9527  test 0.9499  7.31 ms`.
  /// - Throws: ``RecipeError`` for invalid settings or data, ``DatasetError`` for a bad file,
  ///   ``GraphError``/``SessionError`` from the graph.
  public func run(output: (String) -> Void = { print($0) }) throws -> Report {
    try run(output: output, monitor: DigitsMonitor())
  }

  /// Trains the network as ``run(output:)``, reporting each step and epoch to `monitor`
  /// (TensorBoard logs: `backprop digits --logdir`).
  public func run(output: (String) -> Void = { print($0) }, monitor: DigitsMonitor) throws -> Report {
    let c = configuration
    try c.validate()
    let table = try Self.loadTable(path: c.dataPath)
    guard table.columnCount == DigitsModel.inputSize + 1 else {
      throw RecipeError(
        "\(table.source): expected \(DigitsModel.inputSize + 1) columns (64 pixels and the class), found \(table.columnCount)")
    }
    var data = try table.dataset()
    if let limit = c.rowLimit, limit < data.count { data = try data.rows(Array(0..<limit)) }
    if let bad = data.labels.scalars(as: Int32.self).firstIndex(where: { $0 >= Int32(DigitsModel.classCount) }) {
      throw RecipeError("\(table.source), line \(table.lineNumbers[bad]): class label must be 0...9")
    }
    let (rawTrain, rawTest) = try data.split(testFraction: c.testFraction, seed: c.splitSeed)
    guard rawTrain.count > 0, rawTest.count > 0 else {
      throw RecipeError(
        "\(table.source): \(data.count) rows give \(rawTrain.count) training and \(rawTest.count) test rows at test fraction \(c.testFraction); both sets need at least one row (give at least \(Int((1 / Swift.min(c.testFraction, 1 - c.testFraction)).rounded(.up)) + 1) rows)")
    }
    let standardizer =
      c.standardize
      ? try Standardizer(fitting: rawTrain.features)
      : try Standardizer(
        mean: [Double](repeating: 0, count: DigitsModel.inputSize),
        standardDeviation: [Double](repeating: 1, count: DigitsModel.inputSize))
    let train = try standardizer.transform(rawTrain)
    let test = try standardizer.transform(rawTest)

    let communicator = c.communicator ?? SingleProcessCommunicator()
    let rank = communicator.rank, ranks = communicator.size
    let distributed = c.communicator != nil
    // Ranks given different options would train on overlapping shards or apply different
    // updates without any error: they must agree before the first collective of training.
    if distributed {
      try communicator.verifySameSettings(
        c.rankSettings + [
          ("training rows", String(train.count)), ("test rows", String(test.count)),
          // The rows themselves (before standardizing, which is floating-point arithmetic):
          // files that differ only in their contents would train each rank on other data.
          ("training data", dataDigest(rawTrain)), ("test data", dataDigest(rawTest)),
        ])
    }
    let training = try Self.buildTraining(c, communicator: distributed ? communicator : nil)
    let (net, labels, loss, shardWeight, trainOp) = (training.net, training.labels, training.loss, training.shardWeight, training.train)
    let session = Session(graph: net.graph, options: Session.Options(profiles: c.profiles))
    try session.initializeVariables()
    var startEpoch = 0
    if let restorePath = c.restorePath, rank == 0 {
      // A model file written by --save holds the weights only (no optimizer state, no epoch):
      // said as such, rather than as the optimizer's missing slots.
      // The file is read once, for this check and for the restore (a file or a model directory's).
      let filePath = Session.isModelDirectory(restorePath) ? restorePath + "/" + Session.ModelFiles.variables : restorePath
      let file = try SafetensorsFile(contentsOfFile: filePath)
      if file.metadata["format"] == DigitsModel.formatName {
        throw RecipeError(
          "\(restorePath) is a digits model written by --save (weights only, for predict); resume from a checkpoint written by --checkpoint, or a model directory written by --save-model")
      }
      // The recipe is checked before the variables, so another recipe's checkpoint is named as
      // such, not listed as missing and unexpected variables.
      guard file.metadata["recipe"] == "digits", let done = file.metadata["epoch"].flatMap({ Int($0) }) else {
        throw RecipeError(
          "\(restorePath) is not a checkpoint of the digits recipe (metadata recipe=digits and epoch)"
            + (file.metadata["recipe"].map { ": it is one of the \(SafeText.excerpt($0)) recipe" } ?? ""))
      }
      // So are the settings the variables depend on (another dtype or optimizer would be listed
      // as mismatched and unexpected variables), and the seed.
      if let mismatch = resumedSettingMismatch(of: restorePath, Self.resumedSettings(c, savedAs: file.metadata)) {
        throw RecipeError(mismatch)
      }
      try Checkpoint.restore(session: session, from: file, source: filePath)
      startEpoch = done
    }
    if distributed {
      try session.broadcastVariables(from: 0, over: communicator)
      let epochs = try communicator.broadcast([NDArray([Int32(startEpoch)], shape: [1])], root: 0)
      startEpoch = Int(epochs[0].scalars(as: Int32.self)[0])
    }
    let feeds = [net.input, labels] + (shardWeight.map { [$0] } ?? [])
    let step = try session.prepare(fetches: [loss], feeds: feeds, targets: [trainOp])
    session.resetProfile()  // (the initializers' and a restore's operations are not the training's)

    var report = Report(model: try net.model(session, standardizer: standardizer))
    report.trainCount = train.count
    report.testCount = test.count
    let globalBatch = Batches.globalSize(perRank: c.batchSize, ranks: ranks)
    if startEpoch >= c.epochs {
      // A model that trained --epochs already (Keras's fit with initial_epoch >= epochs): no
      // step, its test accuracy, and the files asked for.
      report.restoredTestAccuracy = try net.accuracy(session, test, dtype: c.dtype)
      if rank == 0 {
        output(
          "the restored model has trained \(startEpoch) epoch\(startEpoch == 1 ? "" : "s") already (--epochs \(c.epochs)): test \(formatFixed(report.testAccuracy, decimals: 4))")
      }
    }
    let clock = ContinuousClock()
    // The monitor counts the run's global steps (a resumed run's first step is the one after the
    // restored epochs' steps at this run's batch size), so TensorBoard's curves continue.
    let (before, beforeOverflow) = startEpoch.multipliedReportingOverflow(by: Batches.count(samples: train.count, size: globalBatch))
    var stepCount = beforeOverflow ? 0 : before
    var lastBatch: (NDArray, NDArray)?
    if rank == 0 { try monitor.willStart(net.graph, .constant(c.learningRate)) }
    for epoch in startEpoch..<Swift.max(startEpoch, c.epochs) {
      var lossSum = 0.0
      let start = clock.now
      let batches = try train.epoch(epoch, batchSize: globalBatch, seed: c.seed &+ 1)
      for i in batches.indices {
        let part = batches.weightedShard(i, rank: rank, of: ranks)  // the whole batch on one process
        let (x, y) = part.batch, samples = part.samples
        if shardWeight != nil { try step.setFeed(2, to: NDArray(repeating: part.weight, shape: [], dtype: c.dtype)) }
        try step.setFeed(0, to: x.converted(to: c.dtype))
        try step.setFeed(1, to: y)
        try step.run()
        if samples > 0 { lossSum += step.fetch(0).scalarValue * Double(samples) }
        stepCount += 1
        lastBatch = (x.converted(to: c.dtype), y)
        if rank == 0 { try monitor.didStep(stepCount, step.fetch(0).scalarValue) }
      }
      if distributed {
        lossSum = try communicator.allReduce([NDArray([lossSum], shape: [])], .sum)[0].scalarValue
      }
      let (epochLoss, seconds) = try DigitsEpoch.trainingFigures(
        lossSum: lossSum, samples: train.count, epoch: epoch + 1, clock: clock, since: start)
      // The accuracies also refuse non-finite logits: the loss is summed before each step's
      // update, so an overflow in the epoch's last update shows only there.
      let result = DigitsEpoch(
        epoch: epoch + 1, loss: epochLoss,
        trainAccuracy: try net.accuracy(session, train, dtype: c.dtype),
        testAccuracy: try net.accuracy(session, test, dtype: c.dtype), seconds: seconds)
      report.epochs.append(result)
      if rank == 0 {
        output(Self.format(result, of: c.epochs))
        if let path = c.checkpointPath {
          try Checkpoint.save(session: session, to: path, metadata: Self.checkpointMetadata(c, epoch: epoch + 1))
        }
        if let (x, y) = lastBatch {
          try monitor.didFinishEpoch(
            result, DigitsMonitor.State(session: session, loss: loss, feeds: [net.input: x, labels: y], step: stepCount))
        }
      }
    }
    report.model = try net.model(session, standardizer: standardizer)
    if c.profiles { report.profile = session.profile }
    if let path = c.modelPath, rank == 0 {
      let (t, savedSession) = try training.forSaving(session: session, distributed: distributed) {
        try Self.buildTraining(c, communicator: nil)
      }
      try saveWholeModel(
        t.net, session: savedSession, standardizer: standardizer, to: path,
        metadata: Self.checkpointMetadata(c, epoch: Swift.max(startEpoch, c.epochs)).merging(
          ["features": t.net.input.name, "labels": t.labels.name, "loss": t.loss.name, "train": t.train.name]) { $1 })
    }
    return report
  }

  /// What a checkpoint (`--checkpoint`) and a model directory (`--save-model`) record of a run
  /// after `epoch` epochs: the recipe, the epoch, and the settings a resumed run must share.
  static func checkpointMetadata(_ c: Configuration, epoch: Int) -> [String: String] {
    [
      "recipe": "digits", "epoch": String(epoch), "seed": String(c.seed),
      "layers": c.layerSizes.map(String.init).joined(separator: ","),
      "dtype": "\(c.dtype)", "optimizer": c.optimizer.rawValue,
    ]
  }

  /// The settings of `c` that a checkpoint with `metadata` must have been written with, by flag.
  static func resumedSettings(_ c: Configuration, savedAs metadata: [String: String]) -> [ResumedSetting] {
    // `layers` is `64,128,10`: `--hidden` is what lies between the input and the classes.
    let hidden = metadata["layers"].map { $0.split(separator: ",").dropFirst().dropLast().joined(separator: ",") }
    return [
      ResumedSetting(flag: "--dtype", saved: metadata["dtype"], current: "\(c.dtype)", reason: "(its variables are of that dtype)"),
      ResumedSetting(
        flag: "--optimizer", saved: metadata["optimizer"], current: c.optimizer.rawValue,
        reason: "(it holds that optimizer's state)"),
      ResumedSetting(
        flag: "--hidden", saved: hidden, current: c.hiddenSizes.map(String.init).joined(separator: ","),
        reason: "(its layers have those sizes)"),
      ResumedSetting(flag: "--seed", saved: metadata["seed"], current: String(c.seed), reason: "to get the same samples"),
    ]
  }

  /// Builds the network, the labels, the loss and the optimizer's step for `c`; with a
  /// `communicator` (data-parallel), each rank's mean loss is weighted by a fed `shard_weight`
  /// N·b_r/m (b_r of the m samples of the global batch), so that the gradients the
  /// ``DistributedOptimizer`` averages over the ranks are the global batch's mean gradient even
  /// when the last batch splits unevenly (the weight is exactly 1 for full batches).
  static func buildTraining(_ c: Configuration, communicator: (any Communicator)?) throws -> TrainingParts<DigitsNetwork> {
    let net = try DigitsNetwork(layerSizes: c.layerSizes, seed: c.seed, dtype: c.dtype)
    let labels = net.graph.placeholder(.int32, shape: [nil], name: "labels")
    let loss = try sparseSoftmaxCrossEntropy(logits: net.logits, labels: labels)
    let shardWeight = communicator != nil ? net.graph.placeholder(c.dtype, shape: [], name: "shard_weight") : nil
    var optimizer = try c.optimizer.make(learningRate: c.learningRate)
    if let communicator { optimizer = DistributedOptimizer(optimizer, communicator: communicator) }
    let train = try optimizer.minimize(shardWeight.map { try loss * $0 } ?? loss)
    return TrainingParts(
      net: net, labels: labels, loss: loss, shardWeight: shardWeight, train: train, stepCounter: optimizer.stepCounter(in: net.graph))
  }

  /// Adds the inference branch (`pixels_raw` → standardization → the layers → `logits`) and
  /// saves the whole model.
  func saveWholeModel(
    _ net: DigitsNetwork, session: Session, standardizer: Standardizer, to path: String, metadata: [String: String]
  ) throws {
    let g = net.graph
    let n = DigitsModel.inputSize
    let raw = g.placeholder(.float32, shape: [nil, n], name: "pixels_raw")
    let mean = g.constant(NDArray(converting: standardizer.mean, shape: [n], dtype: .float32), name: "standardizer/mean")
    let std = g.constant(NDArray(converting: standardizer.standardDeviation, shape: [n], dtype: .float32), name: "standardizer/std")
    var h = try divide(subtract(raw, mean, name: "centered"), std, name: "standardized")
    if net.input.dtype != .float32 { h = try cast(h, to: net.input.dtype) }
    for layer in net.layers { h = try layer(h) }
    h = try identity(h, name: "logits")
    var all = metadata
    all["input"] = raw.name
    all["output"] = h.name
    all["format"] = "backprop-model"
    try session.saveModel(to: path, metadata: all)
  }

  /// `epoch  3/20  loss 0.2143  train 0.9527  test 0.9499  7.31 ms`.
  public static func format(_ e: DigitsEpoch, of total: Int) -> String {
    e.formatted(of: total, time: "\(formatFixed(e.seconds * 1000, decimals: 2)) ms")
  }
}

extension DigitsRecipe {
  /// An accuracy as a percentage with two decimals: `97.21%`.
  public static func percent(_ accuracy: Double) -> String { formatFixed(accuracy * 100, decimals: 2) + "%" }
}

/// Checks that a learning rate is a finite number > 0 that stays a normal number in the dtype
/// the model trains in (in float32, `1e-50` rounds to 0 and `1e39` overflows to infinity: a
/// training run with either computes garbage).
/// - Throws: ``RecipeError`` naming the value and the dtype.
public func checkLearningRate(_ learningRate: Double, dtype: DType = .float32) throws {
  guard learningRate.isFinite, learningRate > 0 else {
    throw RecipeError("learning rate must be a finite number > 0, got \(learningRate)")
  }
  if dtype == .float64 {
    guard learningRate >= Double.leastNormalMagnitude else {
      throw RecipeError("learning rate \(learningRate) is too small for float64 (it must be at least \(Double.leastNormalMagnitude))")
    }
    return
  }
  let single = Float(learningRate)
  guard single.isFinite, single >= Float.leastNormalMagnitude else {
    throw RecipeError(
      "learning rate \(learningRate) is \(single.isFinite ? "too small" : "too large") for float32 (it must be in [\(Float.leastNormalMagnitude), \(Float.greatestFiniteMagnitude)])")
  }
}

/// The graph of the multilayer perceptron: an input placeholder `[?, 64]`, Dense layers named
/// `layer1`, `layer2`, ... (ReLU on the hidden layers, none on the last), and the logits.
struct DigitsNetwork {
  let graph = Graph()
  let input: Tensor
  let layers: [Dense]
  let logits: Tensor
  /// The predicted class of each row of logits, in a graph of its own (the training graph, as
  /// exported and saved, stays the network's).
  let predictedClasses: RowArgMax
  let layerSizes: [Int]

  init(layerSizes: [Int], seed: UInt64, dtype: DType = .float32) throws {
    self.layerSizes = layerSizes
    input = graph.placeholder(dtype, shape: [nil, layerSizes[0]], name: "pixels")
    var layers: [Dense] = []
    var h = input
    for i in 1..<layerSizes.count {
      let last = i == layerSizes.count - 1
      let layer = try Dense(
        graph: graph, inputSize: layerSizes[i - 1], units: layerSizes[i], activation: last ? .linear : .relu,
        dtype: dtype, seed: seed &+ UInt64(2 * i), name: "layer\(i)")
      layers.append(layer)
      h = try layer(h)
    }
    self.layers = layers
    logits = h
    predictedClasses = try RowArgMax(columns: layerSizes[layerSizes.count - 1], dtype: dtype)
  }

  /// The fraction of `data`'s rows whose largest logit is at the label.
  /// - Throws: ``RecipeError`` when a logit is NaN or infinite (weights that overflowed in the
  ///   last update: the run stops before such a model is saved).
  func accuracy(_ session: Session, _ data: Dataset, dtype: DType = .float32) throws -> Double {
    let out = try session.run(logits, feeding: [input: data.features.converted(to: dtype)])
    if let bad = out.doubles.first(where: { !$0.isFinite }) {
      throw RecipeError("the network's logits became \(bad) (its weights overflowed); try a smaller learning rate")
    }
    let predicted = try predictedClasses(out)
    let labels = data.labels.scalars(as: Int32.self)
    let correct = zip(predicted, labels).filter { $0 == $1 }.count
    return data.count == 0 ? .nan : Double(correct) / Double(data.count)
  }

  /// The current weights as a ``DigitsModel``.
  func model(_ session: Session, standardizer: Standardizer) throws -> DigitsModel {
    var weights: [(kernel: NDArray, bias: NDArray)] = []
    for layer in layers {
      guard let bias = layer.bias else { throw RecipeError("layer \(layer.name) has no bias") }
      weights.append(
        (try session.value(of: layer.kernel).converted(to: .float32), try session.value(of: bias).converted(to: .float32)))
    }
    return try DigitsModel(layerSizes: layerSizes, weights: weights, standardizer: standardizer)
  }
}

/// A trained digits classifier: the layer sizes, each layer's kernel and bias, and the input
/// standardizer. Saved as safetensors (readable with `safetensors.numpy.load_file`):
///
/// - tensors `layer<i>/kernel` (`[in, out]`, F32), `layer<i>/bias` (`[out]`, F32),
///   `standardizer/mean` and `standardizer/std` (`[64]`, F64);
/// - metadata `format` = `backprop-digits-mlp`, `layers` = `64,128,10`, `activation` = `relu`.
///
/// The network computes `logits = Wₙ·(…relu(W₁·((x - mean)/std) + b₁)…) + bₙ` and predicts the
/// class of the largest logit.
public struct DigitsModel: Sendable {
  /// The number of input pixels.
  public static let inputSize = 64
  /// The number of classes.
  public static let classCount = 10
  /// The `format` metadata value of a saved model.
  public static let formatName = "backprop-digits-mlp"

  /// The layer sizes, input first (`[64, 128, 10]`).
  public let layerSizes: [Int]
  /// Each layer's kernel `[in, out]` and bias `[out]` (float32).
  public let weights: [(kernel: NDArray, bias: NDArray)]
  /// The input standardizer.
  public let standardizer: Standardizer

  /// Creates a model, checking every shape against `layerSizes` and that every weight is finite.
  /// - Throws: ``RecipeError`` naming the layer and the shapes (or the non-finite weight).
  public init(layerSizes: [Int], weights: [(kernel: NDArray, bias: NDArray)], standardizer: Standardizer) throws {
    guard layerSizes.count >= 2, layerSizes.first == Self.inputSize, layerSizes.last == Self.classCount,
      layerSizes.allSatisfy({ $0 >= 1 })
    else {
      throw RecipeError("layer sizes must start with \(Self.inputSize), end with \(Self.classCount) and be positive, got \(layerSizes)")
    }
    guard weights.count == layerSizes.count - 1 else {
      throw RecipeError("\(layerSizes.count - 1) layers need \(layerSizes.count - 1) weight pairs, got \(weights.count)")
    }
    for (i, w) in weights.enumerated() {
      let expected: Shape = [layerSizes[i], layerSizes[i + 1]]
      guard w.kernel.shape == expected, w.kernel.dtype == .float32, w.bias.shape == [layerSizes[i + 1]], w.bias.dtype == .float32
      else {
        throw RecipeError(
          "layer\(i + 1): expected kernel float32 \(expected) and bias float32 [\(layerSizes[i + 1])], got \(w.kernel.dtype) \(w.kernel.shape) and \(w.bias.dtype) \(w.bias.shape)")
      }
    }
    guard standardizer.mean.count == Self.inputSize else {
      throw RecipeError("the standardizer has \(standardizer.mean.count) columns, expected \(Self.inputSize)")
    }
    for (i, w) in weights.enumerated() {
      for (array, name) in [(w.kernel, "kernel"), (w.bias, "bias")] {
        if let k = array.scalars(as: Float.self).firstIndex(where: { !$0.isFinite }) {
          throw RecipeError("layer\(i + 1)/\(name): element \(k) is \(array.scalars(as: Float.self)[k]); weights must be finite")
        }
      }
    }
    self.layerSizes = layerSizes
    self.weights = weights
    self.standardizer = standardizer
  }

  /// The model as a safetensors file (see the type's description).
  public var file: SafetensorsFile {
    var tensors: [String: NDArray] = [:]
    for (i, w) in weights.enumerated() {
      tensors["layer\(i + 1)/kernel"] = w.kernel
      tensors["layer\(i + 1)/bias"] = w.bias
    }
    tensors["standardizer/mean"] = NDArray(standardizer.mean, shape: [Self.inputSize])
    tensors["standardizer/std"] = NDArray(standardizer.standardDeviation, shape: [Self.inputSize])
    return SafetensorsFile(
      tensors: tensors,
      metadata: [
        "format": Self.formatName, "layers": layerSizes.map(String.init).joined(separator: ","), "activation": "relu",
      ])
  }

  /// Writes the model to a safetensors file, atomically.
  /// - Throws: ``ArrayFileError``.
  public func save(toPath path: String) throws {
    try file.write(toPath: path)
  }

  /// Reads a model saved by ``save(toPath:)``.
  /// - Throws: ``ArrayFileError`` for an unreadable or malformed file, ``RecipeError`` when it is
  ///   not a digits model, names an activation other than `relu`, or its tensors do not fit its
  ///   layer sizes or hold NaN or infinite weights.
  public init(contentsOfFile path: String) throws {
    let file = try SafetensorsFile(contentsOfFile: path)
    guard file.metadata["format"] == Self.formatName, let layersText = file.metadata["layers"] else {
      // A recipe's training checkpoint (`--checkpoint`, the notebook recipes' `--save`) is named
      // as such, with the files that classify.
      if file.metadata["format"] == nil, let recipe = file.metadata["recipe"] {
        throw RecipeError(
          "\(path): a training checkpoint of the \(SafeText.excerpt(recipe)) recipe (for --restore), not a digits model; classify with a model written by `backprop digits --save FILE` or a `--save-model DIR` directory")
      }
      throw RecipeError("\(path): not a digits model (no __metadata__ format \"\(Self.formatName)\" with layers)")
    }
    if let activation = file.metadata["activation"], activation != "relu" {
      throw RecipeError(
        "\(path): the model's activation is \"\(SafeText.excerpt(activation))\"; this reader computes ReLU networks only (metadata activation \"relu\")")
    }
    let sizes = layersText.split(separator: ",").map { Int($0) }
    guard sizes.allSatisfy({ $0 != nil }) else { throw RecipeError("\(path): bad layers metadata \"\(SafeText.excerpt(layersText))\"") }
    let layerSizes = sizes.compactMap { $0 }
    guard layerSizes.count >= 2 else { throw RecipeError("\(path): bad layers metadata \"\(SafeText.excerpt(layersText))\"") }
    var weights: [(kernel: NDArray, bias: NDArray)] = []
    for i in 1..<layerSizes.count {
      guard let k = file.tensors["layer\(i)/kernel"], let b = file.tensors["layer\(i)/bias"] else {
        throw RecipeError("\(path): missing tensor layer\(i)/kernel or layer\(i)/bias")
      }
      weights.append((k, b))
    }
    guard let mean = file.tensors["standardizer/mean"], let std = file.tensors["standardizer/std"] else {
      throw RecipeError("\(path): missing tensor standardizer/mean or standardizer/std")
    }
    do {
      try self.init(layerSizes: layerSizes, weights: weights, standardizer: Standardizer(mean: mean.doubles, standardDeviation: std.doubles))
    } catch let error as RecipeError {
      throw RecipeError("\(path): \(error.description)")
    } catch {
      throw RecipeError("\(path): \(error)")
    }
  }

  /// The logits `[n, 10]` of raw (unstandardized) pixel rows `[n, 64]`, computed by a graph of
  /// Dense layers holding the saved weights.
  /// - Throws: ``RecipeError`` when `pixels` is not `[n, 64]`; graph errors.
  public func logits(_ pixels: NDArray) throws -> NDArray {
    guard pixels.rank == 2, pixels.shape[1] == Self.inputSize else {
      throw RecipeError("expected rows of \(Self.inputSize) pixels, got an array of shape \(pixels.shape)")
    }
    let net = try DigitsNetwork(layerSizes: layerSizes, seed: 0)
    let session = Session(graph: net.graph)
    try session.initializeVariables()
    for (layer, w) in zip(net.layers, weights) {
      try session.setValue(w.kernel, for: layer.kernel)
      if let bias = layer.bias { try session.setValue(w.bias, for: bias) }
    }
    let x = try standardizer.transform(pixels.converted(to: .float32))
    return try session.run(net.logits, feeding: [net.input: x])
  }

  /// The network with its standardization as an ONNX model (opset 13) for other runtimes:
  /// input `pixels` (float32 `[n, 64]`, raw 0...16 values), output `logits` (float32 `[n, 10]`);
  /// the standardization is computed in float32 (`(x - mean) / std`), the weights are
  /// initializers. `backprop export --onnx` writes it.
  public func onnxModel() throws -> [UInt8] {
    let (g, x, h) = try inferenceGraph()
    return try g.onnxModel(inputs: [x], outputs: [h])
  }

  /// Saves the network with its standardization as a whole-model directory
  /// (``GraphCore/Session/saveModel(to:metadata:)``): input `pixels` (raw), output `logits`,
  /// named in the metadata, so `backprop predict --model DIR` runs it without this type.
  public func saveModelDirectory(_ path: String) throws {
    let (g, x, h) = try inferenceGraph()
    let session = Session(graph: g)
    try session.initializeVariables()
    try session.saveModel(to: path, metadata: ["input": x.name, "output": h.name, "format": "backprop-model"])
  }

  /// The inference graph: raw pixels, standardization in float32, the layers with constant
  /// weights, `logits`.
  func inferenceGraph() throws -> (Graph, Tensor, Tensor) {
    let g = Graph()
    let x = g.placeholder(.float32, shape: [nil, Self.inputSize], name: "pixels")
    let mean = g.constant(NDArray(converting: standardizer.mean, shape: [Self.inputSize], dtype: .float32), name: "standardizer/mean")
    let std = g.constant(
      NDArray(converting: standardizer.standardDeviation, shape: [Self.inputSize], dtype: .float32), name: "standardizer/std")
    var h = try divide(subtract(x, mean, name: "centered"), std, name: "standardized")
    for (i, w) in weights.enumerated() {
      let k = g.constant(w.kernel.converted(to: .float32), name: "layer\(i + 1)/kernel")
      let b = g.constant(w.bias.converted(to: .float32), name: "layer\(i + 1)/bias")
      h = try add(matmul(h, k, name: "layer\(i + 1)/MatMul"), b, name: "layer\(i + 1)/BiasAdd")
      if i < weights.count - 1 { h = try relu(h, name: "layer\(i + 1)/Relu") }
    }
    h = try identity(h, name: "logits")
    return (g, x, h)
  }

  /// The predicted class of each row of raw pixels `[n, 64]`.
  public func predict(_ pixels: NDArray) throws -> [Int] {
    try RowArgMax(columns: Self.classCount, dtype: .float32)(logits(pixels)).map(Int.init)
  }
}

/// Observers of a digits run, for logs such as TensorBoard's: the graph before the first step,
/// each step's loss, and each finished epoch with the session and the last batch's feeds (to
/// read weights and compute gradients). The defaults do nothing.
public struct DigitsMonitor {
  /// What an epoch observer can read.
  public struct State {
    /// The training session.
    public var session: Session
    /// The mean loss of a batch.
    public var loss: Tensor
    /// The epoch's last batch, as feeds of the loss.
    public var feeds: [Tensor: NDArray]
    /// The number of training steps done.
    public var step: Int
  }
  /// Called with the graph (built, optimizer included) and the optimizer's learning rate
  /// (constant or scheduled by the step) before the first step.
  public var willStart: (Graph, LearningRate) throws -> Void
  /// Called after each training step with the step number (from 1) and the batch's loss.
  public var didStep: (Int, Double) throws -> Void
  /// Called after each epoch.
  public var didFinishEpoch: (DigitsEpoch, State) throws -> Void

  /// Creates a monitor; every observer defaults to doing nothing.
  public init(
    willStart: @escaping (Graph, LearningRate) throws -> Void = { _, _ in }, didStep: @escaping (Int, Double) throws -> Void = { _, _ in },
    didFinishEpoch: @escaping (DigitsEpoch, State) throws -> Void = { _, _ in }
  ) {
    self.willStart = willStart
    self.didStep = didStep
    self.didFinishEpoch = didFinishEpoch
  }
}

/// The index of the largest value in each row of a `[n, columns]` array, the first on ties
/// (`numpy.argmax`): the ``argMax(_:axis:name:file:line:)`` operation, run in a small graph of
/// its own.
struct RowArgMax {
  let session: Session
  let scores: Tensor
  let indices: Tensor

  /// The graph for rows of `columns` values of `dtype`.
  init(columns: Int, dtype: DType) throws {
    let graph = Graph()
    scores = graph.placeholder(dtype, shape: [nil, columns], name: "scores")
    indices = try argMax(scores, axis: 1, name: "classes")
    session = Session(graph: graph)
  }

  /// The index of each row's largest value.
  /// - Throws: ``SessionError`` when `rows` does not have the declared dtype and width.
  func callAsFunction(_ rows: NDArray) throws -> [Int32] {
    try session.run(indices, feeding: [scores: rows]).scalars(as: Int32.self)
  }
}
