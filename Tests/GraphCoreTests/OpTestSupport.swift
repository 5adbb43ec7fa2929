import ArrayCore
import GraphCore
import Testing
import TestSupport

/// The notebook's regression as a graph, for the session tests: placeholders `x` and `y` [1],
/// a variable `A` (seed 5), `loss = (x·A − y)²` and one SGD step at 0.02 (`train`).
func notebookRegressionGraph() throws -> (Graph, Tensor, Tensor, Tensor, Tensor, Operation) {
  let g = Graph()
  let x = g.placeholder(.float32, shape: [1], name: "x")
  let y = g.placeholder(.float32, shape: [1], name: "y")
  let a = try g.variable(randomNormal(g, shape: [1], seed: 5), name: "A")
  let loss = try square(x * a - y)
  let grads = try gradients(of: loss, withRespectTo: [a])
  let train = try g.group([try assignSubtract(a, grads[0]! * 0.02)])
  return (g, x, y, a, loss, train)
}

/// Runs `build` on placeholders fed with `inputs` and returns the value.
func evaluate(_ inputs: [NDArray], _ build: ([Tensor]) throws -> Tensor) throws -> NDArray {
  let graph = Graph()
  let xs = inputs.enumerated().map { i, v in graph.placeholder(v.dtype, shape: PartialShape(v.shape), name: "x\(i)") }
  let y = try build(xs)
  return try Session(graph: graph).run(y, feeding: Dictionary(uniqueKeysWithValues: zip(xs, inputs)))
}

/// Checks the forward value of `build` against `expected` (computed by an independent oracle in
/// Double) in float64 and in float32 (float inputs converted; others passed unchanged).
func expectForward(
  _ inputs: [NDArray], _ expected: NDArray, rtol32: Double = 2e-5, atol32: Double = 1e-6,
  sourceLocation: Testing.SourceLocation = #_sourceLocation, _ build: ([Tensor]) throws -> Tensor
) throws {
  let y64 = try evaluate(inputs, build)
  expectClose(y64, expected, rtol: 1e-12, atol: 1e-12, "float64", sourceLocation: sourceLocation)
  let inputs32 = inputs.map { $0.dtype == .float64 ? $0.converted(to: .float32) : $0 }
  let y32 = try evaluate(inputs32, build)
  #expect(y32.dtype == (expected.dtype == .float64 ? .float32 : expected.dtype), sourceLocation: sourceLocation)
  expectClose(y32, expected, rtol: rtol32, atol: atol32, "float32", sourceLocation: sourceLocation)
}

/// Gradient check in float64: max relative error below 1e-6.
func expectGradients(
  _ inputs: [NDArray], sourceLocation: Testing.SourceLocation = #_sourceLocation,
  _ build: (Graph, [Tensor]) throws -> Tensor
) throws {
  let result = try checkGradients(inputs, build: build)
  #expect(result.maxRelativeError < 1e-6, "max relative error \(result.maxRelativeError)", sourceLocation: sourceLocation)
}

/// Expects `body` to throw a GraphError whose message contains every string of `parts`.
func expectGraphError(
  _ parts: [String], sourceLocation: Testing.SourceLocation = #_sourceLocation, _ body: (Graph) throws -> Void
) {
  do {
    try body(Graph())
    Issue.record("no error thrown", sourceLocation: sourceLocation)
  } catch let error as GraphError {
    let message = error.description
    for p in parts where !message.contains(p) {
      Issue.record("message lacks \"\(p)\": \(message)", sourceLocation: sourceLocation)
    }
  } catch {
    Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
  }
}

/// The values of a float64 array.
func values(_ a: NDArray) -> [Double] { a.doubles }

/// A float64 array from values.
func array(_ v: [Double], _ shape: Shape) -> NDArray { NDArray(v, shape: shape) }

/// Row-major multi-index of flat index `i` in `shape`.
func multiIndex(_ i: Int, _ shape: Shape) -> [Int] {
  var r = i
  var out = [Int](repeating: 0, count: shape.rank)
  for k in stride(from: shape.rank - 1, through: 0, by: -1) {
    out[k] = r % shape[k]
    r /= shape[k]
  }
  return out
}

/// Flat index of a multi-index in `shape`.
func flatIndex(_ idx: [Int], _ shape: Shape) -> Int {
  var f = 0
  for k in 0..<shape.rank { f = f * shape[k] + idx[k] }
  return f
}
