import ArrayCore
import Datasets
import GraphCore
import Plotting
import Training

/// The models of the Fashion-MNIST recipe.
public enum FashionModelKind: String, Sendable, CaseIterable {
  /// A multilayer perceptron: 784-256-128-10 with ReLU.
  case mlp
  /// The Keras example CNN (the default): Conv2D(32, 3x3) + ReLU, MaxPool 2, Conv2D(64, 3x3) +
  /// ReLU, MaxPool 2, Flatten, Dropout 0.5, Dense(10).
  case cnn
  /// The CNN with batch normalization between each convolution and its ReLU.
  case cnnBN = "cnn-bn"

  /// The layers in words, recorded in saved models:
  /// `conv2d(32,3x3)-relu-maxpool(2)-...`.
  public var layerDescription: String {
    switch self {
    case .mlp: "flatten-dense(256)-relu-dense(128)-relu-dense(10)"
    case .cnn: "conv2d(32,3x3)-relu-maxpool(2)-conv2d(64,3x3)-relu-maxpool(2)-flatten-dropout(0.5)-dense(10)"
    case .cnnBN:
      "conv2d(32,3x3)-batchnorm-relu-maxpool(2)-conv2d(64,3x3)-batchnorm-relu-maxpool(2)-flatten-dropout(0.5)-dense(10)"
    }
  }
}

/// The graph of a Fashion-MNIST classifier: the pixels placeholder `[?, 784]` (values in
/// `[0, 1]`), the training-phase flag, the layers and the logits `[?, 10]`.
public struct FashionNetwork {
  /// The graph.
  public let graph = Graph()
  /// The pixels, `[?, 784]` float32.
  public let input: Tensor
  /// The training flag (fed `true` on training steps).
  public let phase: TrainingPhase
  /// The layers after the reshape to `[?, 28, 28, 1]`.
  public let model: Sequential
  /// The logits, `[?, 10]`.
  public let logits: Tensor
  /// The model.
  public let kind: FashionModelKind

  /// Builds the network; seeds derive from `seed`.
  /// - Throws: `GraphError` from the layers.
  public init(kind: FashionModelKind, seed: UInt64) throws {
    self.kind = kind
    let d = FashionMNIST.side * FashionMNIST.side
    input = graph.placeholder(.float32, shape: [nil, d], name: "pixels")
    phase = try TrainingPhase(graph: graph)
    let g = graph
    var layers: [any Layer] = []
    switch kind {
    case .mlp:
      layers = [
        try Dense(graph: g, inputSize: d, units: 256, activation: .relu, seed: seed &+ 2, name: "dense"),
        try Dense(graph: g, inputSize: 256, units: 128, activation: .relu, seed: seed &+ 4, name: "dense"),
        try Dense(graph: g, inputSize: 128, units: FashionMNIST.classCount, seed: seed &+ 6, name: "dense"),
      ]
    case .cnn, .cnnBN:
      let bn = kind == .cnnBN
      let phase = self.phase
      func block(_ cin: Int, _ filters: Int, _ s: UInt64) throws -> [any Layer] {
        let conv = try Training.Conv2D(
          graph: g, inputChannels: cin, filters: filters, kernelSize: [3, 3], activation: bn ? .linear : .relu, seed: s, name: "conv2d")
        let pool = try MaxPool2D(window: [2, 2])
        return bn ? [conv, try BatchNorm(graph: g, channels: filters, phase: phase), Activation.relu, pool] : [conv, pool]
      }
      layers = try block(1, 32, seed &+ 2) + block(32, 64, seed &+ 4) + [
        Flatten(), try Dropout(rate: 0.5, seed: seed &+ 5, phase: phase),
        try Dense(graph: g, inputSize: 5 * 5 * 64, units: FashionMNIST.classCount, seed: seed &+ 6, name: "dense"),
      ]
    }
    model = Sequential(layers)
    let images = kind == .mlp ? input : try reshape(input, to: [-1, FashionMNIST.side, FashionMNIST.side, 1], name: "images")
    logits = try model(images)
  }

