import ArrayCore
import Datasets
import Foundation
import GraphCore
import Recipes
import Testing
import TestSupport
import Training

#if canImport(Glibc)
  import Glibc
#endif

// Data-parallel training. The first suite needs no MPI: shards, the one-rank communicator and the
// fused all-reduce. The second runs the built `backprop` under MPICH's `mpiexec` (1, 2 and 3
// ranks): it is skipped, visibly, when mpiexec.hydra or the binary is missing
// (apt-get install mpich; swift build).

@Suite struct DistributedBasicsTests {
  @Test func shardsTileEveryGlobalBatchInOrder() throws {
    let data = try Dataset(features: NDArray((0..<50).map(Float.init), shape: [50, 1]), labels: NDArray((0..<50).map(Int32.init), shape: [50]))
    for ranks in 1...4 {
      let batches = try data.epoch(3, batchSize: 6 * ranks, seed: 9)
      for i in batches.indices {
        let whole = batches[i].labels.scalars(as: Int32.self)
        let joined = (0..<ranks).flatMap { batches.shard(i, rank: $0, of: ranks).labels.scalars(as: Int32.self) }
        #expect(joined == whole, "ranks \(ranks), batch \(i)")
        if whole.count == 6 * ranks {
          #expect((0..<ranks).allSatisfy { batches.shardRange(i, rank: $0, of: ranks).count == 6 })
        }
      }
    }
  }

  @Test func oneRankCollectivesAreIdentities() throws {
    let world = SingleProcessCommunicator()
    let a = NDArray([Float(1), 2, 3], shape: [3]), b = NDArray([Float(4)], shape: [1])
    let reduced = try world.allReduce([a, b], .mean)
    #expect(reduced[0].isBitIdentical(to: a) && reduced[1].isBitIdentical(to: b))
    let sent = try world.broadcast([a, NDArray([1.5, 2.5], shape: [2])], root: 0)
    #expect(sent[0].isBitIdentical(to: a))
    #expect(throws: DistributedError.self) { _ = try world.broadcast([a], root: 1) }
    #expect(try world.allGatherVariable([1, 2, 3]) == [[1, 2, 3]])
  }

  @Test func distributedOptimizerFusesGradientsIntoOneAllReduce() throws {
    // One rank: the wrapped optimizer's steps are bit-identical to the plain optimizer's, and
    // the graph holds exactly one AllReduce (all gradients in one flat buffer).
    func train(distributed: Bool) throws -> (NDArray, Int) {
      let graph = Graph()
      let x = graph.placeholder(.float32, shape: [nil, 3], name: "x")
      let dense = try Dense(graph: graph, inputSize: 3, units: 2, activation: .tanh, seed: 4, name: "d")
      let loss = try mean(square(dense(x)))
      var optimizer: any Optimizer = try AdamOptimizer(learningRate: .constant(0.1))
      if distributed { optimizer = DistributedOptimizer(optimizer, communicator: SingleProcessCommunicator()) }
      let train = try optimizer.minimize(loss)
      let session = Session(graph: graph)
      try session.initializeVariables()
      if distributed { try session.broadcastVariables(from: 0, over: SingleProcessCommunicator()) }
      for k in 0..<5 {
        try session.run(train, feeding: [x: randomArray([4, 3], seed: UInt64(k), dtype: .float32)])
      }
      let reductions = graph.operations.filter { $0.type == "AllReduce" }.count
      return (try session.value(of: dense.kernel), reductions)
    }
    let (plain, none) = try train(distributed: false)
    let (wrapped, one) = try train(distributed: true)
    #expect(none == 0 && one == 1)
    #expect(wrapped.isBitIdentical(to: plain))
  }

  @Test func variableSignatureNamesShapesAndDtypes() throws {
    let g1 = Graph(), g2 = Graph()
    _ = try g1.variable(NDArray.zeros([2, 3]), name: "w")
    _ = try g2.variable(NDArray.zeros([3, 2]), name: "w")
    let s1 = Session(graph: g1)
    try s1.initializeVariables()
    try s1.verifySameVariables(over: SingleProcessCommunicator())  // one rank: trivially the same
  }
}

// MARK: - Under mpiexec

