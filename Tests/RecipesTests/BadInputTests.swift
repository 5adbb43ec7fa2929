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

// The cases of RELIABILITY.md's "Bad input" catalogue that no other suite covers: each bad
// input is a thrown error with a clear message (or a documented result), never a trap, and no
// file the user had is lost or changed.

@Suite struct BadInputTests {
  @Test func feedsOfForeignAndUnusedTensors() throws {
    let g = Graph(), other = Graph()
    let x = g.placeholder(.float32, shape: [2], name: "x")
    let unused = g.placeholder(.float32, shape: [2], name: "unused")
    let foreign = other.placeholder(.float32, shape: [2], name: "foreign")
    let y = try x * 3
    let s = Session(graph: g)
    let two = NDArray([Float(1), 2])
    #expect(throws: SessionError.foreignTensor(name: "foreign:0")) { try s.run(y, feeding: [x: two, foreign: two]) }
    #expect("\(SessionError.foreignTensor(name: "foreign:0"))".contains("'foreign:0'"))
    // Documented result: a feed the fetches do not need is accepted and ignored, as in TF1.
    #expect(try s.run(y, feeding: [x: two, unused: NDArray([Float(7), 7])]).scalars(as: Float.self) == [3, 6])
    // A prepared step refuses a tensor fed twice, naming it.
    expectError(["x:0", "fed twice"]) { _ = try s.prepare(fetches: [y], feeds: [x, x]) }
  }

  @Test func emptyDataSetsAndBadBatchSizes() throws {
    // Documented result: an empty data set is valid and has no batches; fitting statistics on
    // it is an error naming the shape.
    let empty = try Dataset(features: NDArray.zeros([0, 3], dtype: .float32), labels: NDArray([Int32]()))
    #expect(empty.count == 0)
    #expect(try empty.batches(size: 4).count == 0)
    #expect(try empty.epoch(0, batchSize: 4, seed: 1).count == 0)
    expectError(["Standardizer", "n >= 1", "[0, 3]"]) { _ = try Standardizer(fitting: empty.features) }
    let three = try Dataset(features: NDArray.zeros([3, 2], dtype: .float32), labels: NDArray([Int32(0), 1, 2]))
    for size in [0, -1, Int.min] {
      expectError(["Dataset.batches", "batch size must be at least 1, got \(size)"]) { _ = try three.batches(size: size) }
      expectError(["batch size must be at least 1"]) { _ = try three.epoch(0, batchSize: size, seed: 1) }
    }
    // Non-finite cells in a CSV are refused like any other non-number.
    for text in ["inf", "-inf", "NaN", "1e999"] {
      expectError(["line 1, column 1", "\"\(text)\" is not a number"]) { _ = try Dataset.parseCSV("\(text),1\n", source: "f.csv") }
    }
  }

  @Test func badLearningRatesInRecipes() throws {
    for rate in [Double.nan, -0.5, 0, .infinity] {
      var r = NotebookRecipe.Configuration.regression
      r.learningRate = rate
      r.steps = 2
      expectError(["[GradientDescent]", "learning rate"]) { _ = try NotebookRecipe.regression(r).run(output: { _ in }) }
      var c = NotebookRecipe.Configuration.classification
      c.learningRate = rate
      c.steps = 2
      expectError(["[GradientDescent]", "learning rate"]) { _ = try NotebookRecipe.classification(c).run(output: { _ in }) }
      var d = DigitsRecipe.Configuration()
      d.learningRate = rate
      expectError(["learning rate must be a finite number > 0"]) { _ = try DigitsRecipe(d).run { _ in } }
    }
    var d = DigitsRecipe.Configuration()
    d.epochs = 0
    expectError(["epochs must be at least 1, got 0"]) { _ = try DigitsRecipe(d).run { _ in } }
    d.epochs = 1
    d.batchSize = -4
    expectError(["batch size must be at least 1, got -4"]) { _ = try DigitsRecipe(d).run { _ in } }
  }