  /// The logits of `pixels` `[n, 784]`, computed in batches of `batchSize` (inference mode).
  /// - Throws: graph and session errors.
  public func logits(_ session: Session, _ pixels: NDArray, batchSize: Int = 500) throws -> [[Float]] {
    let n = pixels.shape[0], d = pixels.shape[1]
    var rows: [[Float]] = []
    rows.reserveCapacity(n)
    var start = 0
    while start < n {
      let end = Swift.min(start + batchSize, n)
      let batch = pixels.withUnsafeBufferPointer(as: Float.self) { NDArray(Array($0[start * d..<end * d]), shape: [end - start, d]) }
      let out = try session.run(logits, feeding: [input: batch]).scalars(as: Float.self)
      let k = FashionMNIST.classCount
      for i in 0..<(end - start) { rows.append(Array(out[i * k..<(i + 1) * k])) }
      start = end
    }
    return rows
  }

  /// The predicted class of each row of `pixels` `[n, 784]`.
  public func predict(_ session: Session, _ pixels: NDArray) throws -> [Int] {
    try logits(session, pixels).map { row in row.indices.max { row[$0] < row[$1] || (row[$0] == row[$1] && $0 > $1) }! }
  }

  /// The fraction of `data`'s images classified correctly.
  /// - Throws: ``RecipeError`` when a logit is NaN or infinite (weights that overflowed in the
  ///   last update: the run stops before such a model is saved).
  public func accuracy(_ session: Session, _ data: Dataset) throws -> Double {
    guard data.count > 0 else { return .nan }
    let rows = try logits(session, data.features)
    if let bad = rows.lazy.flatMap({ $0 }).first(where: { !$0.isFinite }) {
      throw RecipeError("the network's logits became \(bad) (its weights overflowed); try a smaller learning rate")
    }
    let predicted = rows.map { row in row.indices.max { row[$0] < row[$1] || (row[$0] == row[$1] && $0 > $1) }! }
    let labels = data.labels.scalars(as: Int32.self)
    return Double(zip(predicted, labels).filter { $0 == Int($1) }.count) / Double(data.count)
  }
}

/// How the Fashion-MNIST recipe's learning rate changes over a run.
public enum FashionLearningRateDecay: String, Sendable, CaseIterable {
  /// The same rate at every step (the Keras example).
  case none
  /// Cosine decay from the rate to 0 over all the run's steps (`total = epochs × steps per
  /// epoch`, Keras `CosineDecay(initial, decay_steps: total, alpha: 0)`; the default):
  /// `lr(step) = initial · ½ (1 + cos(π · step / total))`. A resumed run continues it when it
  /// names the same total epochs.
  case cosine

  /// The optimizer's learning rate for a run of `epochs` epochs of `stepsPerEpoch` steps (a
  /// resumed run continues the same schedule from the restored step count).
  /// - Throws: `GraphError` for a rate the schedule refuses.
  public func learningRate(initial: Double, epochs: Int, stepsPerEpoch: Int) throws -> LearningRate {
    switch self {
    case .none: return .constant(initial)
    case .cosine:
      // At most 2⁵³ steps (exact as a float64 step count, and as a GraphDef records it).
      let (total, overflow) = epochs.multipliedReportingOverflow(by: max(stepsPerEpoch, 1))
      return .schedule(try .cosineDecay(initial: initial, decaySteps: overflow ? 1 << 53 : min(total, 1 << 53)))
    }
  }
}

