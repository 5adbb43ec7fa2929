@testable import GraphCore
import Testing
import Training

/// ``Session/Options/profiles``: every operation a run executes is counted once per run under
/// its own name and kernel, the results are the same bits as without profiling, and a session
/// without the option records nothing.
@Suite struct ProfileTests {
  /// The notebook's classification step (one sample: a plan the scalar fast path would take)
  /// and a batch version of it, with the fetched loss.
  func notebookStep(batch: Int) throws -> (Graph, Tensor, Tensor, Tensor, Operation) {
    let g = Graph()
    let x = g.placeholder(.float32, shape: [batch], name: "x")
    let y = g.placeholder(.float32, shape: [batch], name: "y")
    let a = try g.variable(NDArray([Float(10)]), name: "A")
    let loss = try mean(sigmoidCrossEntropyWithLogits(logits: x + a, labels: y), name: "loss")
    let train = try GradientDescentOptimizer(learningRate: 0.05).minimize(loss)
    return (g, x, y, loss, train)
  }

  @Test(arguments: [1, 32]) func everyOperationIsCountedOncePerRun(batch: Int) throws {
    var losses: [[Float]] = []
    for profiles in [false, true] {
      let (g, x, y, loss, train) = try notebookStep(batch: batch)
      let session = Session(graph: g, options: .init(profiles: profiles))
      try session.initializeVariables()
      session.resetProfile()
      // Runs through `Session.run` and a prepared step of the same plan.
      let step = try session.prepare(fetches: [loss], feeds: [x, y], targets: [train])
      var rng = SeededGenerator(seed: 3)
      var trace: [Float] = []
      for i in 0..<5 {
        let xs = try rng.normalArray(shape: [batch], mean: 1, standardDeviation: 1, dtype: .float32)
        let ys = NDArray((0..<batch).map { Float($0 % 2) }, shape: [batch])
        let value = i % 2 == 0 ? try session.run([loss], feeding: [x: xs, y: ys], targets: [train])[0] : try step([xs, ys])[0]
        trace += value.scalars(as: Float.self)
      }
      losses.append(trace)
      let profile = session.profile
      if !profiles {
        #expect(profile.operations.isEmpty)
        continue
      }
      // The plan's steps, each run 5 times, under the graph's names and types.
      let plan = step.plan
      #expect(profile.operations.count == plan.steps.count)
      let names = Set(profile.operations.map(\.name))
      for step in plan.steps {
        #expect(names.contains(g.nodes[step.node].name), "\(g.nodes[step.node].name) is not in the profile")
      }
      for op in profile.operations {
        #expect(op.calls == 5, "\(op.name) ran \(op.calls) times")
        #expect(op.seconds >= 0)
      }
      #expect(profile.operations.contains { $0.name == "loss" })  // (the mean's last operation)
      // The slowest first.
      let seconds = profile.operations.map(\.seconds)
      #expect(seconds == seconds.sorted(by: >))
      #expect(abs(profile.totalSeconds - seconds.reduce(0, +)) <= 1e-12)
      // The table lists every operation and the total.
      let table = profile.description
      #expect(table.split(separator: "\n").count == profile.operations.count + 2)
      #expect(table.contains("loss") && table.hasPrefix("  share") && table.contains("total"))
      #expect(profile.table(limit: 2).contains("(\(profile.operations.count - 2) more)"))
      // Summed by type: one entry per kernel type, the calls and times of its operations.
      let byType = profile.groupedByType()
      #expect(byType.operations.count < profile.operations.count)  // (some types repeat)
      #expect(byType.operations.map(\.type).sorted() == Array(Set(profile.operations.map(\.type))).sorted())
      for entry in byType.operations {
        let members = profile.operations.filter { $0.type == entry.type }
        #expect(entry.name == entry.type && entry.calls == members.reduce(0) { $0 + $1.calls })
        #expect(abs(entry.seconds - members.reduce(0) { $0 + $1.seconds }) <= 1e-12)
      }
      #expect(byType.operations.map(\.seconds) == byType.operations.map(\.seconds).sorted(by: >))
      #expect(abs(byType.totalSeconds - profile.totalSeconds) <= 1e-9)
      #expect(byType.description.hasSuffix("in \(byType.operations.count) kernel types"))
      session.resetProfile()
      #expect(session.profile.operations.isEmpty)
    }
    // Profiling skips the scalar fast path, whose results are the general path's bits.
    #expect(losses[0].map(\.bitPattern) == losses[1].map(\.bitPattern))
  }

  /// A fused kernel is timed as one operation, under the fused kernel's type.
  @Test func fusedKernelsAreTimedAsOneOperation() throws {
    let g = Graph()
    let x = g.placeholder(.float32, shape: [2, 6, 6, 1], name: "x")
    let w = try g.variable(randomNormal(g, shape: [3, 3, 1, 4], seed: 1), name: "w")
    let b = try g.variable(NDArray.zeros([4], dtype: .float32), name: "b")
    let h = try relu(conv2d(x, w) + b, name: "activation")
    let session = Session(graph: g, options: .init(profiles: true))
    try session.initializeVariables()
    session.resetProfile()
    var rng = SeededGenerator(seed: 2)
    _ = try session.run(h, feeding: [x: try rng.uniformArray(shape: [2, 6, 6, 1], low: -1, high: 1, dtype: .float32)])
    let profile = session.profile
    // The convolution, the bias and the ReLU as one kernel, beside the two variables' reads.
    let kernels = profile.operations.filter { $0.type != "VariableV2" }
    #expect(kernels.map(\.type) == ["Conv2D+Add+Relu"], "\(profile.operations)")
    #expect(kernels.first?.name == "activation")
    #expect(profile.operations.count == 3)
  }
}
