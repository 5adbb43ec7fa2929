// The digits MLP written eagerly, as a PyTorch user would: layers hold their parameters, a tape
// records each step, an optimizer updates the layers' variables. `swift run -c release
// eager-digits-example` (run from the repository root, which holds Data/digits.csv).
import Backprop

let table = try NumericTable(contentsOfFile: "Data/digits.csv")
let (rawTrain, rawTest) = try table.dataset().split(testFraction: 0.2, seed: 1)
let standardizer = try Standardizer(fitting: rawTrain.features)
let (train, test) = (try standardizer.transform(rawTrain), try standardizer.transform(rawTest))

let parameters = Graph.eager()
let model = Sequential([
  try Dense(graph: parameters, inputSize: 64, units: 64, activation: .relu, seed: 1),
  try Dense(graph: parameters, inputSize: 64, units: 10, seed: 2),
])
let optimizer = EagerOptimizer(try AdamOptimizer(learningRate: 0.01))

func accuracy(_ model: Sequential, _ data: Dataset) throws -> Double {
  let predicted = try argMax(model(Tensor(data.features)), axis: 1).value.scalars(as: Int32.self)
  return Double(zip(predicted, data.labels.scalars(as: Int32.self)).filter { $0 == $1 }.count) / Double(data.count)
}

for epoch in 1...10 {
  var total = 0.0
  for (x, y) in try train.epoch(epoch, batchSize: 32, seed: 7) {
    let tape = GradientTape()
    let loss = try tape.record { try sparseSoftmaxCrossEntropy(logits: model(Tensor(x)), labels: Tensor(y)) }
    try optimizer.update(model.variables, along: try tape.gradient(of: loss, withRespectTo: model.variables))
    total += try loss.value.scalarValue * Double(x.shape[0])
  }
  func rounded(_ x: Double) -> Double { (x * 10_000).rounded() / 10_000 }
  let (trainAccuracy, testAccuracy) = (try accuracy(model, train), try accuracy(model, test))
  print("epoch \(epoch)  loss \(rounded(total / Double(train.count)))  train \(rounded(trainAccuracy))  test \(rounded(testAccuracy))")
}