/// The directory of the built products (`.build/debug`), where `backprop` is.
private let products = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
private let backprop = products + "/backprop"

/// MPICH's launcher, if installed.
let hydra: String? = {
  let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin"
  return (path.split(separator: ":").map(String.init) + ["/usr/bin"]).map { $0 + "/mpiexec.hydra" }
    .first { FileManager.default.isExecutableFile(atPath: $0) }
}()

/// Open MPI's launcher, if installed (Debian's openmpi-bin).
private let openMPI: String? = ["/usr/bin/mpirun.openmpi", "/usr/local/bin/mpirun.openmpi"].first {
  FileManager.default.isExecutableFile(atPath: $0)
}

private let mpiReady = hydra != nil && FileManager.default.isExecutableFile(atPath: backprop)
private let mpiSkipReason: Comment =
  "needs MPICH's mpiexec.hydra (apt-get install mpich) and the built backprop binary (swift build)"

/// Runs a command, returning its exit status and its standard output and error (ended after
/// `timeout` seconds). Also `CollectiveProbeTests`'s launcher.
@discardableResult
func run(_ arguments: [String], environment: [String: String] = [:], timeout: Double = 300) throws -> (Int32, String) {
  let process = Process()
  process.executableURL = URL(fileURLWithPath: arguments[0])
  process.arguments = Array(arguments.dropFirst())
  process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
  let output = FileManager.default.temporaryDirectory.appendingPathComponent("bp-mpi-\(UUID().uuidString).txt")
  _ = FileManager.default.createFile(atPath: output.path, contents: nil)
  let handle = try FileHandle(forWritingTo: output)
  process.standardOutput = handle
  process.standardError = handle
  try process.run()
  let deadline = Date().addingTimeInterval(timeout)
  while process.isRunning && Date() < deadline { usleep(50_000) }
  if process.isRunning { process.terminate() }
  process.waitUntilExit()
  try handle.close()
  let text = readTextFile(output.path) ?? ""
  try? FileManager.default.removeItem(at: output)
  return (process.terminationStatus, text)
}

/// The repository's copy of the digits.
private let digitsCSV = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
  .deletingLastPathComponent().appendingPathComponent("Data/digits.csv").path

/// The largest relative difference `‖a − b‖₂ / ‖b‖₂` over the trainable parameters
/// (`layer*/kernel`, `layer*/bias`) of two checkpoints.
private func parameterDifference(_ a: String, _ b: String) throws -> Double {
  let x = try SafetensorsFile(contentsOfFile: a), y = try SafetensorsFile(contentsOfFile: b)
  let names = y.tensors.keys.filter { $0.hasPrefix("layer") && !$0.contains("/Adam") }.sorted()
  #expect(names.count == 4)
  var worst = 0.0
  for name in names {
    let u = try #require(x.tensors[name]).doubles, v = try #require(y.tensors[name]).doubles
    let difference = zip(u, v).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot()
    let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
    worst = max(worst, difference / norm)
  }
  return worst
}

@Suite(.serialized, .enabled(if: mpiReady, mpiSkipReason))
struct MPIDistributedTests {
  @Test(arguments: [("float32", 1e-6), ("float64", 1e-12)])
  func ranksWithBatchBMatchOneRankWithBatchNB(dtype: String, tolerance: Double) throws {
    // The same global batches of 48: 1 rank x 48, 2 x 24, 3 x 16, against the plain recipe.
    let dir = try makeScratchDirectory("mpi")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let common = ["digits", "--epochs", "1", "--dtype", dtype, "--quiet"]
    let (status, text) = try run([backprop] + common + ["--batch-size", "48", "--checkpoint", dir + "/ref.safetensors"])
    try #require(status == 0, "\(text)")
    for ranks in 1...3 {
      let path = dir + "/ranks\(ranks).safetensors"
      let (s, t) = try run(
        [hydra!, "-n", "\(ranks)", backprop] + common + ["--distributed", "--batch-size", "\(48 / ranks)", "--checkpoint", path])
      try #require(s == 0, "\(t)")
      #expect(t.contains("data-parallel over \(ranks) ranks"))
      #expect(t.components(separatedBy: "epoch 1/1").count == 2, "only rank 0 prints: \(t)")
      let difference = try parameterDifference(path, dir + "/ref.safetensors")
      print("MPI-EQUIVALENCE \(dtype) ranks=\(ranks) relative-difference=\(difference)")
      #expect(difference <= tolerance, "\(ranks) ranks, \(dtype): \(difference)")
    }
  }

