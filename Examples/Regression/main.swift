// The notebook's regression recipe, written directly against the library: the README's sample.
import Backprop

let graph = Graph()
var rng = SeededGenerator(seed: 42)
let xVals = (0..<100).map { _ in Float(rng.normal(mean: 1, standardDeviation: 0.1)) }
let x = graph.placeholder(.float32, shape: [1], name: "x_data")
let y = graph.placeholder(.float32, shape: [1], name: "y_target")
let a = try graph.variable(randomNormal(graph, shape: [1], seed: 43), name: "A")
let loss = try square(multiply(x, a) - y)
let train = try GradientDescentOptimizer(learningRate: 0.02).minimize(loss)

let session = Session(graph: graph)
try session.run(graph.variablesInitializer())
for i in 1...100 {
  let feeds: ScalarFeeds = [x: xVals[rng.choice(100)], y: 10]
  try session.run(train, feeding: feeds)
  if i % 25 == 0 {
    print("Step #\(i) A = \(try session.run(a))")
    print("Loss = \(try session.run(loss, feeding: feeds))")
  }
}
