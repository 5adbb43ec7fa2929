import Backprop

/// The `cnn` group of `backprop bench`: the Keras example CNN (Conv2D(32, 3x3) + ReLU,
/// MaxPool 2, Conv2D(64, 3x3) + ReLU, MaxPool 2, Flatten, Dropout 0.5, Dense(10), softmax
/// cross-entropy, Adam 1e-3, batch 128, 28x28x1 inputs) built from raw graph operations, and the
/// same with batch normalization between each convolution and its ReLU (the `BatchNorm` layer in
/// training mode: Keras's `BatchNormalization()`, momentum 0.99, ε 1e-3; `backprop fashion
/// --model cnn-bn`), each timed per epoch of 60,000 synthetic images (a fresh batch each step);
/// and the throughput of each convolution and pooling kernel at that model's shapes, forward
/// and backward.
extension BenchCommand {
  /// The two models' workload names (`cnn epoch, <name>` and `cnn images/s, <name>`).
  static let cnnModels = [(name: "Keras example CNN, batch 128", batchNorm: false),
                          (name: "Keras example CNN with batch normalization, batch 128", batchNorm: true)]

  /// The images per epoch and the batch size of the Keras example.
  static let cnnImages = 60_000
  static let cnnBatch = 128

  /// The training step of the Keras example CNN on synthetic data, as a closure that runs one
  /// step on the next batch, and the session it runs in (made with `options`).
  func cnnTrainingStep(
    seed: UInt64 = 7, batchNorm: Bool = false, options: Session.Options = .init()
  ) throws -> (step: () throws -> Void, session: Session) {
    let graph = Graph()
    let x = graph.placeholder(.float32, shape: [nil, 28, 28, 1], name: "images")
    let labels = graph.placeholder(.int32, shape: [nil], name: "labels")
    let w1 = try graph.variable(.glorotUniform, shape: [3, 3, 1, 32], seed: seed, name: "conv1/kernel")
    let b1 = try graph.variable(.zeros, shape: [32], name: "conv1/bias")
    let w2 = try graph.variable(.glorotUniform, shape: [3, 3, 32, 64], seed: seed + 1, name: "conv2/kernel")
    let b2 = try graph.variable(.zeros, shape: [64], name: "conv2/bias")
    let w3 = try graph.variable(.glorotUniform, shape: [1600, 10], seed: seed + 2, name: "dense/kernel")
    let b3 = try graph.variable(.zeros, shape: [10], name: "dense/bias")
    // With batch normalization: the layer in training mode (its flag's default), whose
    // moving-average updates `minimize` runs with each step.
    let phase = try TrainingPhase(graph: graph, default: true)
    func normalized(_ t: Tensor, _ channels: Int) throws -> Tensor {
      batchNorm ? try BatchNorm(graph: graph, channels: channels, phase: phase)(t) : t
    }
    var h = try maxPool2d(relu(normalized(conv2d(x, w1) + b1, 32)), window: [2, 2])
    h = try maxPool2d(relu(normalized(conv2d(h, w2) + b2, 64)), window: [2, 2])
    h = try reshape(h, to: [-1, 1600])
    h = try dropout(h, rate: 0.5, seed: seed + 3, training: true)
    let logits = try matmul(h, w3) + b3
    let loss = try mean(sparseSoftmaxCrossEntropyWithLogits(logits: logits, labels: labels))
    let train = try AdamOptimizer(learningRate: 0.001, epsilon: 1e-7).minimize(loss)
    let session = Session(graph: graph, options: options)
    try session.initializeVariables()
    let step = try session.prepare(feeds: [x, labels], targets: [train])

    // Synthetic data: 60,000 images in [0, 1) and labels, cut into batches of 128 (the last
    // one short, as Keras does); each step feeds the next batch.
    var rng = SeededGenerator(seed: seed + 4)
    let n = Self.cnnImages, b = Self.cnnBatch
    let images = try rng.uniformArray(shape: [n, 28, 28, 1], low: 0, high: 1, dtype: .float32)
    let classes = (0..<n).map { _ in Int32(rng.choice(10)) }
    let batches = (0..<(n + b - 1) / b).map { i -> (NDArray, NDArray) in
      let lo = i * b, hi = Swift.min(n, lo + b)
      let pixels = images.withUnsafeBufferPointer(as: Float.self) { Array($0[(lo * 784)..<(hi * 784)]) }
      return (NDArray(pixels, shape: [hi - lo, 28, 28, 1]), NDArray(Array(classes[lo..<hi]), shape: [hi - lo]))
    }
    let state = FloorState()
    let run = {
      let (xb, yb) = batches[state.i % batches.count]
      state.i += 1
      try step.setFeed(0, to: xb)
      try step.setFeed(1, to: yb)
      try step.run()
    }
    return (run, session)
  }

  /// Where the example CNN's training step goes, operation by operation: `steps` steps after 5
  /// warm-up steps, in a session with ``Session/Options/profiles`` (its own, not the timed one).
  func cnnStepProfile(steps: Int, batchNorm: Bool = false) throws -> RunProfile {
    let (step, session) = try cnnTrainingStep(batchNorm: batchNorm, options: .init(profiles: true))
    for _ in 0..<5 { try step() }
    session.resetProfile()
    for _ in 0..<steps { try step() }
    return session.profile
  }

