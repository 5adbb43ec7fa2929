import Recipes
import Testing

@Suite struct NotebookRecipeTests {
  @Test(arguments: 1...20)
  func regressionConvergesForEverySeed(_ seed: UInt64) throws {
    var c = NotebookRecipe.Configuration.regression
    c.seed = seed
    let report = try NotebookRecipe.regression(c).run(output: { _ in })
    #expect(Swift.abs(report.finalValue(of: "A") - 10) < 1, "seed \(seed): A = \(report.finalValue(of: "A"))")
    #expect(report.losses.count == 100)
  }

  @Test(arguments: 1...20)
  func classificationConvergesForEverySeed(_ seed: UInt64) throws {
    var c = NotebookRecipe.Configuration.classification
    c.seed = seed
    let report = try NotebookRecipe.classification(c).run(output: { _ in })
    let accuracy = try #require(report.accuracy)
    #expect(accuracy >= 0.9, "seed \(seed): accuracy \(accuracy)")
    #expect((-2...0).contains(report.finalValue(of: "A")), "seed \(seed): A = \(report.finalValue(of: "A"))")
  }

  @Test func sameSeedPrintsIdenticalText() throws {
    func text(_ seed: UInt64) throws -> String {
      var lines: [String] = []
      var r = NotebookRecipe.Configuration.regression
      r.seed = seed
      _ = try NotebookRecipe.regression(r).run(output: { lines.append($0) })
      var c = NotebookRecipe.Configuration.classification
      c.seed = seed
      _ = try NotebookRecipe.classification(c).run(output: { lines.append($0) })
      return lines.joined(separator: "\n")
    }
    let a = try text(42), b = try text(42), c = try text(43)
    #expect(a == b)
    #expect(a != c)
  }

  @Test func printsTheNotebookLineFormat() throws {
    var lines: [String] = []
    _ = try NotebookRecipe.regression().run(output: { lines.append($0) })
    #expect(lines.count == 8)
    #expect(lines[0].hasPrefix("Step #25 A = ["))
    #expect(lines[1].hasPrefix("Loss = ["))
    #expect(lines[6].hasPrefix("Step #100 A = ["))
    var classLines: [String] = []
    _ = try NotebookRecipe.classification().run(output: { classLines.append($0) })
    #expect(classLines.count == 15)
    #expect(classLines[1].hasPrefix("Loss = [["))
    #expect(classLines.last!.hasPrefix("Ending Accuracy = 0."))
  }

  @Test func l1LossAlsoConverges() throws {
    var c = NotebookRecipe.Configuration.regression
    c.loss = .l1
    c.steps = 600
    let report = try NotebookRecipe.regression(c).run(output: { _ in })
    #expect(Swift.abs(report.finalValue(of: "A") - 10) < 1)
  }

  @Test func invalidLearningRateThrows() throws {
    var c = NotebookRecipe.Configuration.regression
    c.learningRate = -1
    #expect { _ = try NotebookRecipe.regression(c).run(output: { _ in }) } throws: { "\($0)".contains("learning rate") }
  }
}
