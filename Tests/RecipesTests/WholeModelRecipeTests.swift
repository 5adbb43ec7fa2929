// Issue 15: whole-model directories (`--save-model DIR`) from every training command, resumed
// with `--restore DIR` and run by `backprop predict --model DIR` without the code that built them.
import ArrayCore
import Datasets
import Foundation
import GraphCore
import Plotting
import Recipes
import Testing
import TestSupport

/// Tests/Fixtures/fashion-mini: 200 training and 50 test images of ten bars.
private let mini: String = {
  let file = "\(#filePath)"
  return file.split(separator: "/", omittingEmptySubsequences: false).dropLast(2).joined(separator: "/") + "/Fixtures/fashion-mini"
}()

private func fashion(_ kind: FashionModelKind, epochs: Int) -> FashionRecipe.Configuration {
  var c = FashionRecipe.Configuration()
  c.dataDirectory = mini
  c.model = kind
  c.epochs = epochs
  c.batchSize = 32
  c.seed = 7
  return c
}

extension NotebookRecipe {
  /// The recipe with another configuration.
  fileprivate func with(_ configuration: Configuration) -> NotebookRecipe {
    var copy = self
    copy.configuration = configuration
    return copy
  }
}

@Suite("Whole-model directories of the notebook and fashion recipes")
struct WholeModelRecipeTests {
  @Test("a notebook run resumed from its model directory ends bit for bit where an uninterrupted run ends")
  func notebookResumesFromDirectory() throws {
    for (recipe, steps) in [(NotebookRecipe.regression(), 60), (NotebookRecipe.classification(), 300)] {
      let dir = try makeScratchDirectory("wholemodel-\(recipe.name)")
      defer { try? FileManager.default.removeItem(atPath: dir) }
      var first = recipe.configuration
      first.steps = steps / 2
      first.modelPath = dir + "/model"
      _ = try recipe.with(first).run(output: { _ in })
      #expect(Session.isModelDirectory(dir + "/model"))

      var whole = recipe.configuration
      whole.steps = steps
      let uninterrupted = try recipe.with(whole).run(output: { _ in })
      let hooks = TrainingHooks(willStart: { session in
        let metadata = try Checkpoint.restore(session: session, from: dir + "/model")
        #expect(metadata["recipe"] == recipe.name && metadata["input"]?.hasPrefix("x_data") == true)
        return Int(metadata["step"] ?? "") ?? -1
      })
      let resumed = try recipe.with(whole).run(output: { _ in }, hooks: hooks)
      #expect(resumed.firstStep == steps / 2 + 1)
      #expect(resumed.finalParameters == uninterrupted.finalParameters, "\(recipe.name)")
    }
  }

  @Test("a notebook model directory runs in a new session: the output it names is x·A, or the rounded σ(x + A)")
  func notebookModelRunsAlone() throws {
    let dir = try makeScratchDirectory("wholemodel-notebook")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    for recipe in [NotebookRecipe.regression(), NotebookRecipe.classification()] {
      var c = recipe.configuration
      c.steps = 20
      c.modelPath = dir + "/" + recipe.name
      let report = try recipe.with(c).run(output: { _ in })
      let a = Float(report.finalValue(of: "A"))
      let (session, metadata) = try Session.loadModel(from: dir + "/" + recipe.name)
      let x = try #require(metadata["input"].flatMap(session.graph.tensor(named:)))
      let y = try #require(metadata["output"].flatMap(session.graph.tensor(named:)))
      for input: Float in [-1.5, 0.25, 3] {
        let out = try session.run(y, feeding: [x: NDArray([input])]).scalars(as: Float.self)[0]
        if recipe.name == "regression" {
          #expect(metadata["output-kind"] == "values" && out == input * a)
        } else {
          let p = 1 / (1 + Float(Foundation.exp(Double(-(input + a)))))
          #expect(metadata["output-kind"] == "classes" && out == (p >= 0.5 ? 1 : 0))
        }
      }
    }
  }