  @Test func aFailedSaveLeavesTheOldFileIntact() throws {
    let dir = try makeScratchDirectory("badinput")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/ck.safetensors"
    let g = Graph()
    let w = try g.variable(NDArray([1.0, 2.0]), name: "w")
    let s = Session(graph: g)
    try s.initializeVariables()
    try Checkpoint.save(session: s, to: path, metadata: ["step": "1"])
    let before = try FileIO.readBytes(atPath: path)
    // An uninitialized variable: the save fails before writing anything.
    let fresh = Session(graph: g)
    expectError(["'w'"]) { try Checkpoint.save(session: fresh, to: path) }
    #expect(try FileIO.readBytes(atPath: path) == before)
    // A model that cannot be written over a directory: the directory and its contents stay.
    let model = try DigitsModel(
      layerSizes: [64, 10],
      weights: [(NDArray.zeros([64, 10], dtype: .float32), NDArray.zeros([10], dtype: .float32))],
      standardizer: Standardizer(mean: [Double](repeating: 0, count: 64), standardDeviation: [Double](repeating: 1, count: 64)))
    #expect(mkdir(dir + "/taken", 0o755) == 0)
    try FileIO.writeAtomically([1, 2, 3], toPath: dir + "/taken/inside")
    expectError([dir + "/taken"]) { try model.save(toPath: dir + "/taken") }
    #expect(try FileIO.readBytes(atPath: dir + "/taken/inside") == [1, 2, 3])
    // A restore that fails (the file is not a checkpoint) changes neither the session nor the file.
    try FileIO.writeAtomically(Array("not a checkpoint".utf8), toPath: dir + "/bad.safetensors")
    try s.setValue(NDArray([5.0, 6.0]), for: w)
    expectError(["bad.safetensors"]) { _ = try Checkpoint.restore(session: s, from: dir + "/bad.safetensors") }
    #expect(try s.value(of: w).doubles == [5, 6])
    #expect(try FileIO.readBytes(atPath: dir + "/bad.safetensors") == Array("not a checkpoint".utf8))
    // No temporary file is left behind by any of the failures.
    let names = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
    #expect(names == ["bad.safetensors", "ck.safetensors", "taken"])
  }
}

/// Bad command-line values, through the built `backprop` tool (built beside the tests by
/// `swift build --build-tests`): each must exit with a status (not a signal) and an error
/// message naming the option and the value, before any long work and without touching files.
@Suite struct CommandLineBadInputTests {
  @Test func badOptionValuesAreRefusedWithTheirNames() throws {
    _ = try #require(backpropToolPath, "the backprop tool is not built beside the tests (swift build --build-tests)")
    let dir = try makeScratchDirectory("badinput")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    for recipe in ["regression", "classification"] {
      try expectToolRefuses([recipe, "--steps", "0"], "--steps must be between 1 and 10000000 (each step's loss and parameters are kept for the plot and logs), got 0")
      try expectToolRefuses([recipe, "--steps=-3"], "--steps must be between 1 and 10000000 (each step's loss and parameters are kept for the plot and logs), got -3")
      try expectToolRefuses([recipe, "--steps", "ten"], "'ten' is invalid for '--steps")
      try expectToolRefuses([recipe, "--learning-rate=-0.1"], "--learning-rate must be a finite number > 0, got -0.1")
      try expectToolRefuses([recipe, "--learning-rate", "nan"], "got nan")
      try expectToolRefuses([recipe, "--learning-rate", "0"], "got 0.0")
      try expectToolRefuses([recipe, "--print-every", "0"], "--print-every must be at least 1")
      try expectToolRefuses([recipe, "--seed=-1"], "'-1' is invalid for '--seed")
      try expectToolRefuses([recipe, "--save", "/nonexistent-dir/ck.safetensors"], "the directory '/nonexistent-dir' does not exist")
      try expectToolRefuses([recipe, "--save", dir + "/"], "--save needs a file name")
      try expectToolRefuses([recipe, "--restore", "/nonexistent-dir/ck.safetensors"], "--restore /nonexistent-dir/ck.safetensors: no such file")
      try expectToolRefuses([recipe, "--plot", "/nonexistent-dir/p.svg"], "--plot /nonexistent-dir/p.svg")
      try expectToolRefuses([recipe, "--bogus"], "Unknown option '--bogus'")
      // A negative number written as a separate word is the option's value (not an unknown
      // option), so its own check names it.
      try expectToolRefuses([recipe, "--steps", "-3"], "--steps must be between 1 and 10000000 (each step's loss and parameters are kept for the plot and logs), got -3")
      try expectToolRefuses([recipe, "--learning-rate", "-0.1"], "--learning-rate must be a finite number > 0, got -0.1")
      try expectToolRefuses([recipe, "--seed", "-1"], "an integer from 0 to 2^64 - 1")
      try expectToolRefuses([recipe, "--print-every", "-5"], "--print-every must be at least 1, got -5")
    }
    try expectToolRefuses(["regression", "--loss", "l3"], "'l3' is invalid for '--loss")
    try expectToolRefuses(["frobnicate"], "frobnicate")
    for hidden in ["0", "128,,64", "abc", "-5", ","] {
      try expectToolRefuses(["digits", "--hidden=\(hidden)"], "--hidden must be positive integers separated by commas")
    }
    try expectToolRefuses(["digits", "--batch-size", "0"], "--batch-size must be at least 1, got 0")
    try expectToolRefuses(["digits", "--epochs=-1"], "--epochs must be between 1 and 100000, got -1")
    try expectToolRefuses(["digits", "--learning-rate=-1e-3"], "--learning-rate must be a finite number > 0")
    try expectToolRefuses(["digits", "--optimizer", "lbfgs"], "'lbfgs' is invalid for '--optimizer")
    try expectToolRefuses(["digits", "--save", "/nonexistent-dir/m.safetensors"], "the directory '/nonexistent-dir' does not exist")
    try expectToolRefuses(["digits", "--data", "/nonexistent-dir/d.csv"], "/nonexistent-dir/d.csv: No such file or directory")
    try expectToolRefuses(["graph", "regression", "--dot", "/nonexistent-dir/g.dot"], "the directory '/nonexistent-dir' does not exist")
    try expectToolRefuses(["predict", "--input", "x.csv"], "Missing expected argument '--model")
  }

