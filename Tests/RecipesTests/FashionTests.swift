import ArrayCore
import Datasets
import Foundation
import GraphCore
import Recipes
import Testing

/// Tests/Fixtures/fashion-mini (written by Scripts/make_idx_fixtures.py): 200 training and 50
/// test images of ten bars.
private let mini: String = {
  let file = "\(#filePath)"
  return file.split(separator: "/", omittingEmptySubsequences: false).dropLast(2).joined(separator: "/") + "/Fixtures/fashion-mini"
}()

private func temporaryPath(_ name: String) -> String {
  NSTemporaryDirectory() + "backprop-fashion-" + UUID().uuidString + "-" + name
}

private func quick(_ kind: FashionModelKind, epochs: Int = 2) -> FashionRecipe.Configuration {
  var c = FashionRecipe.Configuration()
  c.dataDirectory = mini
  c.model = kind
  c.epochs = epochs
  c.batchSize = 32
  c.seed = 7
  return c
}

@Suite("The Fashion-MNIST recipe on a small IDX fixture")
struct FashionTests {
  @Test("each model learns the fixture's bars, one line per epoch", arguments: FashionModelKind.allCases)
  func learns(_ kind: FashionModelKind) throws {
    var c = quick(kind, epochs: kind == .mlp ? 6 : 4)
    c.learningRate = kind == .mlp ? 3e-3 : 1e-2
    var lines: [String] = []
    var steps = 0
    let report = try FashionRecipe(c).run(output: { lines.append($0) }, onStep: { _ in steps += 1 })
    #expect(lines.count == c.epochs && lines[0].hasPrefix("epoch 1/\(c.epochs)  loss "))
    #expect(steps == c.epochs * 7)
    #expect(report.trainCount == 200 && report.testCount == 50)
    #expect(report.epochs.last!.loss < report.epochs.first!.loss)
    #expect(report.testAccuracy >= 0.8, "\(kind): \(lines)")
  }

