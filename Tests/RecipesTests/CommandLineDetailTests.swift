import Foundation
import Testing
import TestSupport

/// `backprop graph fashion` drew only the example CNN: `--model` draws the MLP or the CNN with
/// batch normalization, as `backprop fashion --model` trains them, and is refused for the other
/// recipes (which have one model each).
@Suite("graph command: the fashion recipe's models")
struct GraphCommandTests {
  @Test func fashionDrawsTheModelAsked() throws {
    let dir = try makeScratchDirectory("graph")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    var dots: [String: String] = [:]
    for model in ["mlp", "cnn", "cnn-bn"] {
      let run = try runBackpropTool(["graph", "fashion", "--model", model, "--dot", dir + "/\(model).dot"])
      #expect(run.status == 0, "\(run.error)")
      dots[model] = readTextFile(dir + "/\(model).dot") ?? ""
    }
    #expect(dots["mlp"]?.contains("an MLP 784-256-128-10") == true && dots["mlp"]?.contains("conv2d/kernel") == false)
    #expect(dots["cnn"]?.contains("conv2d/kernel") == true && dots["cnn"]?.contains("batch_normalization/gamma") == false)
    #expect(dots["cnn-bn"]?.contains("batch_normalization/moving_mean") == true)
    try expectToolRefuses(["graph", "digits", "--model", "mlp"], "--model chooses the fashion recipe's model")
  }
}

/// A checkpoint of another recipe given to `--restore` was reported as a list of missing and
/// unexpected variables (the variables were matched before the recipe was read); the recipe
/// is now named.
@Suite("restore: another recipe's checkpoint is named")
struct RestoreOtherRecipeTests {
  @Test func theRecipeIsNamedBeforeTheVariables() throws {
    let dir = try makeScratchDirectory("restore")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try #require(try runBackpropTool(["classification", "--quiet", "--save-model", dir + "/c"]).status == 0)
    try #require(try runBackpropTool(["digits", "--quiet", "--epochs", "1", "--checkpoint", dir + "/d.safetensors"]).status == 0)
    let digits = try expectToolRefuses(["digits", "--quiet", "--epochs", "2", "--restore", dir + "/c"], "it is one of the classification recipe")
    #expect(!digits.error.contains("missing variables"), "\(digits.error)")
    try expectToolRefuses(["regression", "--quiet", "--restore", dir + "/d.safetensors"], "is a checkpoint of the digits recipe, not of regression")
  }
}

/// `digits --restore` of a checkpoint written with another `--dtype`, `--optimizer` or
/// `--hidden` listed the mismatched, missing and unexpected variables; the checkpoint's settings
/// are now checked before its variables, as its recipe is, and the flag to change is named.
@Suite("restore: a digits checkpoint of other settings names the flag")
struct RestoreOtherSettingsTests {
  @Test func theFlagToChangeIsNamed() throws {
    let dir = try makeScratchDirectory("restore-settings")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let checkpoint = dir + "/d.safetensors"
    let model = dir + "/m"
    let first = try runBackpropTool(["digits", "--quiet", "--epochs", "1", "--checkpoint", checkpoint, "--save-model", model])
    try #require(first.status == 0, "\(first.error)")
    for saved in [checkpoint, model] {
      let dtype = try expectToolRefuses(
        ["digits", "--quiet", "--epochs", "2", "--dtype", "float64", "--restore", saved],
        "\(saved) was written with --dtype float32, this run has --dtype float64; resume with --dtype float32")
      let optimizer = try expectToolRefuses(
        ["digits", "--quiet", "--epochs", "2", "--optimizer", "sgd", "--restore", saved],
        "was written with --optimizer adam, this run has --optimizer sgd; resume with --optimizer adam")
      let hidden = try expectToolRefuses(["digits", "--quiet", "--epochs", "2", "--hidden", "32,16", "--restore", saved], "resume with --hidden 128")
      for run in [dtype, optimizer, hidden] {
        #expect(!run.error.contains("missing") && !run.error.contains("unexpected"), "\(run.error)")
      }
    }
    // The same settings resume.
    #expect(try runBackpropTool(["digits", "--quiet", "--epochs", "2", "--restore", checkpoint]).status == 0)
  }
}

/// `regression --batch-size 4 --save-model DIR` saved an input `x_data` of shape `[4]`, so
/// `predict --model DIR` took only rows of 4 values. A saved notebook model's input is now
/// `[nil]` (TensorFlow's `[None]`): any number of rows, whatever the training batch size; the
/// training and a run resumed from the directory keep theirs.
@Suite("save-model: a notebook model takes any batch size")
struct NotebookModelBatchSizeTests {
  @Test func aModelSavedWithABatchSizeTakesAnyNumberOfRows() throws {
    let dir = try makeScratchDirectory("batch")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let rows = dir + "/x.csv"
    try Data("1\n0.5\n2\n".utf8).write(to: URL(fileURLWithPath: rows))
    for recipe in ["regression", "classification"] {
      let model = dir + "/" + recipe
      let trained = try runBackpropTool([recipe, "--quiet", "--steps", "20", "--batch-size", "4", "--save-model", model])
      try #require(trained.status == 0, "\(trained.error)")
      let predicted = try runBackpropTool(["predict", "--model", model, "--input", rows])
      #expect(predicted.status == 0, "\(predicted.error)")
      let lines = predicted.output.split(separator: "\n").map(String.init)
      try #require(lines.count == 3, "\(predicted.output)")
      if recipe == "regression" {
        // x·A at 1, 0.5 and 2: A, A/2 and 2A exactly.
        let values = lines.compactMap(Float.init)
        #expect(values.count == 3 && values[1] * 2 == values[0] && values[2] == values[0] * 2, "\(lines)")
      } else {
        #expect(lines.allSatisfy { $0 == "0" || $0 == "1" }, "\(lines)")
      }
      // A run resumed from the directory trains with its batch size, as before.
      let resumed = try runBackpropTool([recipe, "--quiet", "--steps", "30", "--batch-size", "4", "--restore", model])
      #expect(resumed.status == 0, "\(resumed.error)")
    }
  }
}

/// `predict` given a labels file (rank-1 IDX) as its input said "items of  values" (an empty
/// size list); it now says what the file is and where labels go.
@Suite("predict: a labels file as the input")
struct PredictLabelsAsInputTests {
  @Test func aLabelsFileIsNamedAsSuch() throws {
    let mini = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .appendingPathComponent("Fixtures/fashion-mini").path
    let dir = try makeScratchDirectory("predict")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try #require(try runBackpropTool(["fashion", "--data", mini, "--model", "mlp", "--epochs", "1", "--quiet", "--save-model", dir + "/m"]).status == 0)
    let run = try runBackpropTool(["predict", "--model", dir + "/m", "--input", mini + "/t10k-labels-idx1-ubyte"])
    #expect(run.status != 0 && run.error.contains("one value per item (a rank-1 IDX file: labels, not images; give them with --labels)"), "\(run.error)")
  }
}

/// `bench --filter` with a name no workload has exited 0 having measured nothing (a typo looked
/// like an empty benchmark); it is now an error naming the filter.
@Suite("bench: a filter that matches nothing")
struct BenchFilterTests {
  @Test func aFilterThatMatchesNothingIsAnError() throws {
    let run = try runBackpropTool(["bench", "--filter", "no-such-workload", "--json"])
    #expect(run.status != 0 && run.error.contains("no workload's name contains 'no-such-workload'"), "\(run.error)")
  }
}