  /// Found by the fuzz target FuzzCLI: a one-character output path (`--save g`) crashed the tool
  /// in validation (swift-corelibs-foundation's `deletingLastPathComponent` traps on it).
  @Test func oneCharacterOutputPathsAreAccepted() throws {
    _ = try #require(backpropToolPath, "the backprop tool is not built beside the tests (swift build --build-tests)")
    // The fuzzer's input (Fuzz/artifacts/FuzzCLI-crash-2457…, arguments split on newlines).
    try expectToolRefuses(["classification", "--restor\u{FFFD}", "/tmp/missing.safetensors", "--save", "g", "x.csv", "--csv", "y.csv", "--quaet"],
      "Unknown option '--restor\\u{FFFD}'")  // U+FFFD is printed escaped (SafeText, issue 12)
    for recipe in ["regression", "classification"] {
      for flag in ["--save", "--log", "--csv"] {  // --plot needs a name ending in .svg (issue 12)
        try expectToolRefuses([recipe, flag, "g", "--bogus"], "Unknown option '--bogus'")
      }
    }
    try expectToolRefuses(["digits", "--save", "m", "--batch-size", "0"], "--batch-size must be at least 1, got 0")
    try expectToolRefuses(["graph", "regression", "--dot", "d", "--svg", "s", "--seed", "x"], "'x' is invalid for '--seed")
    // And the files are written, in the current directory.
    let dir = try makeScratchDirectory("badinput")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let run = try runBackpropTool(["regression", "--steps", "2", "--quiet", "--save", "s", "--plot", "p.svg", "--log", "l", "--csv", "c"], in: dir)
    #expect(!run.signaled && run.status == 0, "\(run.error)")
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == ["c", "l", "p.svg", "s"])
  }

  @Test func badFilesGivenToTheToolAreReportedAndLeftAlone() throws {
    _ = try #require(backpropToolPath, "the backprop tool is not built beside the tests (swift build --build-tests)")
    let dir = try makeScratchDirectory("badinput")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let model = try DigitsModel(
      layerSizes: [64, 10],
      weights: [(NDArray.zeros([64, 10], dtype: .float32), NDArray.zeros([10], dtype: .float32))],
      standardizer: Standardizer(mean: [Double](repeating: 0, count: 64), standardDeviation: [Double](repeating: 1, count: 64)))
    let modelPath = dir + "/m.safetensors"
    try model.save(toPath: modelPath)
    let garbage = Array("garbage, not safetensors".utf8)
    try FileIO.writeAtomically(garbage, toPath: dir + "/garbage.safetensors")
    try FileIO.writeAtomically(Array("1,2,3\n4,5\n".utf8), toPath: dir + "/ragged.csv")
    try FileIO.writeAtomically(Array("1,2,3\n".utf8), toPath: dir + "/narrow.csv")
    try FileIO.writeAtomically(Array("1,x,3\n".utf8), toPath: dir + "/text.csv")
    try FileIO.writeAtomically([], toPath: dir + "/empty.csv")
    let modelBytes = try FileIO.readBytes(atPath: modelPath)

    try expectToolRefuses(["predict", "--model", dir + "/absent.safetensors", "--input", dir + "/narrow.csv"], dir + "/absent.safetensors")
    try expectToolRefuses(["predict", "--model", dir + "/garbage.safetensors", "--input", dir + "/narrow.csv"], "garbage.safetensors")
    try expectToolRefuses(["predict", "--model", dir + "/narrow.csv", "--input", dir + "/narrow.csv"], "narrow.csv")
    try expectToolRefuses(["predict", "--model", modelPath, "--input", dir + "/absent.csv"], dir + "/absent.csv")
    try expectToolRefuses(["predict", "--model", modelPath, "--input", dir + "/ragged.csv"], "line 2")
    try expectToolRefuses(["predict", "--model", modelPath, "--input", dir + "/narrow.csv"], "rows must have 64 pixels")
    try expectToolRefuses(["predict", "--model", modelPath, "--input", dir + "/text.csv"], "\"x\" is not a number")
    try expectToolRefuses(["predict", "--model", modelPath, "--input", dir + "/empty.csv"], "empty.csv")
    try expectToolRefuses(["predict", "--model", modelPath, "--input", dir], dir)
    // A directory that is no model, IDX images given to a digits model, a --save model given
    // to --restore: each named as what it is.
    try expectToolRefuses(["predict", "--model", dir, "--input", dir + "/narrow.csv"], "is a directory without a model's graph.pb")
    try FileIO.writeAtomically([0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 28, 0, 0, 0, 28] + [UInt8](repeating: 0, count: 784), toPath: dir + "/images.idx")
    try expectToolRefuses(["predict", "--model", modelPath, "--input", dir + "/images.idx"], "not CSV text: it contains NUL bytes")
    try expectToolRefuses(["digits", "--epochs", "1", "--restore", modelPath], "is a digits model written by --save")
    try expectToolRefuses(["regression", "--steps", "2", "--restore", dir + "/garbage.safetensors"], "garbage.safetensors")
    try expectToolRefuses(["regression", "--steps", "2", "--restore", modelPath], "does not match the graph")

    // Resuming past the end fails before anything is saved: the checkpoint given to both
    // --restore and --save is left as it was.
    let checkpoint = dir + "/ck.safetensors"
    let first = try runBackpropTool(["regression", "--steps", "4", "--save", checkpoint])
    #expect(first.status == 0, "\(first.error)")
    let saved = try FileIO.readBytes(atPath: checkpoint)
    try expectToolRefuses(["regression", "--steps", "2", "--restore", checkpoint, "--save", checkpoint], "cannot resume after step 4")
    #expect(try FileIO.readBytes(atPath: checkpoint) == saved)
    // Resuming with another batch size (or seed) would draw other samples: refused, naming both.
    try expectToolRefuses(["regression", "--steps", "6", "--batch-size", "4", "--restore", checkpoint], "written with --batch-size 1, this run has --batch-size 4; resume with --batch-size 1")
    try expectToolRefuses(["regression", "--steps", "6", "--seed", "7", "--restore", checkpoint], "written with --seed 42")
    // A --save path that is a directory: the run ends with an error naming it, the directory stays.
    #expect(mkdir(dir + "/taken", 0o755) == 0)
    try expectToolRefuses(["regression", "--steps", "2", "--save", dir + "/taken"], dir + "/taken")
    var isDirectory: ObjCBool = false
    #expect(FileManager.default.fileExists(atPath: dir + "/taken", isDirectory: &isDirectory) && isDirectory.boolValue)

    #expect(try FileIO.readBytes(atPath: dir + "/garbage.safetensors") == garbage)
    #expect(try FileIO.readBytes(atPath: modelPath) == modelBytes)
    let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains(".tmp-") }
    #expect(leftovers.isEmpty)
  }
}