/// The Fashion-MNIST recipe (`backprop fashion`): trains a classifier on the 60,000 training
/// images and reports the accuracy on the 10,000 test images after each epoch.
///
/// Defaults: the Keras example "Simple MNIST convnet" (the CNN of `FashionModelKind/cnn`,
/// pixels scaled to `[0, 1]`, softmax cross-entropy, batches of 128 in a new seeded order each
/// epoch with the last smaller batch kept, 15 epochs), trained by Adam from 5e-3 with a cosine
/// decay to 0 over the run's steps. The example's own optimizer, Adam at a constant 1e-3
/// (`learningRate = 1e-3`, `learningRateDecay = .none`), reaches 90.3 to 90.6% here, as in
/// Keras. The train accuracy is the running accuracy of the training batches during the epoch
/// (with dropout active, as Keras reports it).
public struct FashionRecipe: Sendable {
  /// Settings of a run.
  public struct Configuration: Sendable {
    /// The directory with the four IDX files (`nil`: `Datasets/FashionMNIST/defaultDirectory`).
    public var dataDirectory: String?
    /// The model.
    public var model = FashionModelKind.cnn
    /// The learning rate of Adam (its initial rate under a decay).
    public var learningRate = 5e-3
    /// How the learning rate changes over the run.
    public var learningRateDecay = FashionLearningRateDecay.cosine
    /// The batch size.
    public var batchSize = 128
    /// The number of epochs (in total, counting those of a restored run).
    public var epochs = 15
    /// Seeds the initial weights, the dropout masks and the order of the images.
    public var seed: UInt64 = 42
    /// Use only the first this many training images (quick runs); `nil` uses all.
    public var trainLimit: Int?
    /// Use only the first this many test images; `nil` uses all.
    public var testLimit: Int?
    /// What a previous run saved, to resume from (its weights, optimizer state and epoch count):
    /// a ``FashionModel`` file or a whole-model directory written through ``modelPath``.
    public var restorePath: String?
    /// After training, save the whole model to this directory (`Session.saveModel(to:)`): the
    /// training graph with every variable and Adam slot, and an inference branch from raw pixel
    /// values `pixels_raw` (float32 `[n, 784]`, 0...255, scaled in the graph; dropout off, batch
    /// normalization with its moving averages) to `logits`, named in the metadata (`input`,
    /// `output`) so `backprop predict --model DIR` runs it; ``restorePath`` continues from it.
    public var modelPath: String?
    /// Data-parallel training over these ranks (`nil`: one process). Each rank takes its shard
    /// of every global batch of `batchSize × ranks` images (``batchSize`` is per rank, Horovod's
    /// convention), the gradients are averaged by a `DistributedOptimizer` around Adam, rank 0's
    /// initial (or restored) variables are broadcast, and only rank 0 writes lines and files. The
    /// learning rate is used as given. Dropout masks and batch normalization's statistics are
    /// each rank's own (as Horovod without synchronized batch normalization), so only the `mlp`
    /// model gives one process's parameters exactly.
    public var communicator: (any Communicator)?
    /// Time every operation the training session runs (``GraphCore/Session/Options/profiles``)
    /// and return the table in ``Report/profile``.
    public var profiles = false
    /// Creates the default settings.
    public init() {}

    /// The settings every rank of a data-parallel run must share (the optimizer, the image
    /// order and the data), as `name=value` lines for `Communicator.verifySameSettings(_:)`;
    /// not the model (the graph check names its layers), nor paths written or read by rank 0
    /// only.
    var rankSettings: [(name: String, value: String)] {
      [
        ("learningRate", String(learningRate)), ("learningRateDecay", learningRateDecay.rawValue),
        ("batchSize", String(batchSize)), ("epochs", String(epochs)), ("seed", String(seed)),
        ("trainLimit", trainLimit.map(String.init) ?? "none"), ("testLimit", testLimit.map(String.init) ?? "none"),
      ]
    }

    /// Checks every setting.
    /// - Throws: `RecipeError` naming the setting and its value.
    public func validate() throws {
      guard batchSize >= 1 else { throw RecipeError("batch size must be at least 1, got \(batchSize)") }
      guard epochs >= 1 else { throw RecipeError("epochs must be at least 1, got \(epochs)") }
      try checkLearningRate(learningRate)  // the model trains in float32
      if let trainLimit, trainLimit < 1 { throw RecipeError("train limit must be at least 1, got \(trainLimit)") }
      if let testLimit, testLimit < 1 { throw RecipeError("test limit must be at least 1, got \(testLimit)") }
    }
  }

  /// What a run produced.
  public struct Report: Sendable {
    /// One entry per epoch trained in this run (numbered from the restored count).
    public var epochs: [DigitsEpoch] = []
    /// The trained model (every variable, with the optimizer's), ready to save.
    public var model: FashionModel
    /// The number of training and test images.
    public var trainCount = 0, testCount = 0
    /// The test accuracy after the last epoch.
    public var testAccuracy: Double
    /// With ``Configuration/profiles``: the time each operation took over the run's training
    /// steps and evaluations (``GraphCore/Session/Options/profiles``); `nil` otherwise.
    public var profile: RunProfile?
    /// The per-epoch log (`epoch`, `loss`, `train_accuracy`, `test_accuracy`, `seconds`).
    public func epochLog() -> StepLog { epochStepLog(epochs) }
    /// The learning curves.
    public func figure(title: String) -> Figure { epochFigure(epochs, title: title) }
  }

  /// The settings.
  public var configuration: Configuration
  /// Creates the recipe.
  public init(_ configuration: Configuration = Configuration()) { self.configuration = configuration }