  @Test("a fashion model directory predicts the classes of the model file, and resumes like it")
  func fashionDirectory() throws {
    let dir = try makeScratchDirectory("wholemodel-fashion")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    var c = fashion(.cnnBN, epochs: 1)
    c.modelPath = dir + "/model"
    let report = try FashionRecipe(c).run(output: { _ in })
    try report.model.save(toPath: dir + "/model.safetensors")

    // The directory alone: raw pixel values in, the same classes as the model file out.
    let test = try FashionMNIST(directory: mini).test
    let (session, metadata) = try Session.loadModel(from: dir + "/model")
    #expect(metadata["recipe"] == "fashion" && metadata["model"] == "cnn-bn" && metadata["epoch"] == "1")
    let input = try #require(metadata["input"].flatMap(session.graph.tensor(named:)))
    let output = try #require(metadata["output"].flatMap(session.graph.tensor(named:)))
    let raw = NDArray(test.features.scalars(as: Float.self).map { ($0 * 255).rounded() }, shape: test.features.shape)
    let logits = try session.run(output, feeding: [input: raw])
    let k = FashionMNIST.classCount
    let values = logits.scalars(as: Float.self)
    let fromDirectory = (0..<test.count).map { r in (0..<k).max { values[r * k + $0] < values[r * k + $1] || (values[r * k + $0] == values[r * k + $1] && $0 > $1) }! }
    #expect(try report.model.predict(test.features) == fromDirectory)

    // Resuming from the directory and from the file: the same second epoch, bit for bit.
    var fromDir = fashion(.cnnBN, epochs: 2)
    fromDir.restorePath = dir + "/model"
    var lines: [String] = []
    let a = try FashionRecipe(fromDir).run(output: { lines.append($0) })
    var fromFile = fashion(.cnnBN, epochs: 2)
    fromFile.restorePath = dir + "/model.safetensors"
    let b = try FashionRecipe(fromFile).run(output: { _ in })
    #expect(lines.count == 1 && lines[0].hasPrefix("epoch 2/2"))
    #expect(a.model.values == b.model.values && a.epochs[0].loss == b.epochs[0].loss)
    // Another architecture is refused, naming both.
    fromDir.model = .cnn
    #expect {
      try FashionRecipe(fromDir).run(output: { _ in })
    } throws: { "\($0)".contains("cnn-bn") && "\($0)".contains("--model is cnn") }
  }

  @Test(
    "backprop fashion --logdir writes the graph, the loss and the decaying learning rate per step, and the epoch's figures",
    .enabled(if: backpropToolPath != nil, "the backprop tool is built by swift build --build-tests"))
  func fashionTensorBoardLog() throws {
    let dir = try makeScratchDirectory("wholemodel-fashion-tb")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let run = try runBackpropTool(["fashion", "--data", mini, "--epochs", "2", "--batch-size", "32", "--quiet", "--logdir", "tb"], in: dir)
    #expect(run.status == 0 && run.output.contains("wrote the TensorBoard log to tb"), "\(run.error)")
    let files = try FileManager.default.contentsOfDirectory(atPath: dir + "/tb")
    #expect(files.count == 1 && files[0].hasPrefix("events.out.tfevents."))
    let events = try EventFile.read(path: dir + "/tb/" + files[0])
    func scalars(_ tag: String) -> [(step: Int64, value: Float)] {
      events.flatMap { e in
        e.values.compactMap { v -> (Int64, Float)? in
          if v.tag == tag, case let .scalar(x) = v.value { (e.step, x) } else { nil }
        }
      }
    }
    #expect(events.contains { $0.graphDef != nil })
    // 200 images in batches of 32: 7 steps per epoch, 14 in all.
    let loss = scalars("loss"), rate = scalars("learning_rate")
    #expect(loss.map(\.step) == Array(1...14) && rate.map(\.step) == Array(1...14))
    #expect(rate.first?.value == Float(5e-3))
    #expect(zip(rate, rate.dropFirst()).allSatisfy { $0.value > $1.value }, "the cosine decay: \(rate)")
    #expect(scalars("epoch/test_accuracy").map(\.step) == [7, 14])
    let histograms = events.flatMap { $0.values.map(\.tag) }.filter { $0.hasSuffix("/weights") || $0.hasSuffix("/gradient") }
    #expect(histograms.contains("conv2d/kernel/weights") && histograms.contains("conv2d/kernel/gradient"), "\(Set(histograms))")

    // Resumed for a second epoch: the steps continue from the restored step counter, and the
    // logged rate is the one the updates used (the 14-step schedule from its 8th step on).
    var again = try runBackpropTool(["fashion", "--data", mini, "--epochs", "1", "--batch-size", "32", "--quiet", "--save", "m.safetensors"], in: dir)
    #expect(again.status == 0, "\(again.error)")
    again = try runBackpropTool(
      ["fashion", "--data", mini, "--epochs", "2", "--batch-size", "32", "--quiet", "--restore", "m.safetensors", "--logdir", "tb2"], in: dir)
    #expect(again.status == 0, "\(again.error)")
    let resumedFile = try FileManager.default.contentsOfDirectory(atPath: dir + "/tb2")
    let resumed = try EventFile.read(path: dir + "/tb2/" + resumedFile[0]).flatMap { e in
      e.values.compactMap { v -> (Int64, Float)? in
        if v.tag == "learning_rate", case let .scalar(x) = v.value { (e.step, x) } else { nil }
      }
    }
    #expect(resumed.map(\.0) == Array(8...14))
    #expect(resumed.first?.1 == Float(5e-3 * (0.5 * (1 + cos(Double.pi * 7 / 14)))), "\(resumed)")
  }

  @Test(
    "backprop predict runs any model directory; --save-model and --restore refuse what is not one",
    .enabled(if: backpropToolPath != nil, "the backprop tool is built by swift build --build-tests"))
  func commandLine() throws {
    let dir = try makeScratchDirectory("wholemodel-cli")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    var run = try runBackpropTool(["regression", "--steps", "30", "--save-model", "reg"], in: dir)
    #expect(run.status == 0 && run.output.contains("Step #25"), "\(run.error)")
    try "1\n0.5\n".write(toFile: dir + "/x.csv", atomically: true, encoding: .utf8)
    run = try runBackpropTool(["predict", "--model", "reg", "--input", "x.csv"], in: dir)
    let predicted = run.output.split(separator: "\n").compactMap { Float($0) }
    #expect(run.status == 0 && predicted.count == 2 && predicted[1] == predicted[0] * 0.5, "\(run.output) \(run.error)")
    // Resume from the directory, over it.
    run = try runBackpropTool(["regression", "--steps", "40", "--restore", "reg", "--save-model", "reg"], in: dir)
    #expect(run.status == 0, "\(run.error)")
    // A directory of another recipe, and a directory that is not a model.
    run = try runBackpropTool(["classification", "--steps", "40", "--restore", "reg"], in: dir)
    #expect(run.status != 0 && !run.signaled && run.error.contains("regression recipe"), "\(run.error)")
    try FileManager.default.createDirectory(atPath: dir + "/empty", withIntermediateDirectories: true)
    run = try runBackpropTool(["regression", "--restore", "empty"], in: dir)
    #expect(run.status != 0 && run.error.contains("graph.pb"), "\(run.error)")
    run = try runBackpropTool(["regression", "--save-model", "x.csv"], in: dir)
    #expect(run.status != 0 && run.error.contains("not a directory"), "\(run.error)")
    #expect(try String(contentsOfFile: dir + "/x.csv", encoding: .utf8) == "1\n0.5\n")

    // Fashion: the model directory classifies the IDX test images, with their labels.
    run = try runBackpropTool(
      ["fashion", "--data", mini, "--model", "mlp", "--epochs", "1", "--batch-size", "32", "--quiet", "--save-model", "fm", "--save", "fm.safetensors"],
      in: dir)
    #expect(run.status == 0, "\(run.error)")
    let images = mini + "/t10k-images-idx3-ubyte", labels = mini + "/t10k-labels-idx1-ubyte"
    let fromDirectory = try runBackpropTool(["predict", "--model", "fm", "--input", images, "--labels", labels], in: dir)
    let fromFile = try runBackpropTool(["predict", "--model", "fm.safetensors", "--input", images, "--labels", labels], in: dir)
    #expect(fromDirectory.status == 0 && fromDirectory.output.split(separator: "\n").count == 50, "\(fromDirectory.error)")
    #expect(fromDirectory.output == fromFile.output && fromDirectory.error == fromFile.error)
    // A CSV whose rows do not fit the model's input is refused, naming the input's shape.
    run = try runBackpropTool(["predict", "--model", "fm", "--input", "x.csv"], in: dir)
    #expect(run.status != 0 && run.error.contains("784"), "\(run.error)")
  }
}