  /// A batch size near `Int.max` over 2 ranks: the global batch saturates instead of
  /// overflowing (rank 0's opening line multiplied it unchecked and trapped, issue 12).
  @Test func aHugeBatchOverTwoRanksSaturates() throws {
    let mini = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .appendingPathComponent("Fixtures/fashion-mini").path
    let (s, t) = try run([hydra!, "-n", "2", backprop, "fashion", "--data", mini, "--model", "mlp", "--epochs", "1", "--quiet",
      "--distributed", "--batch-size", "9223372036854775807"])
    #expect(s == 0, "\(t)")
    #expect(t.contains("global batch 9223372036854775807"), "\(t)")
  }

  @Test func fashionRanksMatchOneProcessWithTheGlobalBatch() throws {
    // The fashion recipe's MLP on the small IDX fixture (no dropout, no batch normalization:
    // the model whose ranks compute exactly one process's step): 2 x 16 against 1 x 32.
    let mini = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .appendingPathComponent("Fixtures/fashion-mini").path
    let dir = try makeScratchDirectory("mpi")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let common = ["fashion", "--data", mini, "--model", "mlp", "--epochs", "2", "--quiet"]
    let (status, text) = try run([backprop] + common + ["--batch-size", "32", "--save", dir + "/one.safetensors"])
    try #require(status == 0, "\(text)")
    let (s, t) = try run([hydra!, "-n", "2", backprop] + common + ["--distributed", "--batch-size", "16", "--save", dir + "/two.safetensors"])
    try #require(s == 0, "\(t)")
    #expect(t.contains("data-parallel over 2 ranks"), "\(t)")
    #expect(t.components(separatedBy: "epoch 2/2").count == 2, "only rank 0 prints: \(t)")
    let a = try SafetensorsFile(contentsOfFile: dir + "/two.safetensors"), b = try SafetensorsFile(contentsOfFile: dir + "/one.safetensors")
    var worst = 0.0
    for name in b.tensors.keys where name.hasPrefix("dense") && !name.contains("Adam") {
      let u = try #require(a.tensors[name]).doubles, v = try #require(b.tensors[name]).doubles
      let difference = zip(u, v).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot()
      worst = max(worst, difference / max(v.reduce(0) { $0 + $1 * $1 }.squareRoot(), 1e-30))
    }
    print("MPI-EQUIVALENCE fashion mlp float32 ranks=2 relative-difference=\(worst)")
    #expect(worst <= 1e-5, "\(worst)")
  }

  @Test func resumesOnAnotherNumberOfRanks() throws {
    // Two epochs on 2 ranks x 24 straight, against one epoch on 2 ranks then the second on
    // 3 ranks x 16 and on 1 rank x 48 (the same global batches).
    let dir = try makeScratchDirectory("mpi")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let common = ["digits", "--dtype", "float64", "--quiet", "--distributed"]
    try #require(try run([hydra!, "-n", "2", backprop] + common + ["--epochs", "2", "--batch-size", "24", "--checkpoint", dir + "/straight.safetensors"]).0 == 0)
    try #require(try run([hydra!, "-n", "2", backprop] + common + ["--epochs", "1", "--batch-size", "24", "--checkpoint", dir + "/one.safetensors"]).0 == 0)
    let (s3, t3) = try run(
      [hydra!, "-n", "3", backprop] + common + [
        "--epochs", "2", "--batch-size", "16", "--restore", dir + "/one.safetensors", "--checkpoint", dir + "/three.safetensors",
      ])
    try #require(s3 == 0, "\(t3)")
    #expect(t3.contains("epoch 2/2") && !t3.contains("epoch 1/2"))
    let (s1, t1) = try run(
      [backprop] + common + ["--epochs", "2", "--batch-size", "48", "--restore", dir + "/one.safetensors", "--checkpoint", dir + "/single.safetensors"])
    try #require(s1 == 0, "\(t1)")
    #expect(try parameterDifference(dir + "/three.safetensors", dir + "/straight.safetensors") <= 1e-12)
    #expect(try parameterDifference(dir + "/single.safetensors", dir + "/straight.safetensors") <= 1e-12)
  }

