import Testing
import Training

/// Errors raised by layers, losses and optimizers name the file and line of the user's code
/// that built the failing piece (and, for layer calls, where the input was built).
@Suite struct ErrorLocationTests {
  func expectLocation(_ line: Int, _ fragments: [String] = [], _ body: () throws -> Void, sourceLocation: Testing.SourceLocation = #_sourceLocation) {
    do {
      try body()
      Issue.record("no error thrown", sourceLocation: sourceLocation)
    } catch {
      let text = "\(error)"
      #expect(text.contains("ErrorLocationTests.swift:\(line)"), "\(text)", sourceLocation: sourceLocation)
      for f in fragments { #expect(text.contains(f), "\(text) lacks \(f)", sourceLocation: sourceLocation) }
    }
  }

  @Test func denseLayerCallNamesTheLayerLineAndTheInputLine() throws {
    let graph = Graph()
    let layerLine = #line + 1
    let dense = try Dense(graph: graph, inputSize: 3, units: 2, seed: 1)
    let inputLine = #line + 1
    let x = graph.placeholder(.float32, shape: [nil, 5], name: "x")
    expectLocation(layerLine, ["'x:0' float32 [?, 5]", "ErrorLocationTests.swift:\(inputLine)"]) { _ = try dense(x) }
    expectLocation(#line, ["Dense"]) { _ = try Dense(graph: graph, inputSize: 0, units: 2, seed: 1) }
  }

  @Test func lossesNameTheCallLine() throws {
    let graph = Graph()
    let p = graph.placeholder(.float32, shape: [4, 3])
    let q = graph.placeholder(.float32, shape: [4, 2])
    expectLocation(#line, ["[4, 3]", "[4, 2]"]) { _ = try meanSquaredError(predicted: p, expected: q) }
    expectLocation(#line) { _ = try softmaxCrossEntropy(logits: p, labels: q) }
  }

  @Test func optimizersNameTheLine() throws {
    expectLocation(#line, ["learning rate"]) { _ = try AdamOptimizer(learningRate: -1.0) }
    expectLocation(#line) { _ = try GradientDescentOptimizer(learningRate: .nan) }
    let graph = Graph()
    let unrelated = try graph.variable(NDArray([Float(1)]))
    let x = graph.placeholder(.float32, shape: [1])
    _ = unrelated
    expectLocation(#line, ["no gradients"]) { _ = try GradientDescentOptimizer(learningRate: 0.1).minimize(square(x)) }
  }
}
