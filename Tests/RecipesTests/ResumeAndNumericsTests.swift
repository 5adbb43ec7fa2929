import GraphCore
import Recipes
import Testing

@Suite struct ResumeAndNumericsTests {
  @Test func checkNumericsNamesTheFirstNonFiniteOperation() throws {
    var c = RegressionRecipe.Configuration()
    c.steps = 5
    c.learningRate = 1e30  // A jumps to ~1e31 after one step; (x·A − y)² then overflows float32
    c.checkNumerics = true
    #expect {
      _ = try RegressionRecipe(c).run(output: { _ in })
    } throws: { error in
      guard case let .nonFinite(op, name, location)? = error as? SessionError else { return false }
      return op == "Square" && name == "Square" && location?.file == "Recipes/NotebookRecipes.swift"
    }
    // Off: the run finishes with NaN losses instead.
    c.checkNumerics = false
    let report = try RegressionRecipe(c).run(output: { _ in })
    #expect(report.losses.contains { !$0.isFinite })
  }

  /// Runs `steps` steps from scratch, or resumes from `state` (A after `k` steps).
  func classification(steps: Int, resumeFrom state: (k: Int, a: NDArray)? = nil) throws -> (TrainingReport, NDArray, [String]) {
    var c = ClassificationRecipe.Configuration()
    c.steps = steps
    c.printEvery = 5
    var lines: [String] = []
    var final = NDArray()
    let hooks = TrainingHooks(
      willStart: { session in
        guard let state else { return 0 }
        try session.setValue(state.a, for: session.graph.variables[0])
        return state.k
      },
      didFinish: { session, _ in final = try session.value(of: session.graph.variables[0]) })
    let report = try ClassificationRecipe(c).run(output: { lines.append($0) }, hooks: hooks)
    return (report, final, lines)
  }

  @Test func resumedRunMatchesUninterruptedRun() throws {
    let (whole, wholeA, wholeLines) = try classification(steps: 30)
    let (first, firstA, _) = try classification(steps: 12)
    let (rest, restA, restLines) = try classification(steps: 30, resumeFrom: (12, firstA))
    #expect(rest.firstStep == 13)
    #expect(first.losses + rest.losses == whole.losses)
    #expect(first.parameter + rest.parameter == whole.parameter)
    #expect(restA.isBitIdentical(to: wholeA))
    // The printed lines of steps 15, 20, 25, 30 (and the accuracy) are the same.
    #expect(restLines == Array(wholeLines.suffix(restLines.count)))
    #expect(restLines.first == "Step #15 A = \(NDArray([Float(rest.parameter[2])]))")
  }

  @Test func resumingPastTheEndIsAnError() throws {
    var c = RegressionRecipe.Configuration()
    c.steps = 3
    #expect(throws: RecipeError.self) {
      _ = try RegressionRecipe(c).run(output: { _ in }, hooks: TrainingHooks(willStart: { _ in 4 }))
    }
  }
}