  @Test func ranksWithDifferentGraphsStopBeforeTraining() throws {
    let (status, text) = try run([
      hydra!, "-n", "1", backprop, "digits", "--distributed", "--hidden", "128", ":", "-n", "1", backprop, "digits",
      "--distributed", "--hidden", "64",
    ], timeout: 60)
    #expect(status != 0)
    #expect(text.contains("the ranks' graphs differ"), "\(text)")
    #expect(text.contains("rank 1") && text.contains("layer1/kernel float32 [64, 64]"), "\(text)")
    #expect(!text.contains("epoch 1/"), "no training before the check: \(text)")
  }

  /// Ranks given different options build the same graph, so the graph check passed them: a
  /// different seed trained on overlapping shards and a different learning rate diverged,
  /// silently; a different batch size or epoch count mismatched the collectives (rank 0 printed
  /// a result, then the job died on the watchdog's timeout). They stop before training, naming
  /// the option.
  @Test(arguments: [
    ("--seed", "7", "seed is 7 on rank 1 but 42 on rank 0"),
    ("--learning-rate", "0.01", "learningRate is 0.01 on rank 1 but 0.001 on rank 0"),
    ("--batch-size", "16", "batchSize is 16 on rank 1 but 32 on rank 0"),
    ("--epochs", "3", "epochs is 3 on rank 1 but 2 on rank 0"),
  ])
  func ranksWithDifferentSettingsStopBeforeTraining(option: String, value: String, message: String) throws {
    let common = ["digits", "--distributed", "--epochs", "2", "--quiet"]
    let (status, text) = try run(
      [hydra!, "-n", "1", backprop] + common + [":", "-n", "1", backprop] + common + [option, value],
      environment: ["BACKPROP_MPI_TIMEOUT": "60"], timeout: 50)
    #expect(status != 0)
    #expect(text.contains("the ranks' settings differ: rank 1: \(message)"), "\(text)")
    #expect(!text.contains("epoch 1/"), "no training before the check: \(text)")
  }

  /// Ranks reading data files of the same size but other contents (another copy of the data
  /// on one node) passed every check and trained each rank on other rows, silently. The data's
  /// digest is one of the settings the ranks compare.
  @Test func ranksWithDifferentDataOfTheSameSizeStopBeforeTraining() throws {
    let dir = try makeScratchDirectory("mpi")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let original = digitsCSV
    var lines = try String(contentsOfFile: original, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
    // The first row's first pixel, 0 in the original, becomes 1: the same rows and columns.
    #expect(lines[0].hasPrefix("0,"))
    lines[0] = "1" + lines[0].dropFirst()
    let changed = dir + "/digits.csv"
    try lines.joined(separator: "\n").write(toFile: changed, atomically: true, encoding: .utf8)
    let common = ["digits", "--distributed", "--epochs", "1", "--quiet"]
    let (status, text) = try run(
      [hydra!, "-n", "1", backprop] + common + ["--data", original, ":", "-n", "1", backprop] + common + ["--data", changed],
      environment: ["BACKPROP_MPI_TIMEOUT": "60"], timeout: 50)
    #expect(status != 0)
    #expect(
      text.contains("the ranks' settings differ: rank 1: training data is digest ")
        || text.contains("the ranks' settings differ: rank 1: test data is digest "), "\(text)")
    #expect(!text.contains("epoch 1/"), "no training before the check: \(text)")
  }

  @Test func fashionRanksWithDifferentSettingsStopBeforeTraining() throws {
    let mini = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .appendingPathComponent("Fixtures/fashion-mini").path
    let common = ["fashion", "--data", mini, "--model", "mlp", "--epochs", "1", "--quiet", "--distributed"]
    let (status, text) = try run(
      [hydra!, "-n", "1", backprop] + common + [":", "-n", "1", backprop] + common + ["--lr-decay", "none"],
      environment: ["BACKPROP_MPI_TIMEOUT": "60"], timeout: 50)
    #expect(status != 0)
    #expect(text.contains("the ranks' settings differ: rank 1: learningRateDecay is none on rank 1 but cosine on rank 0"), "\(text)")
    #expect(!text.contains("epoch 1/"), "no training before the check: \(text)")
  }

