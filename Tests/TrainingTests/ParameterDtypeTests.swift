import ArrayCore
import GraphCore
import Testing
import TestSupport
import Training

/// Parameters that are valid `Double`s but 0 or infinite once stored in the tensors' dtype
/// (`1e-50` and `1e300` in float32) gave NaN or infinite values without a word (the values in
/// the comments are what each call gave before); they are refused where the dtype is known,
/// as the optimizers' learning rates and epsilons already were.
@Suite struct ParameterDtypeTests {
  @Test func parametersThatAreZeroOrInfiniteInTheTensorsDtypeAreRefused() throws {
    let g = Graph()
    let a = g.constant(NDArray([Float(1), 2], shape: [1, 2]))
    let b = g.constant(NDArray([Float(1.5), 0], shape: [1, 2]))
    let phase = try TrainingPhase(graph: g)
    // huber: [nan]; the constant δ = ∞ times r - min(r, δ) = 0.
    expectError(["[HuberLoss]", "delta 1e+300", "float32"]) { _ = try huber(predicted: a, expected: b, delta: 1e300) }
    // A batch of one: variance 0, and ε = 0 in float32: 0 · ∞ = [nan, nan].
    expectError(["[BatchNorm]", "epsilon 1e-50", "float32"]) { _ = try BatchNorm(graph: g, channels: 2, phase: phase, epsilon: 1e-50) }
    expectError(["[BatchNormalization]", "epsilon"]) { _ = try batchNormalization(a, mean: b, variance: a * 0, epsilon: 1e-50) }
    // The forward pass computes in float64, the gradient adds ε in the dtype: √0 as a divisor.
    expectError(["[LayerNorm]", "epsilon"]) { _ = try LayerNorm(graph: g, features: 2, epsilon: 1e-50) }
    expectError(["[LayerNormalization]", "epsilon"]) { _ = try layerNormalization(a, epsilon: 1e-50) }
    expectError(["[Normalize]", "epsilon"]) { _ = try normalize(a, axes: [1], epsilon: 1e-50) }
    // A variable of [inf, inf].
    expectError(["[Initializer]", "constant value 1e+300", "float32"]) {
      _ = try g.variable(.constant(1e300), shape: [2], seed: 1, name: "c")
    }
    // inf.
    expectError(["[L2Penalty]", "float32"]) { _ = try l2Penalty([a], scale: 1e300) }
    // The scale clipNorm / max(norm, clipNorm): 0 / norm (no step ever) and ∞ / ∞ (NaN gradients).
    expectError(["[ClipByGlobalNorm]", "clipNorm 1e-50"]) { _ = try clipByGlobalNorm([a], clipNorm: 1e-50) }
    expectError(["[ClipByGlobalNorm]", "clipNorm 1e+300"]) { _ = try clipByGlobalNorm([a], clipNorm: 1e300) }
    // [-inf, nan] for [-1, 0].
    expectError(["[LeakyRelu]", "alpha"]) { _ = try leakyRelu(a, alpha: -1e300) }

    // The same values are numbers in float64, and small float32 values that are not 0 pass.
    let d = Graph()
    let x = d.constant(NDArray([1.0, 2], shape: [1, 2]))
    let loss = try huber(predicted: x, expected: x * 0, delta: 1e300)
    #expect(try Session(graph: d).run(loss) == NDArray(scalar: 1.25))
    _ = try BatchNorm(graph: d, channels: 2, phase: TrainingPhase(graph: d), epsilon: 1e-50, dtype: .float64)
    _ = try clipByGlobalNorm([x], clipNorm: 1e300)
    _ = try l2Penalty([x], scale: 1e300)
    _ = try leakyRelu(x, alpha: 1e300)
    _ = try d.variable(.constant(1e300), shape: [2], dtype: .float64, seed: 1, name: "c")
    _ = try LayerNorm(graph: g, features: 2, epsilon: 1e-44)
    _ = try clipByGlobalNorm([a], clipNorm: 1e-44)
  }
}
