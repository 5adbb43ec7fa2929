import ArrayCore
import GraphCore
import Testing
import TestSupport
import Training

/// `withNumericChecks` (TF2's `enable_check_numerics`) checked eager operations only: a
/// compiled function's run, an eager leaf (`Tensor(array)`), an eager variable made or assigned,
/// and an eager optimizer's update let NaN and infinity through, silently. Each is now reported
/// as an eager operation's is: ``SessionError/nonFinite(op:name:location:)`` naming the
/// operation and the line that made it.
@Suite struct NumericCheckCoverageTests {
  private let nan = NDArray([Float.nan])

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

  /// An eager leaf cannot throw when made (`Tensor(array)`): made while checks are on and
  /// holding NaN or infinity, it is named by the first operation that reads it.
  @Test func leavesAreNamedByTheirFirstUse() throws {
    expectError(["[Const]", "'data' produced NaN or infinity", "NumericCheckCoverageTests.swift"]) {
      try withNumericChecks {
        let data = Tensor(nan, name: "data")
        _ = try data * 0
      }
    }
    let tape = GradientTape()
    expectError(["[Const]", "'x'"]) { try withNumericChecks { _ = try tape.record { try tape.watch(nan) + 1 } } }
    // Unchecked, or made outside the scope and never the cause: kept as before.
    #expect(try withNumericChecks(false) { try (Tensor(nan) * 0).value }.scalars(as: Float.self)[0].isNaN)
    let outside = Tensor(NDArray([Float.infinity]))
    #expect(try withNumericChecks { try greater(outside, Tensor(NDArray([Float(0)]))).value }.scalars(as: Bool.self) == [true])
  }

  /// `assign` and the creation of an eager variable stored NaN and infinity unchecked.
  @Test func variablesStoreOnlyFiniteValuesWhileChecked() throws {
    let v = try Graph.eager().variable(NDArray([Float(1)]), name: "v")
    expectError(["[Assign]", "'v' produced NaN or infinity", "NumericCheckCoverageTests.swift"]) {
      try withNumericChecks { try v.assign(NDArray([Float.infinity])) }
    }
    #expect(try v.value.scalars(as: Float.self) == [1])
    expectError(["[VariableV2]", "'w' produced NaN or infinity"]) {
      _ = try withNumericChecks { try Graph.eager().variable(NDArray([Float.nan]), name: "w") }
    }
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