  /// Times `repetitions` blocks of `steps` training steps of the example CNN (after 5 warm-up
  /// steps): seconds per epoch (the time per step x 469, the last batch of 96 images counted as
  /// a full one) and images per second.
  func measureCNNEpoch(steps: Int, repetitions: Int, model: (name: String, batchNorm: Bool)) throws -> [BenchResult] {
    let step = try cnnTrainingStep(batchNorm: model.batchNorm).step
    let stepsPerEpoch = Double((Self.cnnImages + Self.cnnBatch - 1) / Self.cnnBatch)
    for _ in 0..<5 { try step() }  // warm-up: plan built, buffers sized
    var seconds: [Double] = []
    let clock = ContinuousClock()
    for _ in 0..<repetitions {
      let t0 = clock.now
      for _ in 0..<steps { try step() }
      let d = clock.now - t0
      let s = Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
      seconds.append(s / Double(steps) * stepsPerEpoch)
    }
    seconds.sort()
    let median = seconds[seconds.count / 2]
    let images = Double(Self.cnnImages)
    return [
      BenchResult(
        workload: "cnn epoch, \(model.name)", metric: "time per epoch", unit: "s",
        median: median, min: seconds.first!, max: seconds.last!, allocations: nil),
      BenchResult(
        workload: "cnn images/s, \(model.name)", metric: "throughput", unit: "images/s",
        median: images / median, min: images / seconds.last!, max: images / seconds.first!, allocations: nil),
    ]
  }

  /// The convolution and pooling kernels at the example CNN's shapes (batch 128), as GFLOP/s
  /// (2 flops per multiply-add; pooling counts one flop per window element read).
  func cnnKernelWorkloads(wanted: (String) -> Bool) throws -> [KernelWorkload] {
    var rng = SeededGenerator(seed: 12)
    let n = Self.cnnBatch
    let x1 = try rng.uniformArray(shape: [n, 28, 28, 1], low: 0, high: 1, dtype: .float32)
    let w1 = try rng.uniformArray(shape: [3, 3, 1, 32], low: -0.3, high: 0.3, dtype: .float32)
    let x2 = try rng.uniformArray(shape: [n, 13, 13, 32], low: 0, high: 1, dtype: .float32)
    let w2 = try rng.uniformArray(shape: [3, 3, 32, 64], low: -0.1, high: 0.1, dtype: .float32)
    let g1 = try rng.uniformArray(shape: [n, 26, 26, 32], low: -1, high: 1, dtype: .float32)
    let g2 = try rng.uniformArray(shape: [n, 11, 11, 64], low: -1, high: 1, dtype: .float32)
    let p2 = try rng.uniformArray(shape: [n, 5, 5, 64], low: -1, high: 1, dtype: .float32)
    let p1 = try rng.uniformArray(shape: [n, 13, 13, 32], low: -1, high: 1, dtype: .float32)
    let geo = WindowGeometry(window: [3, 3], strides: [1, 1], padding: .valid)
    let pool = WindowGeometry(window: [2, 2], strides: [2, 2], padding: .valid)
    var y = NDArray()
    let conv1 = 2.0 * Double(n * 26 * 26 * 9 * 32) / 1e9
    let conv2 = 2.0 * Double(n * 11 * 11 * 288 * 64) / 1e9
    let list = [
      KernelWorkload(name: "cnn conv1 forward 28x28x1 -> 26x26x32", unit: "GFLOP/s", workPerCall: conv1, calls: 20) {
        try Kernels.conv2d(x1, w1, geo, into: &y)
      },
      KernelWorkload(name: "cnn conv1 filter gradient", unit: "GFLOP/s", workPerCall: conv1, calls: 20) {
        try Kernels.conv2dBackpropFilter(x1, g1, filterHeight: 3, filterWidth: 3, geo, into: &y)
      },
      KernelWorkload(name: "cnn conv2 forward 13x13x32 -> 11x11x64", unit: "GFLOP/s", workPerCall: conv2, calls: 20) {
        try Kernels.conv2d(x2, w2, geo, into: &y)
      },
      KernelWorkload(name: "cnn conv2 input gradient", unit: "GFLOP/s", workPerCall: conv2, calls: 20) {
        try Kernels.conv2dBackpropInput(g2, w2, inputHeight: 13, inputWidth: 13, inputChannels: 32, geo, into: &y)
      },
      KernelWorkload(name: "cnn conv2 filter gradient", unit: "GFLOP/s", workPerCall: conv2, calls: 20) {
        try Kernels.conv2dBackpropFilter(x2, g2, filterHeight: 3, filterWidth: 3, geo, into: &y)
      },
      KernelWorkload(name: "cnn maxpool1 forward 26x26x32", unit: "GFLOP/s", workPerCall: Double(n * 26 * 26 * 32) / 1e9, calls: 50) {
        try Kernels.pool(.max, g1, nil, pool, into: &y)
      },
      KernelWorkload(name: "cnn maxpool1 gradient", unit: "GFLOP/s", workPerCall: Double(n * 26 * 26 * 32) / 1e9, calls: 50) {
        try Kernels.pool(.maxGradient, g1, p1, pool, into: &y)
      },
      KernelWorkload(name: "cnn maxpool2 forward 11x11x64", unit: "GFLOP/s", workPerCall: Double(n * 10 * 10 * 64) / 1e9, calls: 50) {
        try Kernels.pool(.max, g2, nil, pool, into: &y)
      },
      KernelWorkload(name: "cnn maxpool2 gradient", unit: "GFLOP/s", workPerCall: Double(n * 10 * 10 * 64) / 1e9, calls: 50) {
        try Kernels.pool(.maxGradient, g2, p2, pool, into: &y)
      },
    ]
    return list.filter { wanted($0.name) }
  }
}
