import ArrayCore
import Foundation
import GraphCore
import Recipes
import Testing

/// The eighth probe (session 26), through a recipe: the Fashion-MNIST CNN (dropout 0.5) resumed.
@Suite struct EighthProbeRecipeTests {
  /// Tests/Fixtures/fashion-mini: 200 training and 50 test images.
  private let mini = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().path + "/Fixtures/fashion-mini"

  /// `fashion --epochs 1 --save m`, then `--epochs 2 --restore m`, drew the first epoch's dropout
  /// masks again in the second (the masks' generator restarted from its seed), so the resumed
  /// weights were not the uninterrupted run's. The model file (and a `--save-model` directory)
  /// now carries the generator's state: the same weights, bit for bit.
  @Test func aResumedCNNHasTheUninterruptedWeights() throws {
    var c = FashionRecipe.Configuration()
    c.dataDirectory = mini
    c.model = .cnn
    c.batchSize = 32
    c.seed = 7
    c.learningRateDecay = .none  // (a cosine decay spans --epochs: 1 then 2 would be two schedules)
    c.epochs = 2
    let uninterrupted = try FashionRecipe(c).run(output: { _ in })
    c.epochs = 1
    let path = NSTemporaryDirectory() + "eighth-probe-fashion-\(getpid()).safetensors"
    defer { try? FileManager.default.removeItem(atPath: path) }
    try FashionRecipe(c).run(output: { _ in }).model.save(toPath: path)
    c.epochs = 2
    c.restorePath = path
    let resumed = try FashionRecipe(c).run(output: { _ in })
    #expect(resumed.model.values.keys.sorted() == uninterrupted.model.values.keys.sorted())
    for (name, value) in uninterrupted.model.values {
      #expect(resumed.model.values[name]!.isBitIdentical(to: value), "\(name)")
    }
    #expect(resumed.testAccuracy == uninterrupted.testAccuracy)
  }
}