  /// Trains, writing one line per epoch to `output`
  /// (`epoch  3/15  loss 0.2843  train 0.8951  test 0.9012  41.2 s`) and reporting each step
  /// to `onStep` (for a progress bar).
  /// - Throws: `RecipeError` for invalid settings or a restore file that does not fit,
  ///   `Datasets/DatasetError` for missing or bad data files, graph and session errors.
  public func run(
    output: (String) -> Void = { print($0) }, onStep: (TrainingStep) -> Void = { _ in }, monitor: DigitsMonitor = DigitsMonitor()
  ) throws -> Report {
    let c = configuration
    try c.validate()
    let communicator = c.communicator ?? SingleProcessCommunicator()
    let rank = communicator.rank, ranks = communicator.size
    var restored: FashionModel?
    var restoredDirectory: (file: SafetensorsFile, source: String, epochs: Int)?
    // Read by rank 0 only, which broadcasts what it restored: the file need exist on its node only.
    if let path = c.restorePath, rank == 0 {
      if Session.isModelDirectory(path) {
        let source = path + "/" + Session.ModelFiles.variables
        let file = try SafetensorsFile(contentsOfFile: source)
        guard file.metadata["recipe"] == "fashion", let done = file.metadata["epoch"].flatMap({ Int($0) }), done >= 0 else {
          throw RecipeError("\(path) is not a model of the fashion recipe (metadata recipe=fashion and epoch)")
        }
        guard file.metadata["model"] == c.model.rawValue else {
          throw RecipeError("\(path) holds a \(SafeText.excerpt(file.metadata["model"] ?? "?")) model, but --model is \(c.model.rawValue)")
        }
        restoredDirectory = (file, source, done)
      } else {
        let m = try FashionModel(contentsOfFile: path)
        guard m.kind == c.model else {
          throw RecipeError("\(path) holds a \(m.kind.rawValue) model, but --model is \(c.model.rawValue)")
        }
        restored = m
      }
    }
    let distributed = c.communicator != nil
    let speaks = rank == 0  // only rank 0 writes lines and reports steps
    let data = try FashionMNIST(directory: c.dataDirectory, trainLimit: c.trainLimit, testLimit: c.testLimit)
    // Both sets must hold an image: an empty training set has no step to take (its mean loss
    // would be 0/0), an empty test set no accuracy (the same for digits' splits).
    for (set, name) in [(data.train, "training"), (data.test, "test")] where set.count == 0 {
      throw RecipeError("the \(name) images in \(SafeText.excerpt(data.directory, limit: 200)) hold no image; the recipe needs at least one training and one test image")
    }
    // Ranks given different options would train on overlapping shards, apply different updates
    // or stop at different steps: they must agree before the first collective of training.
    if distributed {
      try communicator.verifySameSettings(
        c.rankSettings + [
          ("training images", String(data.train.count)), ("test images", String(data.test.count)),
          ("training data", dataDigest(data.train)), ("test data", dataDigest(data.test)),
        ])
    }
    let globalBatch = Batches.globalSize(perRank: c.batchSize, ranks: ranks)
    let stepsPerEpoch = Batches.count(samples: data.train.count, size: globalBatch)
    let rate = try c.learningRateDecay.learningRate(initial: c.learningRate, epochs: c.epochs, stepsPerEpoch: stepsPerEpoch)
    let training = try Self.buildTraining(c, learningRate: rate, communicator: distributed ? communicator : nil)
    let (net, labels, loss, shardWeight, trainOp) = (training.net, training.labels, training.loss, training.shardWeight, training.train)
    let session = Session(graph: net.graph, options: Session.Options(profiles: c.profiles))
    try session.initializeVariables()
    var done = restored?.epochsDone ?? restoredDirectory?.epochs ?? 0
    if rank == 0 {
      if let restored { try restored.load(into: session, graph: net.graph, requireAll: true) }
      if let (file, source, _) = restoredDirectory { try Checkpoint.restore(session: session, from: file, source: source) }
      if let path = c.restorePath {
        try Self.checkScheduleContinues(c, path: path, epochsDone: done, stepsPerEpoch: stepsPerEpoch, ranks: ranks, trainCount: data.train.count, session: session, counter: training.stepCounter)
      }
    }
    if distributed {
      try session.broadcastVariables(from: 0, over: communicator)
      done = Int(try communicator.broadcast([NDArray([Int32(done)], shape: [1])], root: 0)[0].scalars(as: Int32.self)[0])
    }
    let feeds = [net.input, labels, net.phase.flag] + (shardWeight.map { [$0] } ?? [])
    let step = try session.prepare(fetches: [loss, net.logits], feeds: feeds, targets: [trainOp])
    try step.setFeed(2, to: NDArray(scalar: true))
    session.resetProfile()  // (the initializers' and a restore's operations are not the training's)

    let train = data.train
    var report = Report(model: try FashionModel(session: session, graph: net.graph, kind: c.model, epochsDone: done), testAccuracy: .nan)
    report.trainCount = train.count
    report.testCount = data.test.count
    // The whole model (--save-model), on rank 0, with the epochs it has trained.
    func saveWholeModelIfAsked(epochs: Int) throws {
      guard let path = c.modelPath, rank == 0 else { return }
      let (t, savedSession) = try training.forSaving(session: session, distributed: distributed) {
        try Self.buildTraining(c, learningRate: rate, communicator: nil)
      }
      try Self.saveWholeModel(
        t.net, session: savedSession, to: path,
        metadata: [
          "recipe": "fashion", "model": c.model.rawValue, "layers": c.model.layerDescription, "epoch": String(epochs),
          "seed": String(c.seed), "features": t.net.input.name, "labels": t.labels.name, "loss": t.loss.name,
          "train": t.train.name, "phase": t.net.phase.flag.name,
        ])
    }
    if done >= c.epochs {
      report.testAccuracy = try net.accuracy(session, data.test)
      if speaks {
        output(
          "the restored model has trained \(done) epoch\(done == 1 ? "" : "s") already (--epochs \(c.epochs)): test \(formatFixed(report.testAccuracy, decimals: 4))")
      }
      if c.profiles { report.profile = session.profile }
      try saveWholeModelIfAsked(epochs: done)
      return report
    }
    let (product, overflow) = (c.epochs - done).multipliedReportingOverflow(by: stepsPerEpoch)
    let totalSteps = overflow ? Int.max : product  // for the progress display only
    var stepNumber = 0
    // The monitor counts the run's global steps, as the optimizer's restored step counter does
    // (a resumed run's first step is `done × stepsPerEpoch + 1`), so a schedule's logged rate is
    // the one the update used.
    let (before, beforeOverflow) = done.multipliedReportingOverflow(by: stepsPerEpoch)
    let stepsBefore = beforeOverflow ? 0 : before
    var lastBatch: (NDArray, NDArray)?
    let clock = ContinuousClock()
    if speaks { try monitor.willStart(net.graph, rate) }
    for epoch in done..<c.epochs {
      var lossSum = 0.0
      var correct = 0
      let start = clock.now
      let batches = try train.epoch(epoch, batchSize: globalBatch, seed: c.seed &+ 1)
      for i in batches.indices {
        let part = batches.weightedShard(i, rank: rank, of: ranks)  // the whole batch on one process
        let (x, y) = part.batch, samples = part.samples
        if shardWeight != nil { try step.setFeed(3, to: NDArray(scalar: part.weight, dtype: .float32)) }
        try step.setFeed(0, to: x)
        try step.setFeed(1, to: y)
        try step.run()
        let l = step.fetch(0).scalarValue
        if samples == 0 { continue }
        lossSum += l * Double(samples)
        let k = FashionMNIST.classCount
        step.fetch(1).withUnsafeBufferPointer(as: Float.self) { z in
          y.withUnsafeBufferPointer(as: Int32.self) { t in
            for i in 0..<t.count {
              var best = 0
              for j in 1..<k where z[i * k + j] > z[i * k + best] { best = j }
              if best == Int(t[i]) { correct += 1 }
            }
          }
        }
        stepNumber += 1
        lastBatch = (x, y)
        if speaks {
          onStep(TrainingStep(step: stepNumber, totalSteps: totalSteps, loss: l))
          try monitor.didStep(stepsBefore &+ stepNumber, l)
        }
      }
      if distributed {
        let sums = try communicator.allReduce([NDArray([lossSum, Double(correct)], shape: [2])], .sum)[0].doubles
        lossSum = sums[0]
        correct = Int(sums[1])
      }
      let (epochLoss, seconds) = try DigitsEpoch.trainingFigures(
        lossSum: lossSum, samples: train.count, epoch: epoch + 1, clock: clock, since: start)
      // The test accuracy also refuses non-finite logits (an overflow in the epoch's last update).
      let result = DigitsEpoch(
        epoch: epoch + 1, loss: epochLoss, trainAccuracy: Double(correct) / Double(train.count),
        testAccuracy: try net.accuracy(session, data.test), seconds: seconds)
      report.epochs.append(result)
      if speaks {
        output(Self.format(result, of: c.epochs))
        if let (x, y) = lastBatch {
          try monitor.didFinishEpoch(
            result, DigitsMonitor.State(session: session, loss: loss, feeds: [net.input: x, labels: y, net.phase.flag: NDArray(scalar: true)],
              step: stepsBefore &+ stepNumber))
        }
      }
    }
    report.testAccuracy = report.epochs.last?.testAccuracy ?? .nan
    if c.profiles { report.profile = session.profile }
    report.model = try FashionModel(session: session, graph: net.graph, kind: c.model, epochsDone: c.epochs)
    try saveWholeModelIfAsked(epochs: c.epochs)
    return report
  }

