// The notebook's regression recipe in eager style (no graph, no session): prints the lines of
// `backprop regression` for the same seed, bit for bit.
import Backprop

var rng = SeededGenerator(seed: 42)
let xVals = (0..<100).map { _ in Float(rng.normal(mean: 1, standardDeviation: 0.1)) }
var parameters = [try randomNormal(Graph.eager(), shape: [1], seed: 43).value]  // A
let optimizer = EagerOptimizer(try GradientDescentOptimizer(learningRate: 0.02))

func loss(_ x: Tensor, _ a: Tensor) throws -> Tensor { try square(x * a - Tensor(NDArray([Float(10)]))) }

for i in 1...100 {
  let x = Tensor(NDArray([xVals[rng.choice(100)]]))
  let (_, grads) = try valueWithGradient(at: parameters) { p in try loss(x, p[0]) }
  try optimizer.update(&parameters, along: grads)
  if i % 25 == 0 {
    print("Step #\(i) A = \(parameters[0])")
    print("Loss = \(try loss(x, Tensor(parameters[0])).value)")
  }
}
