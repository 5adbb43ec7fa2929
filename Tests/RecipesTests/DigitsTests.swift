import Foundation
import Backprop
import Recipes
import TestSupport
import Testing

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The repository's copy of the digits (so the test does not depend on the working directory).
private let digitsPath: String = {
  let parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
  return parts.dropLast(3).joined(separator: "/") + "/Data/digits.csv"
}()

@Suite("Digits recipe")
struct DigitsTests {
  @Test("3 epochs of the default network beat 90% test accuracy; the saved model predicts the same")
  func learnsDigits() throws {
    var c = DigitsRecipe.Configuration()
    c.dataPath = digitsPath
    c.epochs = 3
    var lines: [String] = []
    let report = try DigitsRecipe(c).run { lines.append($0) }
    #expect(report.trainCount == 1438 && report.testCount == 359)
    #expect(report.epochs.count == 3 && lines.count == 3)
    #expect(lines[0].hasPrefix("epoch 1/3  loss "))
    #expect(report.epochs[2].loss < report.epochs[0].loss)
    #expect(report.testAccuracy > 0.90, "test accuracy \(report.testAccuracy)")

    // Save, load, predict: the loaded model classifies the file's rows; its accuracy on all
    // 1797 rows (test rows included) must also be high, and match a direct Swift evaluation of
    // the saved weights (plain loops over the formula, not the graph).
    var template = Array("/tmp/backprop-digits-XXXXXX".utf8CString)
    let dir = try #require(template.withUnsafeMutableBufferPointer { b in b.baseAddress.flatMap { mkdtemp($0) }.map { String(cString: $0) } })
    let path = dir + "/model.safetensors"
    try report.model.save(toPath: path)
    let loaded = try DigitsModel(contentsOfFile: path)
    #expect(loaded.layerSizes == [64, 128, 10])
    #expect(loaded.standardizer == report.model.standardizer)
    let all = try Dataset.loadCSV(path: digitsPath)
    let predicted = try loaded.predict(all.features)
    let logits = try loaded.logits(all.features)
    expectClose(logits, NDArray(plainLoopLogits(loaded, all.features), shape: [1797, 10]), rtol: 1e-4, atol: 1e-4)
    let labels = all.labels.scalars(as: Int32.self)
    let accuracy = Double(zip(predicted, labels).filter { $0 == Int($1) }.count) / Double(labels.count)
    #expect(accuracy > 0.90)
    let file = try SafetensorsFile(contentsOfFile: path)
    #expect(file.metadata == ["format": "backprop-digits-mlp", "layers": "64,128,10", "activation": "relu"])
    #expect(file.sortedNames == ["layer1/bias", "layer1/kernel", "layer2/bias", "layer2/kernel", "standardizer/mean", "standardizer/std"])
  }

  /// One epoch on the first 300 rows, batches of 50.
  func oneQuickEpoch() -> DigitsRecipe.Configuration {
    var c = DigitsRecipe.Configuration()
    c.dataPath = digitsPath
    c.epochs = 1
    c.rowLimit = 300
    c.batchSize = 50
    return c
  }

  @Test("the same seed trains to the same numbers; two hidden layers and other optimizers run")
  func deterministicAndConfigurable() throws {
    var c = oneQuickEpoch()
    c.hiddenSizes = [16, 16]
    let a = try DigitsRecipe(c).run { _ in }
    let b = try DigitsRecipe(c).run { _ in }
    #expect(a.epochs.map(\.loss) == b.epochs.map(\.loss))
    #expect(a.model.weights.map { $0.kernel.doubles } == b.model.weights.map { $0.kernel.doubles })
    #expect(a.model.layerSizes == [64, 16, 16, 10])
    c.seed = 43
    let other = try DigitsRecipe(c).run { _ in }
    #expect(other.epochs[0].loss != a.epochs[0].loss)
    for optimizer in DigitsOptimizer.allCases {
      c.optimizer = optimizer
      c.learningRate = optimizer == .sgd || optimizer == .momentum || optimizer == .adagrad ? 0.05 : 1e-3
      let r = try DigitsRecipe(c).run { _ in }
      #expect(r.epochs[0].loss.isFinite, "\(optimizer)")
    }
  }