  /// Refuses to resume a cosine decay whose restored step counter is not the step this run's
  /// schedule reaches after the epochs done: the schedule spans `epochs × stepsPerEpoch` and
  /// reads the counter, so a model trained with other steps per epoch (another `--batch-size`,
  /// number of ranks or `--train-limit`) would continue it from the wrong step (past its end: a
  /// rate of 0, epochs that change no weight).
  static func checkScheduleContinues(
    _ c: Configuration, path: String, epochsDone: Int, stepsPerEpoch: Int, ranks: Int, trainCount: Int, session: Session,
    counter: Tensor?
  ) throws {
    guard c.learningRateDecay == .cosine, epochsDone < c.epochs, let counter else { return }
    let restoredSteps = try session.value(of: counter).doubles[0]
    let (expected, overflow) = epochsDone.multipliedReportingOverflow(by: stepsPerEpoch)
    guard overflow || restoredSteps != Double(expected) else { return }
    let perEpoch = stepsPerEpoch == 1 ? "1 step per epoch" : "\(stepsPerEpoch) steps per epoch"
    let count = Int(exactly: restoredSteps).map(String.init) ?? "\(restoredSteps)"
    let steps = restoredSteps == 1 ? "1 step" : "\(count) steps"
    throw RecipeError(
      "\(SafeText.excerpt(path, limit: 200)) trained \(epochsDone) epoch\(epochsDone == 1 ? "" : "s") in \(steps) (Adam's step counter), "
        + "but this run takes \(perEpoch) (\(trainCount) training images in batches of \(c.batchSize) on \(ranks) rank\(ranks == 1 ? "" : "s")): "
        + "the cosine decay over --epochs would continue from the wrong step; resume with the saved run's --batch-size, number of ranks "
        + "and --train-limit, or with --lr-decay none")
  }

