import Foundation
import GraphCore
import Plotting
import Testing
import TestSupport

/// The seventh probe's command-line combinations (RELIABILITY.md, "Features combined: the
/// seventh probe"): resuming a model that trained its epochs already, and TensorBoard logs of a
/// resumed run.
@Suite(
  "seventh probe: resuming with other --epochs, --logdir and --save-model",
  .enabled(if: backpropToolPath != nil, "the backprop tool is built by swift build --build-tests"))
struct SeventhProbeCLITests {
  private let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
  private var digits: String { repository.appendingPathComponent("Data/digits.csv").path }
  private var mini: String { repository.appendingPathComponent("Tests/Fixtures/fashion-mini").path }

  /// The steps of the scalar `tag` in the one event file under `dir`.
  private func steps(_ tag: String, in dir: String) throws -> [Int64] {
    let files = try FileManager.default.contentsOfDirectory(atPath: dir)
    try #require(files.count == 1)
    return try EventFile.read(path: dir + "/" + files[0]).flatMap { e in e.values.filter { $0.tag == tag }.map { _ in e.step } }
  }

  /// `digits --restore` of a checkpoint of 3 epochs with `--epochs 2` trapped (a range whose
  /// lower bound passed its upper bound), and with `--epochs 3` trapped converting the missing
  /// test accuracy (NaN) to a count. Now, as `fashion` (and Keras's `fit` with
  /// `initial_epoch >= epochs`): no step, the restored model's accuracy, the files asked for.
  /// The checkpoint given to `predict` or `export` was "not a digits model".
  @Test func digitsResumedPastItsEpochs() throws {
    let dir = try makeScratchDirectory("probe7")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let first = try runBackpropTool(["digits", "--data", digits, "--epochs", "3", "--quiet", "--checkpoint", "ck.safetensors"], in: dir)
    try #require(first.status == 0, "\(first.error)")
    let accuracy = try #require(first.output.split(separator: "\n").first { $0.contains("test accuracy") })
    for epochs in ["2", "3"] {
      let run = try runBackpropTool(
        ["digits", "--data", digits, "--epochs", epochs, "--quiet", "--restore", "ck.safetensors", "--save-model", "m" + epochs, "--save", "w.safetensors"],
        in: dir)
      #expect(!run.signaled && run.status == 0, "\(run.error)")
      #expect(run.output.contains("the restored model has trained 3 epochs already (--epochs \(epochs)): test 0.9471"), "\(run.output)")
      #expect(run.output.contains(accuracy), "\(run.output)")
      #expect(Session.isModelDirectory(dir + "/m" + epochs) && FileManager.default.fileExists(atPath: dir + "/w.safetensors"))
    }
    // The checkpoint given to predict or export was "not a digits model": it is named as what it is.
    for command in [["predict", "--input", digits], ["export", "--onnx", "m.onnx"]] {
      let run = try runBackpropTool(command + ["--model", "ck.safetensors"], in: dir)
      #expect(run.status != 0 && run.error.contains("ck.safetensors: a training checkpoint of the digits recipe (for --restore), not a digits model"), "\(run.error)")
    }
    // The directory records the 3 epochs its model trained: resuming it to 4 trains one more.
    let more = try runBackpropTool(["digits", "--data", digits, "--epochs", "4", "--quiet", "--restore", "m2"], in: dir)
    #expect(more.status == 0 && more.output.contains("epoch 4/4") && !more.output.contains("epoch 3/4"), "\(more.output) \(more.error)")
  }

  /// `digits --restore --logdir` logged the resumed run's steps from 1 again (over the first
  /// run's), where `fashion` continues them; now step n of a resumed run is the uninterrupted
  /// run's step n.
  @Test func digitsResumedLogContinuesItsSteps() throws {
    let dir = try makeScratchDirectory("probe7")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    // 1437 training rows in batches of 32: 45 steps per epoch.
    let first = try runBackpropTool(["digits", "--data", digits, "--epochs", "2", "--quiet", "--checkpoint", "ck.safetensors", "--logdir", "tb1"], in: dir)
    try #require(first.status == 0, "\(first.error)")
    #expect(try steps("loss", in: dir + "/tb1") == Array(1...90))
    let resumed = try runBackpropTool(["digits", "--data", digits, "--epochs", "3", "--quiet", "--restore", "ck.safetensors", "--logdir", "tb2"], in: dir)
    try #require(resumed.status == 0, "\(resumed.error)")
    #expect(try steps("loss", in: dir + "/tb2") == Array(91...135))
    #expect(try steps("epoch/test_accuracy", in: dir + "/tb2") == [135])
  }

  /// `fashion --restore` of a model that trained `--epochs` already, with `--save-model DIR`,
  /// printed "saved the whole model to DIR" and wrote nothing.
  @Test func fashionResumedPastItsEpochsSavesTheModelItWasAskedFor() throws {
    let dir = try makeScratchDirectory("probe7")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let first = try runBackpropTool(["fashion", "--data", mini, "--model", "mlp", "--epochs", "1", "--quiet", "--save", "m.safetensors"], in: dir)
    try #require(first.status == 0, "\(first.error)")
    let run = try runBackpropTool(
      ["fashion", "--data", mini, "--model", "mlp", "--epochs", "1", "--quiet", "--restore", "m.safetensors", "--save-model", "d"], in: dir)
    #expect(run.status == 0 && run.output.contains("the restored model has trained 1 epoch already"), "\(run.output) \(run.error)")
    #expect(run.output.contains("saved the whole model to d"))
    #expect(Session.isModelDirectory(dir + "/d"))
    let predicted = try runBackpropTool(["predict", "--model", dir + "/d", "--input", mini + "/t10k-images-idx3-ubyte"])
    let fromFile = try runBackpropTool(["predict", "--model", dir + "/m.safetensors", "--input", mini + "/t10k-images-idx3-ubyte"])
    #expect(predicted.status == 0 && !predicted.output.isEmpty && predicted.output == fromFile.output, "\(predicted.error)")
  }
}