  /// Rank 0 restores and broadcasts, and writes every file: the other ranks' nodes need none of
  /// those paths. Ranks given a checkpoint directory, a restore file and log paths that do not
  /// exist on their node refused to start (so the job waited for MPI_Init's timeout); they now
  /// train, and the job resumes from rank 0's checkpoint and writes rank 0's files.
  @Test func onlyRankZerosNodeNeedsTheFilesItReadsAndWrites() throws {
    let dir = try makeScratchDirectory("mpi")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let absent = "/nonexistent-backprop-dir"
    let common = ["digits", "--distributed", "--quiet", "--dtype", "float64"]
    let (s1, t1) = try run(
      [hydra!, "-n", "1", backprop] + common + ["--epochs", "1", "--checkpoint", dir + "/one.safetensors", "--log", dir + "/log.jsonl",
        ":", "-n", "1", backprop] + common + ["--epochs", "1", "--checkpoint", absent + "/one.safetensors", "--log", absent + "/log.jsonl"],
      environment: ["BACKPROP_MPI_TIMEOUT": "20"], timeout: 60)
    try #require(s1 == 0, "\(t1)")
    #expect(FileManager.default.fileExists(atPath: dir + "/one.safetensors") && FileManager.default.fileExists(atPath: dir + "/log.jsonl"))
    let (s2, t2) = try run(
      [hydra!, "-n", "1", backprop] + common + ["--epochs", "2", "--restore", dir + "/one.safetensors", "--checkpoint", dir + "/two.safetensors",
        ":", "-n", "1", backprop] + common + ["--epochs", "2", "--restore", absent + "/one.safetensors", "--checkpoint", absent + "/two.safetensors"],
      environment: ["BACKPROP_MPI_TIMEOUT": "20"], timeout: 60)
    try #require(s2 == 0, "\(t2)")
    #expect(t2.contains("epoch 2/2") && !t2.contains("epoch 1/2"), "resumed after epoch 1: \(t2)")
    // The same two epochs straight on two ranks give the same parameters.
    let (s3, t3) = try run([hydra!, "-n", "2", backprop] + common + ["--epochs", "2", "--checkpoint", dir + "/straight.safetensors"], timeout: 60)
    try #require(s3 == 0, "\(t3)")
    #expect(try parameterDifference(dir + "/two.safetensors", dir + "/straight.safetensors") <= 1e-12)
  }

  /// A data-parallel run's `--save-model` failed after training: the ranks' graph holds the
  /// all-reduce, which the GraphDef cannot hold. The directory now holds the one-process
  /// training graph with the trained variables (those of the run's checkpoint, bit for bit),
  /// which `predict` runs and a one-process run resumes.
  @Test func dataParallelRunsSaveTheirModel() throws {
    let dir = try makeScratchDirectory("mpi")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let (s, t) = try run(
      [hydra!, "-n", "2", backprop, "digits", "--distributed", "--quiet", "--epochs", "1", "--checkpoint", dir + "/ck.safetensors",
        "--save-model", dir + "/m"], timeout: 60)
    try #require(s == 0, "\(t)")
    #expect(t.contains("saved the whole model to \(dir)/m"), "\(t)")
    #expect(try parameterDifference(dir + "/m/variables.safetensors", dir + "/ck.safetensors") == 0)
    let (p, predicted) = try run([backprop, "predict", "--model", dir + "/m", "--input", digitsCSV], timeout: 60)
    #expect(p == 0, "\(predicted)")
    let (r, resumed) = try run([backprop, "digits", "--quiet", "--epochs", "2", "--restore", dir + "/m"], timeout: 60)
    #expect(r == 0 && resumed.contains("epoch 2/2") && !resumed.contains("epoch 1/2"), "\(resumed)")
  }

