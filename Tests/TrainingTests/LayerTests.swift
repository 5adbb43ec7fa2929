import ArrayCore
import Foundation
import GraphCore
import Testing
import TestSupport
import Training

/// `activation(x · W + b)` with plain loops (row-major `x` [n, k], `W` [k, m], `b` [m]).
func denseOracle(_ x: [Double], _ w: [Double], _ b: [Double], n: Int, k: Int, m: Int, _ f: (Double) -> Double) -> [Double] {
  var out = [Double](repeating: 0, count: n * m)
  for i in 0..<n {
    for j in 0..<m {
      var s = b.isEmpty ? 0 : b[j]
      for p in 0..<k { s += x[i * k + p] * w[p * m + j] }
      out[i * m + j] = f(s)
    }
  }
  return out
}

@Suite struct LayerTests {
  @Test(arguments: ["linear", "relu", "sigmoid", "tanh"])
  func denseComputesActivationOfAffineMap(_ which: String) throws {
    let (activation, f): (Activation, (Double) -> Double) =
      switch which {
      case "relu": (.relu, { Swift.max($0, 0) })
      case "sigmoid": (.sigmoid, { 1 / (1 + Foundation.exp(-$0)) })
      case "tanh": (.tanh, { Foundation.tanh($0) })
      default: (.linear, { $0 })
      }
    #expect(activation.description == which)
    let graph = Graph()
    let x = graph.placeholder(.float64, shape: [nil, 3], name: "x")
    let dense = try Dense(graph: graph, inputSize: 3, units: 2, activation: activation, dtype: .float64, seed: 5)
    let y = try dense(x)
    let session = Session(graph: graph)
    try session.initializeVariables()
    let w = randomArray([3, 2], seed: 1), b = randomArray([2], seed: 2), xs = randomArray([4, 3], seed: 3)
    try session.setValue(w, for: dense.kernel)
    try session.setValue(b, for: try #require(dense.bias))
    let got = try session.run(y, feeding: [x: xs])
    let expected = denseOracle(xs.doubles, w.doubles, b.doubles, n: 4, k: 3, m: 2, f)
    expectClose(got, NDArray(expected, shape: [4, 2]), rtol: 1e-14, atol: 1e-15)
  }

  @Test func customActivationIsApplied() throws {
    let graph = Graph()
    let leaky = Activation.custom(name: "double") { try $0 * 2.0 }
    #expect(leaky.description == "double")
    let dense = try Dense(graph: graph, inputSize: 1, units: 1, activation: leaky, useBias: false,
                          kernelInitializer: .constant(3), dtype: .float64, seed: 0)
    let y = try dense(graph.constant(NDArray([2.0], shape: [1, 1])))
    let session = Session(graph: graph)
    try session.initializeVariables()
    #expect(try session.run(y).doubles == [12])  // 2 · 3, doubled
    #expect(dense.variables.count == 1 && dense.bias == nil)
  }

  @Test func variablesAreNamedAndUniqueAsTF1() throws {
    let graph = Graph()
    let a = try Dense(graph: graph, inputSize: 2, units: 3, seed: 1)
    let b = try Dense(graph: graph, inputSize: 3, units: 1, seed: 2)
    let c = try Dense(graph: graph, inputSize: 3, units: 1, seed: 2, name: "out")
    #expect(a.variables.map { $0.operation.name } == ["dense/kernel", "dense/bias"])
    #expect(b.variables.map { $0.operation.name } == ["dense_1/kernel", "dense_1/bias"])
    #expect(c.name == "out")
    #expect(a.kernel.shape == [2, 3] && a.bias?.shape == [3])
    #expect(graph.trainableVariables.count == 6)
  }

  @Test func sameSeedSameKernel() throws {
    func kernel(_ seed: UInt64) throws -> NDArray {
      let graph = Graph()
      let d = try Dense(graph: graph, inputSize: 4, units: 3, kernelInitializer: .heNormal, seed: seed)
      let s = Session(graph: graph)
      try s.initializeVariables()
      return try s.value(of: d.kernel)
    }
    #expect(try kernel(3).isBitIdentical(to: kernel(3)))
    #expect(try !kernel(3).isBitIdentical(to: kernel(4)))
  }

  @Test func wrongInputsThrowNamingTheLayerAndShapes() throws {
    let graph = Graph()
    let dense = try Dense(graph: graph, inputSize: 3, units: 2, seed: 1)
    for (input, fragments) in [
      (graph.placeholder(.float32, shape: [nil, 4]), ["[Dense] 'dense'", "[?, 3]", "[?, 4]"]),
      (graph.placeholder(.float64, shape: [nil, 3]), ["[Dense]", "float64"]),
      (Graph().placeholder(.float32, shape: [nil, 3]), ["[Dense]", "another graph"]),
    ] {
      #expect {
        _ = try dense(input)
      } throws: { error in
        guard case GraphError.invalidOperation = error else { return false }
        return fragments.allSatisfy { "\(error)".contains($0) }
      }
    }
    expectInvalidArgument(["Dense", "units", "0"]) { _ = try Dense(graph: graph, inputSize: 3, units: 0, seed: 1) }
  }

  @Test func sequentialChainsLayersAndExposesAllVariables() throws {
    let graph = Graph()
    let l1 = try Dense(graph: graph, inputSize: 2, units: 3, activation: .tanh, dtype: .float64, seed: 1)
    let l2 = try Dense(graph: graph, inputSize: 3, units: 1, activation: .sigmoid, dtype: .float64, seed: 2)
    let model = Sequential([l1, l2])
    #expect(model.variables == l1.variables + l2.variables)
    let x = graph.placeholder(.float64, shape: [nil, 2])
    let y = try model(x)
    let session = Session(graph: graph)
    try session.initializeVariables()
    let xs = randomArray([5, 2], seed: 9)
    let w1 = try session.value(of: l1.kernel).doubles, b1 = try session.value(of: l1.bias!).doubles
    let w2 = try session.value(of: l2.kernel).doubles, b2 = try session.value(of: l2.bias!).doubles
    let h = denseOracle(xs.doubles, w1, b1, n: 5, k: 2, m: 3) { Foundation.tanh($0) }
    let expected = denseOracle(h, w2, b2, n: 5, k: 3, m: 1) { 1 / (1 + Foundation.exp(-$0)) }
    expectClose(try session.run(y, feeding: [x: xs]), NDArray(expected, shape: [5, 1]), rtol: 1e-14, atol: 1e-15)
  }

  @Test func trainingPhaseDefaultsToFalseAndCanBeFed() throws {
    let graph = Graph()
    let phase = try TrainingPhase(graph: graph)
    #expect(phase.flag.dtype == .bool && phase.flag.shape == [])
    // A value that depends on the flag, as dropout will: 1 while training, 0 otherwise.
    let asNumber = try cast(phase.flag, to: .float64)
    let session = Session(graph: graph)
    #expect(try session.run(asNumber).doubles == [0])
    #expect(try session.run(asNumber, feeding: phase.feed(true)).doubles == [1])
    #expect(try session.run(asNumber, feeding: phase.feed(false)).doubles == [0])
    let on = try TrainingPhase(graph: graph, default: true, name: "always")
    #expect(try session.run(cast(on.flag, to: .float64)).doubles == [1])
    #expect(on.flag.operation.name == "always" && on.flag.operation.type == "PlaceholderWithDefault")
  }
}
