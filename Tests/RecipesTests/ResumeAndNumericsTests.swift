import Foundation
import GraphCore
import Recipes
import Testing

@Suite struct ResumeAndNumericsTests {
  @Test func checkNumericsNamesTheFirstNonFiniteOperation() throws {
    var c = NotebookRecipe.Configuration.regression
    c.steps = 5
    c.learningRate = 1e30  // A jumps to ~1e31 after one step; (x·A − y)² then overflows float32
    c.checkNumerics = true
    #expect {
      _ = try NotebookRecipe.regression(c).run(output: { _ in })
    } throws: { error in
      guard case let .nonFinite(op, name, location)? = error as? SessionError else { return false }
      return op == "Square" && name == "Square" && location?.file == "Recipes/NotebookRecipes.swift"
    }
    // Off: the run finishes with NaN losses instead.
    c.checkNumerics = false
    let report = try NotebookRecipe.regression(c).run(output: { _ in })
    #expect(report.losses.contains { !$0.isFinite })
  }

  /// Runs `steps` steps from scratch, or resumes from `state` (A after `k` steps).
  func classification(steps: Int, resumeFrom state: (k: Int, a: NDArray)? = nil) throws -> (TrainingReport, NDArray, [String]) {
    var c = NotebookRecipe.Configuration.classification
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
    let report = try NotebookRecipe.classification(c).run(output: { lines.append($0) }, hooks: hooks)
    return (report, final, lines)
  }

  @Test func resumedRunMatchesUninterruptedRun() throws {
    let (whole, wholeA, wholeLines) = try classification(steps: 30)
    let (first, firstA, _) = try classification(steps: 12)
    let (rest, restA, restLines) = try classification(steps: 30, resumeFrom: (12, firstA))
    #expect(rest.firstStep == 13)
    #expect(first.losses + rest.losses == whole.losses)
    #expect(first.history(of: "A") + rest.history(of: "A") == whole.history(of: "A"))
    #expect(restA.isBitIdentical(to: wholeA))
    // The printed lines of steps 15, 20, 25, 30 (and the accuracy) are the same.
    #expect(restLines == Array(wholeLines.suffix(restLines.count)))
    #expect(restLines.first == "Step #15 A = \(NDArray([Float(rest.history(of: "A")[2])]))")
  }

  @Test func resumeFromCheckpointFileMatchesUninterruptedRun() throws {
    // Save after step 17 to a safetensors file, restore it into a fresh run, continue to 40:
    // every loss, every A and the final variables equal those of one 40-step run, bit for bit.
    let path = "/tmp/backprop-resume-\(UInt64.random(in: 0...UInt64.max)).safetensors"
    defer { try? FileManager.default.removeItem(atPath: path) }
    var c = NotebookRecipe.Configuration.regression
    c.printEvery = 10
    c.steps = 40
    var wholeFinal = NDArray()
    var wholeLines: [String] = []
    let whole = try NotebookRecipe.regression(c).run(
      output: { wholeLines.append($0) },
      hooks: TrainingHooks(didFinish: { session, _ in wholeFinal = try session.value(of: session.graph.variables[0]) }))

    c.steps = 17
    let first = try NotebookRecipe.regression(c).run(
      output: { _ in },
      hooks: TrainingHooks(didFinish: { session, steps in
        try Checkpoint.save(session: session, to: path, metadata: ["step": String(steps)])
      }))
    c.steps = 40
    var restFinal = NDArray()
    var restLines: [String] = []
    let rest = try NotebookRecipe.regression(c).run(
      output: { restLines.append($0) },
      hooks: TrainingHooks(
        willStart: { session in
          let metadata = try Checkpoint.restore(session: session, from: path)
          return Int(metadata["step"] ?? "") ?? -1
        },
        didFinish: { session, _ in restFinal = try session.value(of: session.graph.variables[0]) }))
    #expect(rest.firstStep == 18)
    #expect(first.losses + rest.losses == whole.losses)
    #expect(first.history(of: "A") + rest.history(of: "A") == whole.history(of: "A"))
    #expect(restFinal.isBitIdentical(to: wholeFinal))
    #expect(restLines == Array(wholeLines.suffix(restLines.count)))  // steps 20, 30, 40
    #expect(restLines.count == 6)
  }

  @Test func resumingPastTheEndIsAnError() throws {
    var c = NotebookRecipe.Configuration.regression
    c.steps = 3
    #expect(throws: RecipeError.self) {
      _ = try NotebookRecipe.regression(c).run(output: { _ in }, hooks: TrainingHooks(willStart: { _ in 4 }))
    }
  }
}