  /// Builds the network, the labels, the loss and Adam's step at `learningRate` for `c`; with a
  /// `communicator` (data-parallel), each rank's mean loss is weighted by a fed `shard_weight`
  /// N·b_r/m (b_r of the m images of the global batch), so that the gradients the
  /// ``DistributedOptimizer`` averages over the ranks are the global batch's mean gradient.
  static func buildTraining(_ c: Configuration, learningRate: LearningRate, communicator: (any Communicator)?) throws -> TrainingParts<FashionNetwork> {
    let net = try FashionNetwork(kind: c.model, seed: c.seed)
    let labels = net.graph.placeholder(.int32, shape: [nil], name: "labels")
    let loss = try sparseSoftmaxCrossEntropy(logits: net.logits, labels: labels)
    let shardWeight = communicator != nil ? net.graph.placeholder(.float32, shape: [], name: "shard_weight") : nil
    var optimizer: any Optimizer = try AdamOptimizer(learningRate: learningRate)
    if let communicator { optimizer = DistributedOptimizer(optimizer, communicator: communicator) }
    let train = try optimizer.minimize(shardWeight.map { try loss * $0 } ?? loss)
    return TrainingParts(
      net: net, labels: labels, loss: loss, shardWeight: shardWeight, train: train, stepCounter: optimizer.stepCounter(in: net.graph))
  }

