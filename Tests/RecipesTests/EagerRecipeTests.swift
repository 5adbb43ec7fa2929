import ArrayCore
import GraphCore
import Recipes
import Testing

/// The notebook's recipes run eagerly (`--eager`) print the graph runs' lines and report the
/// same numbers, bit for bit: the same kernels, gradient definitions and update.
@Suite struct EagerRecipeTests {
  @Test(arguments: ["regression", "classification", "regression-l1-batch4"])
  func eagerRunEqualsGraphRun(name: String) throws {
    var recipe: NotebookRecipe
    switch name {
    case "regression": recipe = .regression()
    case "classification": recipe = .classification()
    default:
      var c = NotebookRecipe.Configuration.regression
      c.loss = .l1
      c.batchSize = 4
      c.steps = 60
      c.printEvery = 20
      recipe = .regression(c)
    }
    var graphLines: [String] = []
    var eagerLines: [String] = []
    let graph = try recipe.run(output: { graphLines.append($0) })
    let eager = try recipe.runEagerly(output: { eagerLines.append($0) })
    #expect(eagerLines == graphLines)
    #expect(eager.losses.map(\.bitPattern) == graph.losses.map(\.bitPattern))
    #expect(eager.finalParameters == graph.finalParameters)
    #expect(eager.accuracy == graph.accuracy)
    #expect(eager.probabilityCurve?.probabilities == graph.probabilityCurve?.probabilities)
  }
}