  @Test("a profiled run trains the same bits and reports the training steps' operations")
  func profiledRun() throws {
    var c = oneQuickEpoch()
    let plain = try DigitsRecipe(c).run { _ in }
    #expect(plain.profile == nil)
    c.profiles = true
    let profiled = try DigitsRecipe(c).run { _ in }
    #expect(profiled.epochs.map(\.loss) == plain.epochs.map(\.loss))
    #expect(profiled.model.weights.map { $0.kernel.doubles } == plain.model.weights.map { $0.kernel.doubles })
    let profile = try #require(profiled.profile)
    // 240 training rows in batches of 50: 5 steps, each one Adam update per variable.
    let updates = profile.operations.filter { $0.type == "ApplyAdam" }
    #expect(updates.count == 4 && updates.allSatisfy { $0.calls == 5 }, "\(profile.operations.map { ($0.type, $0.calls) })")
    #expect(!profile.operations.contains { $0.type.hasPrefix("Random") })  // (the initializers are not counted)
  }

  @Test("invalid settings and files are thrown errors with clear messages")
  func errors() throws {
    var c = DigitsRecipe.Configuration()
    c.dataPath = digitsPath
    c.hiddenSizes = [0]
    #expect { try DigitsRecipe(c).run { _ in } } throws: { "\($0)".contains("hidden layer sizes") }
    c.hiddenSizes = [8]
    c.batchSize = 0
    #expect { try DigitsRecipe(c).run { _ in } } throws: { "\($0)".contains("batch size") }
    c.batchSize = 8
    c.dataPath = "/nonexistent/digits.csv"
    #expect { try DigitsRecipe(c).run { _ in } } throws: { "\($0)".contains("/nonexistent/digits.csv: cannot read") }
    #expect { try DigitsModel(contentsOfFile: "/nonexistent/m.safetensors") } throws: { "\($0)".contains("/nonexistent/m.safetensors") }
    let notAModel = SafetensorsFile(tensors: ["w": NDArray([Float(1)])])
    var template = Array("/tmp/backprop-digits-XXXXXX".utf8CString)
    let dir = try #require(template.withUnsafeMutableBufferPointer { b in b.baseAddress.flatMap { mkdtemp($0) }.map { String(cString: $0) } })
    try notAModel.write(toPath: dir + "/w.safetensors")
    #expect { try DigitsModel(contentsOfFile: dir + "/w.safetensors") } throws: { "\($0)".contains("not a digits model") }
  }
}

/// The logits of `model` computed with plain loops: `z = (x - mean) / std`, then
/// `h = relu(h·W + b)` per hidden layer and `h·W + b` for the last.
private func plainLoopLogits(_ model: DigitsModel, _ pixels: NDArray) -> [Float] {
  let n = pixels.shape[0]
  let x = pixels.doubles
  let kernels = model.weights.map { $0.kernel.scalars(as: Float.self) }
  let biases = model.weights.map { $0.bias.scalars(as: Float.self) }
  var out: [Float] = []
  for i in 0..<n {
    var h: [Float] = (0..<64).map { j in
      Float((x[i * 64 + j] - model.standardizer.mean[j]) / model.standardizer.standardDeviation[j])
    }
    for l in 0..<kernels.count {
      let inSize = model.layerSizes[l], outSize = model.layerSizes[l + 1]
      var next = [Float](repeating: 0, count: outSize)
      for o in 0..<outSize {
        var s: Float = 0
        for k in 0..<inSize { s += h[k] * kernels[l][k * outSize + o] }
        s += biases[l][o]
        next[o] = l == kernels.count - 1 ? s : max(s, 0)
      }
      h = next
    }
    out += h
  }
  return out
}

/// `backprop digits --optimizer sgd` without `--learning-rate` trained at Adam's 0.001, where
/// plain gradient descent barely moves the network (6% test accuracy after an epoch); each
/// optimizer now has its frameworks' default rate, which `--learning-rate` replaces.
@Suite("Digits command: learning-rate defaults")
struct DigitsLearningRateDefaultTests {
  @Test func eachOptimizerHasItsFrameworksDefault() throws {
    #expect(DigitsOptimizer.allCases.map(\.defaultLearningRate) == [0.01, 0.01, 0.001, 0.001, 0.01, 0.001])
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("backprop-lr-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    for (arguments, title) in [
      (["--optimizer", "sgd"], "sgd at 0.01,"), (["--optimizer", "adam"], "adam at 0.001,"),
      (["--optimizer", "sgd", "--learning-rate", "0.5"], "sgd at 0.5,"),
    ] {
      let run = try runBackpropTool(["digits", "--epochs", "1", "--quiet", "--plot", dir + "/p.svg"] + arguments)
      #expect(run.status == 0, "\(run.error)")
      let svg = readTextFile(dir + "/p.svg") ?? ""
      #expect(svg.contains(title), "\(arguments): no '\(title)' in the plot's title")
    }
  }
}