  /// Fashion's restore is read by rank 0 only (it used to be read by every rank, so every node
  /// needed the file), and its data-parallel `--save-model` is restorable.
  @Test func fashionRestoresOnRankZeroOnly() throws {
    let mini = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .appendingPathComponent("Fixtures/fashion-mini").path
    let dir = try makeScratchDirectory("mpi")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let common = ["fashion", "--data", mini, "--model", "mlp", "--quiet", "--distributed"]
    let (s0, t0) = try run([hydra!, "-n", "2", backprop] + common + ["--epochs", "1", "--save-model", dir + "/m"], timeout: 60)
    try #require(s0 == 0, "\(t0)")
    let (s, t) = try run(
      [hydra!, "-n", "1", backprop] + common + ["--epochs", "2", "--restore", dir + "/m", ":", "-n", "1", backprop] + common
        + ["--epochs", "2", "--restore", "/nonexistent-backprop-dir/m"],
      environment: ["BACKPROP_MPI_TIMEOUT": "20"], timeout: 60)
    #expect(s == 0, "\(t)")
    #expect(t.contains("epoch 2/2") && !t.contains("epoch 1/2"), "resumed after epoch 1: \(t)")
  }

  /// A rank that fails before it starts MPI (a bad option on that rank only) left the others in
  /// MPI_Init forever: Hydra does not end the job for it. They now give up after
  /// BACKPROP_MPI_TIMEOUT, naming themselves.
  @Test func aRankThatNeverStartsMPIDoesNotHangTheOthers() throws {
    let started = Date()
    let (status, text) = try run(
      [hydra!, "-n", "1", backprop, "digits", "--distributed", "--epochs", "1", "--quiet", ":", "-n", "1", backprop, "digits",
        "--distributed", "--epochs", "1", "--quiet", "--data", "/nonexistent-backprop-dir/digits.csv"],
      environment: ["BACKPROP_MPI_TIMEOUT": "3"], timeout: 60)
    let seconds = Date().timeIntervalSince(started)
    #expect(seconds < 30, "the job ran \(seconds) s: \(text)")
    #expect(status != 0)
    #expect(text.contains("--data /nonexistent-backprop-dir/digits.csv: No such file or directory"), "\(text)")
    #expect(text.contains("Error (rank 0 of 2): MPI_Init has waited more than 3 s for the other ranks"), "\(text)")
  }

  /// Ranks started without --distributed trained alone on all the data, each writing the same
  /// files (and next to ranks given --distributed, those waited in MPI_Init forever).
  @Test func ranksWithoutDistributedUnderMpiexecAreRefused() throws {
    let (status, text) = try run([hydra!, "-n", "2", backprop, "digits", "--epochs", "1", "--quiet"], timeout: 60)
    #expect(status != 0)
    #expect(text.contains("started by mpiexec as one of 2 ranks without --distributed"), "\(text)")
    #expect(!text.contains("epoch 1/"), "\(text)")
  }

  /// Open MPI's library under MPICH's launcher started each rank as a one-rank world of its own:
  /// every rank trained alone as "rank 0 of 1" and wrote the same files.
  @Test(.enabled(if: openMPI != nil, "needs Open MPI's libmpi.so.40 (apt-get install openmpi-bin)"))
  func aLibraryThatIsNotTheLaunchersIsRefused() throws {
    let (status, text) = try run(
      [hydra!, "-n", "2", "-env", "BACKPROP_MPI", "libmpi.so.40", backprop, "digits", "--distributed", "--epochs", "1", "--quiet"],
      environment: ["OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"], timeout: 60)
    #expect(status != 0)
    #expect(text.contains("the launcher started 2 ranks, but libmpi.so.40 (Open MPI) sees 1"), "\(text)")
    #expect(!text.contains("epoch 1/"), "\(text)")
  }

