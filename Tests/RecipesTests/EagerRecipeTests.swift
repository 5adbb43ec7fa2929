import ArrayCore
import Foundation
import TestSupport
import GraphCore
import Recipes
import Testing

/// The notebook's recipes run eagerly (`--eager`) print the graph runs' lines and report the
/// same numbers, bit for bit: the same kernels, gradient definitions and update.
@Suite struct EagerRecipeTests {
  @Test(arguments: ["regression", "classification", "regression-l1-batch4"])
  func eagerRunEqualsGraphRun(name: String) throws {
    var recipe: NotebookRecipe
    switch name {
    case "regression": recipe = .regression()
    case "classification": recipe = .classification()
    default:
      var c = NotebookRecipe.Configuration.regression
      c.loss = .l1
      c.batchSize = 4
      c.steps = 60
      c.printEvery = 20
      recipe = .regression(c)
    }
    var graphLines: [String] = []
    var eagerLines: [String] = []
    let graph = try recipe.run(output: { graphLines.append($0) })
    let eager = try recipe.runEagerly(output: { eagerLines.append($0) })
    #expect(eagerLines == graphLines)
    #expect(eager.losses.map(\.bitPattern) == graph.losses.map(\.bitPattern))
    #expect(eager.finalParameters == graph.finalParameters)
    #expect(eager.accuracy == graph.accuracy)
    #expect(eager.probabilityCurve?.probabilities == graph.probabilityCurve?.probabilities)
  }

  /// `--eager` refused `--save` and `--restore`. An eager run now writes the graph run's
  /// checkpoint, byte for byte, and either run resumes from either's checkpoint with the lines
  /// of an uninterrupted run.
  @Test func eagerRunsSaveAndResumeTheGraphRunsCheckpoints() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("backprop-eager-ck-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    for mode in [[], ["--eager"]] {
      let run = try runBackpropTool(["regression", "--quiet", "--steps", "50", "--save", dir + "/\(mode.isEmpty ? "graph" : "eager").st"] + mode)
      #expect(run.status == 0, "\(run.error)")
    }
    let graphBytes = FileManager.default.contents(atPath: dir + "/graph.st"), eagerBytes = FileManager.default.contents(atPath: dir + "/eager.st")
    #expect(graphBytes != nil && graphBytes == eagerBytes)
    let full = try runBackpropTool(["regression", "--quiet"])
    let fullTail = full.output.split(separator: "\n").suffix(4)
    for checkpoint in ["graph", "eager"] {
      for mode in [[], ["--eager"]] {
        let resumed = try runBackpropTool(["regression", "--quiet", "--restore", dir + "/\(checkpoint).st"] + mode)
        #expect(resumed.status == 0, "\(resumed.error)")
        #expect(Array(resumed.output.split(separator: "\n").suffix(4)) == Array(fullTail), "\(checkpoint) checkpoint, \(mode)")
        #expect(!resumed.output.contains("Step #25 "), "resumed after step 50: \(resumed.output)")
      }
    }
    let other = try runBackpropTool(["regression", "--quiet", "--eager", "--seed", "3", "--restore", dir + "/eager.st"])
    #expect(other.status != 0 && other.error.contains("was written with --seed 42"), "\(other.error)")
  }

  /// `--eager` refused `--save-model`: an eager run now writes the graph run's model directory
  /// (its graph, built by the same model closure, holding the trained values), byte for byte.
  @Test(arguments: ["regression", "classification"])
  func eagerRunsSaveTheGraphRunsModel(recipe: String) throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("backprop-eager-model-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    for mode in ["graph", "eager"] {
      let run = try runBackpropTool([recipe, "--quiet", "--save-model", dir + "/" + mode] + (mode == "eager" ? ["--eager"] : []))
      #expect(run.status == 0, "\(run.error)")
    }
    for file in ["graph.pb", "variables.safetensors"] {
      let a = FileManager.default.contents(atPath: dir + "/graph/" + file), b = FileManager.default.contents(atPath: dir + "/eager/" + file)
      #expect(a != nil && a == b, "\(file)")
    }
  }

  /// `--eager` refused `--check-numerics`: eager operations now check their results (TF2's
  /// `enable_check_numerics`), and the run stops at the first NaN or infinity with the graph
  /// run's error line.
  @Test func eagerRunsCheckNumericsAsTheGraphRun() throws {
    let graph = try runBackpropTool(["regression", "--quiet", "--learning-rate", "10", "--check-numerics"])
    let eager = try runBackpropTool(["regression", "--quiet", "--learning-rate", "10", "--check-numerics", "--eager"])
    #expect(graph.status != 0 && eager.status != 0)
    #expect(graph.error.contains("produced NaN or infinity"), "\(graph.error)")
    #expect(eager.error == graph.error && eager.output == graph.output, "\(eager.error)")
  }

  /// `--eager` refused `--logdir`: an eager run now writes the graph run's TensorBoard events
  /// (the model's graph, the scalars per step, the weights' and gradients' histograms), equal
  /// event by event but for their wall times.
  @Test func eagerRunsLogTheGraphRunsTensorBoardEvents() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("backprop-eager-tb-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: dir) }
    var events: [[[UInt8]]] = []
    for mode in ["graph", "eager"] {
      let run = try runBackpropTool(["classification", "--quiet", "--steps", "250", "--logdir", dir + "/" + mode] + (mode == "eager" ? ["--eager"] : []))
      #expect(run.status == 0, "\(run.error)")
      let name = try #require(try FileManager.default.contentsOfDirectory(atPath: dir + "/" + mode).first)
      let bytes = [UInt8](try #require(FileManager.default.contents(atPath: dir + "/" + mode + "/" + name)))
      // Each event without its wall time (field 1), the only field that differs between runs.
      events.append(
        try TFRecord.records(in: bytes).map { record in
          var r = ProtobufReader(Array(record), format: "Event")
          var kept: [UInt8] = []
          while let f = try r.next() {
            if f.number != 1 { kept += Array("\(f.number):\(f.value);".utf8) }
          }
          return kept
        })
    }
    #expect(events[0].count > 10 && events[0] == events[1])
  }
}
