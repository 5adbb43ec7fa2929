import ArrayCore
import Datasets
import GraphCore
import Training

/// A recipe's whole training graph as its run builds it (network, loss, optimizer), for
/// `backprop graph` pictures and GraphDef exports.
public struct RecipeTrainingGraph {
  /// The graph.
  public let graph: Graph
  /// The loss.
  public let loss: Tensor
  /// The training operation (the optimizer's update, with the layers' updates).
  public let train: GraphCore.Operation
  /// Values for the placeholders of one training step (a sample batch).
  public let feeds: [Tensor: NDArray]
}

/// A recipe's training graph as its run builds it (`DigitsRecipe.buildTraining`,
/// `FashionRecipe.buildTraining`): the network, the labels, the loss, the fed weight of a rank's
/// mean loss (data-parallel only) and the optimizer's step.
struct TrainingParts<Network> {
  let net: Network
  let labels: Tensor
  let loss: Tensor
  let shardWeight: Tensor?
  let train: GraphCore.Operation
  /// The optimizer's step counter (`Adam/iterations`), which a learning-rate schedule reads, if
  /// it has one.
  let stepCounter: Tensor?
}

extension TrainingParts {
  /// What a run saves as a model (`--save-model`): these parts and `session`; or, for a
  /// data-parallel run (`distributed`), whose graph averages its gradients with the ranks'
  /// all-reduce, which a model file cannot hold (TensorFlow has no such operation) and one
  /// process could not run, the one-process training graph `oneProcess` builds, in a session
  /// holding the trained variables.
  func forSaving(
    session: Session, distributed: Bool, oneProcess: () throws -> TrainingParts
  ) throws -> (parts: TrainingParts, session: Session) {
    guard distributed else { return (self, session) }
    let single = try oneProcess()
    let copy = Session(graph: single.train.graph)
    try copyVariables(from: session, to: copy)
    return (single, copy)
  }
}

/// Sets every variable of `destination`'s graph to the value of the variable of the same name
/// in `source`'s graph: the same network built for several ranks and for one process has the
/// same variables, by name.
/// - Throws: ``RecipeError`` naming a variable that `source`'s graph does not have.
func copyVariables(from source: Session, to destination: Session) throws {
  let byName = Dictionary(source.graph.variables.map { ($0.operation.name, $0) }, uniquingKeysWith: { first, _ in first })
  for variable in destination.graph.variables {
    guard let original = byName[variable.operation.name] else {
      throw RecipeError("the trained graph has no variable '\(variable.operation.name)' to save")
    }
    try destination.setValue(try source.value(of: original), for: variable)
  }
}

/// A data set's ``Datasets/Dataset/digest`` as a setting's value for
/// `Communicator.verifySameSettings(_:)`: `digest 0123456789abcdef`.
func dataDigest(_ data: Dataset) -> String {
  let hex = String(data.digest, radix: 16)
  return "digest " + String(repeating: "0", count: 16 - hex.count) + hex
}

extension DigitsRecipe {
  /// The digits recipe's training graph for `configuration` (its layers, dtype and
  /// optimizer), with the first `sampleRows` rows of the data (standardized with their own
  /// statistics) as the sample batch.
  /// - Throws: ``RecipeError`` for bad settings or data; graph errors.
  public static func trainingGraph(_ configuration: Configuration, sampleRows: Int = 8) throws -> RecipeTrainingGraph {
    let c = configuration
    try c.validate()
    let table = try loadTable(path: c.dataPath)
    var data = try table.dataset()
    data = try data.rows(Array(0..<Swift.min(sampleRows, data.count)))
    let standardized = try Standardizer(fitting: data.features).transform(data)
    let t = try buildTraining(c, communicator: nil)
    return RecipeTrainingGraph(
      graph: t.net.graph, loss: t.loss, train: t.train,
      feeds: [t.net.input: standardized.features.converted(to: c.dtype), t.labels: standardized.labels])
  }
}

extension FashionRecipe {
  /// The Fashion-MNIST recipe's training graph for `configuration` (model, seed, Adam's
  /// learning rate); the sample batch is `sampleImages` blank images of class 0 with the
  /// training flag set (the data is not read).
  /// - Throws: graph errors.
  public static func trainingGraph(_ configuration: Configuration, sampleImages: Int = 2) throws -> RecipeTrainingGraph {
    let c = configuration
    let t = try buildTraining(c, learningRate: .constant(c.learningRate), communicator: nil)
    let (net, labels) = (t.net, t.labels)
    let d = FashionMNIST.side * FashionMNIST.side
    return RecipeTrainingGraph(
      graph: net.graph, loss: t.loss, train: t.train,
      feeds: [
        net.input: NDArray([Float](repeating: 0, count: sampleImages * d), shape: [sampleImages, d]),
        labels: NDArray([Int32](repeating: 0, count: sampleImages), shape: [sampleImages]),
        net.phase.flag: NDArray(scalar: true),
      ])
  }
}