  @Test("the default learning rate: Adam from 5e-3, cosine decay to 0 over the run's steps")
  func defaultLearningRateDecays() throws {
    let c = FashionRecipe.Configuration()
    #expect(c.learningRate == 5e-3 && c.learningRateDecay == .cosine)
    // 15 epochs of 469 batches of 128 (60,000 images): 7,035 steps.
    let rate = try c.learningRateDecay.learningRate(initial: c.learningRate, epochs: 15, stepsPerEpoch: 469)
    #expect(rate.value(atStep: 0) == 5e-3)
    #expect(Swift.abs(rate.value(atStep: 7035 / 2) - 2.5e-3) < 1e-6)
    #expect(rate.value(atStep: 7035) == 0 && rate.value(atStep: 8000) == 0)
    for step in [1, 100, 3000, 7000] { #expect(rate.value(atStep: step) < rate.value(atStep: step - 1)) }
    // The Keras example's constant rate.
    #expect(try FashionLearningRateDecay.none.learningRate(initial: 1e-3, epochs: 15, stepsPerEpoch: 469) == .constant(1e-3))
    // A run too long to count in steps still gets a schedule (2⁵³ steps).
    _ = try FashionLearningRateDecay.cosine.learningRate(initial: 1e-3, epochs: .max, stepsPerEpoch: 469)
  }

  @Test("the decay reaches the optimizer: a cosine run differs from a constant one of the same initial rate")
  func decayIsInTheGraph() throws {
    var c = quick(.mlp, epochs: 1)
    c.learningRateDecay = .cosine
    let decayed = try FashionRecipe(c).run(output: { _ in })
    c.learningRateDecay = .none
    let constant = try FashionRecipe(c).run(output: { _ in })
    #expect(decayed.epochs[0].loss != constant.epochs[0].loss)
    #expect(decayed.model.values != constant.model.values)
  }

  @Test("the same seed gives the same run, bit for bit")
  func deterministic() throws {
    let a = try FashionRecipe(quick(.cnn, epochs: 1)).run(output: { _ in })
    let b = try FashionRecipe(quick(.cnn, epochs: 1)).run(output: { _ in })
    #expect(a.epochs[0].loss == b.epochs[0].loss && a.model.values == b.model.values)
  }

  @Test("a profiled run trains the same bits and reports each training step's operations")
  func profiledRun() throws {
    var c = quick(.cnn, epochs: 1)
    let plain = try FashionRecipe(c).run(output: { _ in })
    #expect(plain.profile == nil)
    c.profiles = true
    let profiled = try FashionRecipe(c).run(output: { _ in })
    #expect(profiled.epochs[0].loss == plain.epochs[0].loss && profiled.model.values == plain.model.values)
    let profile = try #require(profiled.profile)
    // 7 training steps of 32 images (200 images): the fused convolutions ran at each step, and
    // in the evaluations too.
    let convolutions = profile.operations.filter { $0.type == "Conv2D+Add+Relu" }
    #expect(convolutions.count == 2, "\(profile.operations.map(\.type))")
    #expect(convolutions.allSatisfy { $0.calls > 7 })
    #expect(profile.operations.contains { $0.type == "Conv2DBackpropFilter" && $0.calls == 7 })
    #expect(profile.totalSeconds > 0)
  }

  @Test("save, predict from the file alone, and resume")
  func saveRestorePredict() throws {
    let report = try FashionRecipe(quick(.cnnBN, epochs: 2)).run(output: { _ in })
    let path = temporaryPath("model.safetensors")
    defer { try? FileManager.default.removeItem(atPath: path) }
    try report.model.save(toPath: path)
    let loaded = try FashionModel(contentsOfFile: path)
    #expect(loaded.kind == .cnnBN && loaded.epochsDone == 2)
    #expect(loaded.values.keys.contains("batch_normalization/moving_mean"))
    let test = try FashionMNIST(directory: mini).test
    let predicted = try loaded.predict(test.features)
    let labels = test.labels.scalars(as: Int32.self)
    let accuracy = Double(zip(predicted, labels).filter { $0 == Int($1) }.count) / Double(labels.count)
    #expect(Swift.abs(accuracy - report.testAccuracy) < 1e-9)

    // Resuming for one more epoch numbers it 3 and continues from the saved state.
    var c = quick(.cnnBN, epochs: 3)
    c.restorePath = path
    var lines: [String] = []
    let resumed = try FashionRecipe(c).run(output: { lines.append($0) })
    #expect(lines.count == 1 && lines[0].hasPrefix("epoch 3/3"))
    #expect(resumed.model.epochsDone == 3)
    // A restore file of another model is refused.
    c.model = .cnn
    #expect(throws: RecipeError.self) { try FashionRecipe(c).run(output: { _ in }) }
  }

  @Test("a cosine run resumed with other steps per epoch is refused: its schedule would start at the wrong step")
  func resumingACosineRunWithOtherStepsPerEpochIsRefused() throws {
    // Saved after one epoch of batches of 8 (25 steps: Adam's step counter is 25). Resumed to 3
    // epochs with batches of 200 (1 step per epoch, 3 in all), the cosine decay read the
    // restored counter: step 25 of 3, a rate of 0, so epochs 2 and 3 printed their lines and
    // changed no weight.
    var c = quick(.mlp, epochs: 1)
    c.batchSize = 8
    let path = temporaryPath("model.safetensors")
    defer { try? FileManager.default.removeItem(atPath: path) }
    try FashionRecipe(c).run(output: { _ in }).model.save(toPath: path)
    var resumed = quick(.mlp, epochs: 3)
    resumed.batchSize = 200
    resumed.restorePath = path
    let error = #expect(throws: RecipeError.self) { try FashionRecipe(resumed).run(output: { _ in }) }
    let message = error.map { "\($0)" } ?? ""
    #expect(message.contains("25 steps") && message.contains("1 step per epoch") && message.contains("--batch-size"), "\(message)")
    // The same steps per epoch resume, and so does a constant rate (no schedule to misplace).
    resumed.batchSize = 8
    #expect(try FashionRecipe(resumed).run(output: { _ in }).model.epochsDone == 3)
    resumed.batchSize = 200
    resumed.learningRateDecay = .none
    let constant = try FashionRecipe(resumed).run(output: { _ in })
    let saved = try FashionModel(contentsOfFile: path)
    #expect(constant.model.values["dense/kernel"].map { !$0.isBitIdentical(to: saved.values["dense/kernel"]!) } == true)
  }

  @Test("a batch size near Int.max is one batch of the whole set (no overflow in the batch arithmetic)")
  func hugeBatchSize() throws {
    for batchSize in [Int.max, Int.max / 2 + 1, 200, 1000] {
      var c = quick(.mlp, epochs: 1)
      c.batchSize = batchSize
      var steps: [Int] = []
      let report = try FashionRecipe(c).run(output: { _ in }, onStep: { steps.append($0.totalSteps) })
      #expect(steps == [1], "batch size \(batchSize)")
      #expect(report.trainCount == 200)
    }
    #expect(Batches.globalSize(perRank: Int.max, ranks: 3) == Int.max)
    #expect(Batches.globalSize(perRank: 128, ranks: 3) == 384)
    #expect(Batches.count(samples: 200, size: Int.max) == 1)
    #expect(Batches.count(samples: 200, size: 64) == 4)
    #expect(Batches.count(samples: 200, size: 64, includeRemainder: false) == 3)
    #expect(Batches.count(samples: 0, size: 5) == 0)
  }

  @Test("an empty training or test set is a clear error, not a NaN accuracy or loss")
  func emptySets() throws {
    // IDX files of 0 or 1 images (big-endian headers: magic 0x0803 or 0x0801, then the sizes).
    func idx(_ magic: UInt32, _ dimensions: [UInt32], _ payload: [UInt8]) -> Data {
      var bytes: [UInt8] = []
      for word in [magic] + dimensions { bytes += withUnsafeBytes(of: word.bigEndian) { Array($0) } }
      return Data(bytes + payload)
    }
    for empty in ["train", "t10k"] {
      let dir = temporaryPath("empty-\(empty)")
      try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
      defer { try? FileManager.default.removeItem(atPath: dir) }
      for set in ["train", "t10k"] {
        let n: UInt32 = set == empty ? 0 : 1
        try idx(0x803, [n, 28, 28], [UInt8](repeating: 7, count: Int(n) * 784)).write(to: URL(fileURLWithPath: "\(dir)/\(set)-images-idx3-ubyte"))
        try idx(0x801, [n], [UInt8](repeating: 3, count: Int(n))).write(to: URL(fileURLWithPath: "\(dir)/\(set)-labels-idx1-ubyte"))
      }
      var c = quick(.mlp, epochs: 1)
      c.dataDirectory = dir
      #expect {
        _ = try FashionRecipe(c).run(output: { _ in })
      } throws: {
        "\($0)".contains("the \(empty == "train" ? "training" : "test") images in \(dir) hold no image")
      }
    }
  }

  @Test("missing data names the files and the apt-get command; bad settings are refused")
  func badInput() throws {
    var c = quick(.mlp)
    c.dataDirectory = NSTemporaryDirectory() + "no-such-fashion-dir"
    do {
      _ = try FashionRecipe(c).run(output: { _ in })
      Issue.record("no error")
    } catch {
      #expect("\(error)".contains("train-images-idx3-ubyte") && "\(error)".contains("apt-get install dataset-fashion-mnist"))
    }
    c = quick(.mlp)
    c.batchSize = 0
    #expect(throws: RecipeError.self) { try FashionRecipe(c).run(output: { _ in }) }
    let notModel = temporaryPath("digits.safetensors")
    defer { try? FileManager.default.removeItem(atPath: notModel) }
    try SafetensorsFile(tensors: [:], metadata: ["format": "backprop-digits-mlp"]).write(toPath: notModel)
    #expect(throws: RecipeError.self) { try FashionModel(contentsOfFile: notModel) }
  }
}
