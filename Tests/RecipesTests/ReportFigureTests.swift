import Foundation
import Plotting
import Recipes
import Testing

#if canImport(FoundationXML)
  import FoundationXML
#endif

@Suite struct ReportFigureTests {
  func attribute(_ element: XMLElement, _ name: String) -> String? {
    element.attributes?.first { $0.name == name }?.stringValue
  }

  func elements(_ svg: String, _ xpath: String) throws -> [XMLElement] {
    let doc = try XMLDocument(data: Data(svg.utf8), options: [])
    return try doc.nodes(forXPath: xpath).compactMap { $0 as? XMLElement }
  }

  @Test func regressionFigureHasLossAndParameterWithReference() throws {
    var c = NotebookRecipe.Configuration.regression
    c.steps = 30
    let recipe = NotebookRecipe.regression(c)
    let report = try recipe.run(output: { _ in })
    let svg = recipe.figure(for: report).svg()
    let series = try elements(svg, "//*[local-name()='path'][@class='series']")
    #expect(series.compactMap { attribute($0, "data-name") } == ["loss (raw)", "loss (smoothed)", "A"])
    #expect(series.compactMap { attribute($0, "data-points") } == ["30", "30", "30"])
    let reference = try elements(svg, "//*[local-name()='line'][@class='reference']")
    #expect(reference.compactMap { attribute($0, "data-value") } == ["10"])
  }

  @Test func classificationFigureHasDataPanelWithBoundary() throws {
    var c = NotebookRecipe.Configuration.classification
    c.steps = 20
    let recipe = NotebookRecipe.classification(c)
    let report = try recipe.run(output: { _ in })
    let svg = recipe.figure(for: report).svg()
    #expect(try elements(svg, "//*[local-name()='g'][@class='chart']").count == 3)
    let groups = try elements(svg, "//*[local-name()='g'][@class='scatter']")
    #expect(groups.map { $0.children?.count ?? 0 } == [50, 50])
    let reference = try elements(svg, "//*[local-name()='line'][@class='reference']")
    let values = reference.compactMap { attribute($0, "data-value") }.compactMap(Double.init)
    // Theoretical A = -1 on the parameter panel; learned boundary x = -A and ideal x = 1.
    #expect(values.count == 3)
    #expect(values[0] == -1)
    #expect(abs(values[1] + report.finalValue(of: "A")) < 1e-4)
    #expect(values[2] == 1)
  }

  @Test func digitsFigureAndEpochLog() throws {
    var c = DigitsRecipe.Configuration()
    c.dataPath = "\(#filePath)".split(separator: "/").dropLast(3).map { "/" + $0 }.joined() + "/Data/digits.csv"
    c.epochs = 2
    c.rowLimit = 200
    c.hiddenSizes = [16]
    let report = try DigitsRecipe(c).run { _ in }
    let svg = report.figure(title: "digits").svg()
    let series = try elements(svg, "//*[local-name()='path'][@class='series']")
    #expect(series.compactMap { attribute($0, "data-name") } == ["loss", "train", "test"])
    #expect(series.compactMap { attribute($0, "data-points") } == ["2", "2", "2"])
    let csv = report.epochLog().csv().split(separator: "\n")
    #expect(csv.count == 3)
    #expect(csv[0] == "epoch,loss,train_accuracy,test_accuracy,seconds")
    #expect(csv[2].hasPrefix("2,\(report.epochs[1].loss),"))
  }

  @Test func stepLogHasOneRowPerStep() throws {
    var c = NotebookRecipe.Configuration.regression
    c.steps = 12
    let report = try NotebookRecipe.regression(c).run(output: { _ in })
    let lines = report.stepLog().jsonLines().split(separator: "\n")
    #expect(lines.count == 12)
    let last = try #require(try JSONSerialization.jsonObject(with: Data(lines[11].utf8)) as? [String: Any])
    #expect(last["step"] as? Int == 12)
    #expect((last["A"] as? Double).map { Float($0) } == Float(report.history(of: "A")[11]))
    #expect((last["loss"] as? Double).map { Float($0) } == Float(report.losses[11]))
  }
}