  /// Adds the inference branch (`pixels_raw` → `/ 255` → the layers, without dropout →
  /// `logits`) to the training graph and saves the whole model; the branch adds operations,
  /// not variables, so the directory restores into the training graph built by the same code.
  static func saveWholeModel(_ net: FashionNetwork, session: Session, to path: String, metadata: [String: String]) throws {
    let g = net.graph
    let side = FashionMNIST.side
    let raw = g.placeholder(.float32, shape: [nil, side * side], name: "pixels_raw")
    var h = try divide(raw, g.constant(NDArray(scalar: 255, dtype: .float32), name: "pixel_scale"), name: "pixels_scaled")
    if net.kind != .mlp { h = try reshape(h, to: [-1, side, side, 1], name: "images_raw") }
    for layer in net.model.layers where !(layer is Dropout) { h = try layer(h) }
    h = try identity(h, name: "logits")
    var all = metadata
    all["input"] = raw.name
    all["output"] = h.name
    all["format"] = "backprop-model"
    all["input-description"] = "rows of 784 pixel values 0...255 (28x28 images)"
    try session.saveModel(to: path, metadata: all)
  }

  /// `epoch  3/15  loss 0.2843  train 0.8951  test 0.9012  41.20 s`.
  public static func format(_ e: DigitsEpoch, of total: Int) -> String {
    e.formatted(of: total, time: "\(formatFixed(e.seconds, decimals: 2)) s")
  }
}

/// A saved Fashion-MNIST classifier: its architecture and every variable of its training graph
/// (the layers' weights, batch normalization's moving averages, Adam's slots and step count), so
/// it can both predict and resume training. Saved as safetensors:
///
/// - tensors named by the variables' operation names (`conv2d/kernel`, `dense/bias`,
///   `conv2d/kernel/Adam`...), float32 (the step counter as it is);
/// - metadata `format` = `backprop-fashion`, `model` = `cnn` (`mlp`, `cnn-bn`), `layers` = the
///   layers in words, `epochs` = the number of epochs trained, `input` = `28x28x1 pixels / 255`.
public struct FashionModel: Sendable {
  /// The `format` metadata value.
  public static let formatName = "backprop-fashion"
  /// The architecture.
  public let kind: FashionModelKind
  /// The epochs trained.
  public let epochsDone: Int
  /// Every variable's value, by the variable's operation name.
  public let values: [String: NDArray]
  /// The state of the dropout masks' generator (`Checkpoint.randomStateMetadata(of:)`), so that
  /// a resumed run draws the masks of the uninterrupted one.
  public let randomStates: [String: String]

  /// The current values of every variable of `graph` in `session`.
  /// - Throws: session errors.
  public init(session: Session, graph: Graph, kind: FashionModelKind, epochsDone: Int) throws {
    var values: [String: NDArray] = [:]
    for v in graph.variables { values[v.operation.name] = try session.value(of: v) }
    self.kind = kind
    self.epochsDone = epochsDone
    self.values = values
    randomStates = Checkpoint.randomStateMetadata(of: session)
  }

  /// The file's contents (see the type's description).
  public var file: SafetensorsFile {
    SafetensorsFile(
      tensors: values,
      metadata: [
        "format": Self.formatName, "model": kind.rawValue, "layers": kind.layerDescription, "epochs": String(epochsDone),
        "input": "28x28x1 pixels / 255",
      ].merging(randomStates) { a, _ in a })
  }

  /// Writes the model atomically (nothing is written on failure).
  /// - Throws: `ArrayCore/ArrayFileError`.
  public func save(toPath path: String) throws { try file.write(toPath: path) }

  /// Reads a model saved by `save(toPath:)`.
  /// - Throws: `ArrayCore/ArrayFileError` for an unreadable or malformed file, `RecipeError`
  ///   when it is not a Fashion-MNIST model or a weight is NaN or infinite.
  public init(contentsOfFile path: String) throws {
    let file = try SafetensorsFile(contentsOfFile: path)
    guard file.metadata["format"] == Self.formatName else {
      throw RecipeError("\(path): not a Fashion-MNIST model (no __metadata__ format \"\(Self.formatName)\")")
    }
    guard let name = file.metadata["model"], let kind = FashionModelKind(rawValue: name) else {
      throw RecipeError(
        "\(path): unknown model \"\(file.metadata["model"] ?? "")\" (expected \(FashionModelKind.allCases.map(\.rawValue).joined(separator: ", ")))")
    }
    guard let epochsText = file.metadata["epochs"], let epochs = Int(epochsText), epochs >= 0 else {
      throw RecipeError("\(path): bad epochs metadata \"\(file.metadata["epochs"] ?? "")\"")
    }
    // NaN or infinite weights would give every image a class computed from garbage.
    for (name, value) in file.tensors where value.dtype.isFloatingPoint {
      if let bad = value.doubles.first(where: { !$0.isFinite }) {
        throw RecipeError("\(path): the tensor \(SafeText.excerpt(name)) holds \(bad); a model's weights must be finite numbers")
      }
    }
    self.kind = kind
    self.epochsDone = epochs
    self.values = file.tensors
    randomStates = file.metadata.filter { $0.key.hasPrefix(Checkpoint.randomStatePrefix) }
  }