  @Test func aKilledRankEndsTheJobAndTheCheckpointResumes() throws {
    let dir = try makeScratchDirectory("mpi")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let checkpoint = dir + "/ck.safetensors", log = dir + "/out.txt"
    _ = FileManager.default.createFile(atPath: log, contents: nil)
    let job = Process()
    job.executableURL = URL(fileURLWithPath: hydra!)
    job.arguments = ["-n", "3", backprop, "digits", "--distributed", "--epochs", "1000", "--quiet", "--checkpoint", checkpoint]
    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
    job.standardOutput = handle
    job.standardError = handle
    try job.run()
    defer { if job.isRunning { job.terminate() } }
    // Wait for the rank table and the first checkpoint, then kill rank 1 mid-epoch.
    var pids: [Int32] = []
    let ready = Date().addingTimeInterval(120)
    while Date() < ready {
      let text = readTextFile(log) ?? ""
      if let line = text.split(separator: "\n").first(where: { $0.hasPrefix("ranks: ") }),
        FileManager.default.fileExists(atPath: checkpoint)
      {
        pids = line.split(separator: ",").compactMap { part in
          part.split(separator: " ").firstIndex(of: "pid").flatMap { i in Int32(part.split(separator: " ")[i + 1]) }
        }
        break
      }
      usleep(100_000)
    }
    try #require(pids.count == 3, "no rank table: \(readTextFile(log) ?? "")")
    usleep(150_000)
    let killed = Date()
    kill(pids[1], SIGKILL)
    while job.isRunning && Date().timeIntervalSince(killed) < 30 { usleep(50_000) }
    let seconds = Date().timeIntervalSince(killed)
    #expect(!job.isRunning, "the job still runs 30 s after a rank was killed")
    job.waitUntilExit()
    try handle.close()
    print("MPI-FAULT job ended \(seconds) s after SIGKILL of rank 1")
    #expect(seconds < 30)
    #expect(job.terminationStatus != 0)
    // The surviving ranks end with their supervisors (SIGKILL on the parent's death), a moment
    // after the launcher returns; a zombie waiting for its new parent to reap it has ended.
    func running(_ pid: Int32) -> Bool {
      guard kill(pid, 0) == 0 else { return false }
      let stat = readTextFile("/proc/\(pid)/stat") ?? ""
      guard let close = stat.lastIndex(of: ")") else { return false }
      return stat[close...].dropFirst(2).first != "Z"
    }
    let settle = Date().addingTimeInterval(5)
    while pids.contains(where: running) && Date() < settle { usleep(20_000) }
    for pid in pids { #expect(!running(pid), "rank process \(pid) is still running") }
    let text = try #require(readTextFile(log))
    // The lost rank is named, by whichever speaks first: its supervisor (the process Hydra
    // started, whose child the rank is: "... was lost: killed by signal 9") or a surviving rank's
    // watchdog ("... was lost; ending rank 0"). MPICH's Hydra SIGKILLs every process once one has
    // ended, so the other may be cut off: on a fast machine (session 12) the survivors spoke
    // first and the supervisor was killed before it wrote.
    #expect(text.contains("rank 1 (pid \(pids[1])) was lost"), "\(text)")
    // The last checkpoint loads, and training resumes from it on one rank.
    let epoch = try #require(SafetensorsFile(contentsOfFile: checkpoint).metadata["epoch"].flatMap { Int($0) })
    let (status, resumed) = try run([backprop, "digits", "--epochs", "\(epoch + 1)", "--batch-size", "96", "--quiet", "--restore", checkpoint])
    #expect(status == 0, "\(resumed)")
    #expect(resumed.contains("epoch \(epoch + 1)/\(epoch + 1)"), "\(resumed)")
  }

  @Test(
    .enabled(
      if: getuid() == 0
        && (FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") || FileManager.default.isExecutableFile(atPath: "/sbin/ip")),
      "needs root and iproute2 (ip netns) to make two network namespaces"))
  func twoRanksInTwoNetworkNamespacesMatchTwoRanksOnOneHost() throws {
    // Scripts/mpi/two-namespaces.sh: one rank in each of two namespaces joined by a veth pair,
    // Hydra and MPICH over TCP, then two ranks on one host. Two ranks sum in either order to the
    // same bits, so the parameters must be identical.
    let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().appendingPathComponent("Scripts/mpi/two-namespaces.sh").path
    let dir = try makeScratchDirectory("mpi")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let (status, text) = try run(["/bin/bash", script, backprop, dir, "--epochs", "1"], timeout: 600)
    try #require(status == 0, "\(text)")
    let crossed = text.split(separator: "\n").first { $0.hasPrefix("veth bytes") } ?? ""
    print("MPI-NETNS \(crossed)")
    let hosts = try SafetensorsFile(contentsOfFile: dir + "/hosts.safetensors")
    let local = try SafetensorsFile(contentsOfFile: dir + "/local.safetensors")
    #expect(hosts.tensors.keys.sorted() == local.tensors.keys.sorted())
    for (name, value) in local.tensors {
      #expect(hosts.tensors[name]?.isBitIdentical(to: value) == true, "\(name) differs")
    }
  }

  @Test func distributedWithoutMpiexecRunsAsOneRankAndSaysSo() throws {
    let (status, text) = try run([backprop, "digits", "--distributed", "--epochs", "1", "--quiet"])
    #expect(status == 0)
    #expect(text.contains("not started by mpiexec, training as a single rank"), "\(text)")
  }
}

/// The same job under Open MPI's launcher (`mpirun`, libmpi.so.40, chosen from the launcher's
/// environment): the equivalence and the named lost rank.
@Suite(
  .serialized,
  .enabled(if: openMPI != nil && FileManager.default.isExecutableFile(atPath: backprop), "needs Open MPI (apt-get install openmpi-bin)"))
struct OpenMPIDistributedTests {
  private func mpirun(_ ranks: Int) -> [String] { [openMPI!, "--allow-run-as-root", "--oversubscribe", "-n", "\(ranks)", backprop] }

  @Test func twoRanksMatchOneRankWithTheGlobalBatch() throws {
    let dir = try makeScratchDirectory("mpi")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let common = ["digits", "--epochs", "1", "--dtype", "float64", "--quiet"]
    let (status, text) = try run([backprop] + common + ["--batch-size", "48", "--checkpoint", dir + "/ref.safetensors"])
    try #require(status == 0, "\(text)")
    let (s, t) = try run(mpirun(2) + common + ["--distributed", "--batch-size", "24", "--checkpoint", dir + "/two.safetensors"])
    try #require(s == 0, "\(t)")
    #expect(t.contains("data-parallel over 2 ranks (Open MPI"), "\(t)")
    #expect(try parameterDifference(dir + "/two.safetensors", dir + "/ref.safetensors") <= 1e-12)
  }

  @Test func aKilledRankIsNamed() throws {
    let dir = try makeScratchDirectory("mpi")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let log = dir + "/out.txt"
    _ = FileManager.default.createFile(atPath: log, contents: nil)
    let job = Process()
    let command = mpirun(3) + ["digits", "--distributed", "--epochs", "1000", "--quiet", "--checkpoint", dir + "/ck.safetensors"]
    job.executableURL = URL(fileURLWithPath: command[0])
    job.arguments = Array(command.dropFirst())
    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
    job.standardOutput = handle
    job.standardError = handle
    try job.run()
    defer { if job.isRunning { job.terminate() } }
    var pids: [Int32] = []
    let ready = Date().addingTimeInterval(120)
    while Date() < ready && pids.count < 3 {
      let text = readTextFile(log) ?? ""
      if let line = text.split(separator: "\n").first(where: { $0.hasPrefix("ranks: ") }),
        FileManager.default.fileExists(atPath: dir + "/ck.safetensors")
      {
        pids = line.split(separator: ",").compactMap { part in
          part.split(separator: " ").firstIndex(of: "pid").flatMap { i in Int32(part.split(separator: " ")[i + 1]) }
        }
      }
      usleep(100_000)
    }
    try #require(pids.count == 3, "no rank table: \(readTextFile(log) ?? "")")
    let killed = Date()
    kill(pids[1], SIGKILL)
    while job.isRunning && Date().timeIntervalSince(killed) < 30 { usleep(50_000) }
    #expect(!job.isRunning, "the job still runs 30 s after a rank was killed")
    job.waitUntilExit()
    try handle.close()
    #expect(job.terminationStatus != 0)
    let text = try #require(readTextFile(log))
    #expect(text.contains("rank 1 (pid \(pids[1])) was lost: killed by signal 9"), "\(text)")
  }
}
