// The notebook's classification recipe in eager style (no graph, no session): prints the lines
// of `backprop classification` for the same seed, bit for bit.
import Backprop

var rng = SeededGenerator(seed: 42)
let xVals = (0..<50).map { _ in Float(rng.normal(mean: -1, standardDeviation: 1)) }
  + (0..<50).map { _ in Float(rng.normal(mean: 3, standardDeviation: 1)) }
let yVals = [Float](repeating: 0, count: 50) + [Float](repeating: 1, count: 50)
var parameters = [try randomNormal(Graph.eager(), shape: [1], mean: 10, seed: 43).value]  // A
let optimizer = EagerOptimizer(try GradientDescentOptimizer(learningRate: 0.05))

func loss(_ x: Tensor, _ y: Tensor, _ a: Tensor) throws -> Tensor {
  try sigmoidCrossEntropyWithLogits(logits: expandDims(x + a, axis: 0), labels: expandDims(y, axis: 0))
}

for i in 1...1400 {
  let index = rng.choice(100)
  let (x, y) = (Tensor(NDArray([xVals[index]])), Tensor(NDArray([yVals[index]])))
  let (_, grads) = try valueWithGradient(at: parameters) { p in try loss(x, y, p[0]) }
  try optimizer.update(&parameters, along: grads)
  if i % 200 == 0 {
    print("Step #\(i) A = \(parameters[0])")
    print("Loss = \(try loss(x, y, Tensor(parameters[0])).value)")
  }
}
let a = Tensor(parameters[0])
var correct = 0
for (x, y) in zip(xVals, yVals) where try round(sigmoid(Tensor(NDArray([x])) + a)).value.scalarValue == Double(y) {
  correct += 1
}
print("Ending Accuracy = \((Double(correct) / 100 * 100).rounded() / 100)")