  /// Sets the variables of `graph` in `session` from the saved values: every variable when
  /// `requireAll` (resuming), else the ones saved (predicting: the graph has no optimizer).
  /// - Throws: `RecipeError` naming a missing variable or a shape or dtype that does not fit.
  public func load(into session: Session, graph: Graph, requireAll: Bool) throws {
    for v in graph.variables {
      let name = v.operation.name
      guard let value = values[name] else {
        if requireAll { throw RecipeError("the saved model has no variable \(name)") }
        continue
      }
      guard value.dtype == v.dtype, v.shape.accepts(value.shape) else {
        throw RecipeError("variable \(name): the saved value is \(value.dtype) \(value.shape), the model needs \(v.dtype) \(v.shape)")
      }
      try session.setValue(value, for: v)
    }
    if requireAll { try Checkpoint.restoreRandomStates(session: session, from: randomStates, source: "the saved model") }
  }

  /// The predicted class of each row of pixels `[n, 784]` scaled to `[0, 1]`.
  /// - Throws: `RecipeError` when `pixels` is not `[n, 784]` float32; a missing weight.
  public func predict(_ pixels: NDArray) throws -> [Int] {
    let d = FashionMNIST.side * FashionMNIST.side
    guard pixels.rank == 2, pixels.shape[1] == d, pixels.dtype == .float32 else {
      throw RecipeError("expected float32 rows of \(d) pixels, got \(pixels.dtype) \(pixels.shape)")
    }
    let (net, session) = try inferenceSession()
    return try net.predict(session, pixels)
  }

  /// The network with the saved weights, in a session.
  /// - Throws: `RecipeError` for a missing weight.
  func inferenceSession() throws -> (FashionNetwork, Session) {
    let net = try FashionNetwork(kind: kind, seed: 0)
    let session = Session(graph: net.graph)
    try session.initializeVariables()
    let needed = net.model.variables.map { $0.operation.name }
    if let missing = needed.first(where: { values[$0] == nil }) {
      throw RecipeError("the saved model has no variable \(missing)")
    }
    try load(into: session, graph: net.graph, requireAll: false)
    return (net, session)
  }

  /// The logits `[n, 10]` of rows of pixels `[n, 784]` scaled to `[0, 1]` (inference mode).
  /// - Throws: `RecipeError` when `pixels` is not `[n, 784]` float32; a missing weight.
  public func logits(_ pixels: NDArray) throws -> NDArray {
    let d = FashionMNIST.side * FashionMNIST.side
    guard pixels.rank == 2, pixels.shape[1] == d, pixels.dtype == .float32 else {
      throw RecipeError("expected float32 rows of \(d) pixels, got \(pixels.dtype) \(pixels.shape)")
    }
    let (net, session) = try inferenceSession()
    let rows = try net.logits(session, pixels)
    return NDArray(rows.flatMap { $0 }, shape: [rows.count, FashionMNIST.classCount])
  }

  /// The classifier as an ONNX model (opset 13) for other runtimes: input `pixels` (float32
  /// `[n, 784]`, values in `[0, 1]`), output `logits` (float32 `[n, 10]`), in inference mode
  /// (dropout off, batch normalization with its moving statistics), the weights as
  /// initializers; the convolutions and poolings are ONNX's NCHW operations between
  /// `Transpose` nodes (``GraphCore/Graph/onnxModel(inputs:outputs:session:name:)``).
  /// `backprop export --onnx` writes it.
  /// - Throws: `RecipeError` for a missing weight; `GraphDefError` for an operation ONNX
  ///   export lacks.
  public func onnxModel() throws -> [UInt8] {
    let (net, session) = try inferenceSession()
    let logits = try identity(net.logits, name: "logits")
    return try net.graph.onnxModel(inputs: [net.input], outputs: [logits], session: session)
  }
}
