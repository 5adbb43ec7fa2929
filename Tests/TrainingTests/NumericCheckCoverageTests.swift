import ArrayCore
import GraphCore
import Testing
import TestSupport
import Training

/// `withNumericChecks` (TF2's `enable_check_numerics`) checked eager operations only: a
/// compiled function's run and an eager optimizer's update let NaN and infinity through,
/// silently. Each is now reported as an eager operation's is:
/// ``SessionError/nonFinite(op:name:location:)`` naming the operation and the line that made it.
@Suite struct NumericCheckCoverageTests {
  /// TF2 checks the operations inside a `tf.function`; a compiled function's runs were
  /// unchecked (its session's options), so `log(x - 1)` at 1 gave -inf without a word.
  @Test func compiledFunctionsRunChecked() throws {
    let f = compile { i in [try log(i[0] - 1)] }
    let one = NDArray([Float(1)])
    #expect(try f([one])[0].scalars(as: Float.self) == [-.infinity])
    expectError(["[Log]", "produced NaN or infinity", "NumericCheckCoverageTests.swift"]) {
      _ = try withNumericChecks { try f([one]) }
    }
    expectError(["[Log]"]) { _ = try withNumericChecks { try f([Tensor(one)]) } }
    // The same trace, unchecked again, and checked on finite values.
    #expect(try f([one])[0].scalars(as: Float.self) == [-.infinity])
    #expect(try withNumericChecks { try f([NDArray([Float(2)])]) }[0].scalars(as: Float.self) == [0])
    #expect(f.traceCount == 1)
  }

  /// An eager optimizer's update runs the optimizer's graph: under checks its operations are
  /// checked as a session with `checkNumerics` checks them (the step `η·g` here overflows), and
  /// the variable keeps its value. (The in-place writes, `AssignSub` and `ApplyAdam`, have no
  /// outputs, so neither a session nor TF2 checks them: an update that overflows is named by the
  /// next operation that reads the variable.)
  @Test func eagerOptimizerUpdatesRunChecked() throws {
    let v = try Graph.eager().variable(NDArray([Float(1)]), name: "v")
    let optimizer = EagerOptimizer(try GradientDescentOptimizer(learningRate: 10))
    let g = Tensor(NDArray([Float.greatestFiniteMagnitude]))
    expectError(["[Mul]", "'update/update_parameter_0/Mul' produced NaN or infinity"]) {
      try withNumericChecks { try optimizer.update([v], along: [g]) }
    }
    #expect(try v.value.scalars(as: Float.self) == [1])
    try withNumericChecks { try optimizer.update([v], along: [Tensor(NDArray([Float(0.05)]))]) }
    #expect(try v.value.scalars(as: Float.self) == [0.5])
  }
}
