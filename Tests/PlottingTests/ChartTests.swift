import Foundation
import Plotting
import Testing

#if canImport(FoundationXML)
  import FoundationXML
#endif

/// Parses SVG text as XML (failing the test when it is not well-formed).
func parseXML(_ text: String) throws -> XMLDocument {
  try XMLDocument(data: Data(text.utf8), options: [])
}

/// The elements matching an XPath query.
func elements(_ document: XMLDocument, _ xpath: String) throws -> [XMLElement] {
  try document.nodes(forXPath: xpath).compactMap { $0 as? XMLElement }
}

/// An attribute's value (looked up by name: FoundationXML's `attribute(forName:)` misses
/// attributes of elements in a default namespace, as SVG's are).
func attribute(_ element: XMLElement, _ name: String) -> String? {
  element.attributes?.first { $0.name == name }?.stringValue
}

/// The number of points of an SVG path's `d` (each `M` or `L` command is one point).
func pointCount(_ d: String) -> Int { d.split(separator: " ").filter { $0.hasPrefix("M") || $0.hasPrefix("L") }.count }

@Suite struct ChartTests {
  func lossChart() -> Chart {
    var chart = Chart(title: "Loss <per> step & more", xLabel: "step", yLabel: "loss")
    chart.lines.append(LineSeries(name: "raw", steps: [5, 4, .nan, 3, 2.5, 2], color: .blue, opacity: 0.3))
    chart.lines.append(LineSeries(name: "smoothed", steps: [5, 4.5, 4, 3.5, 3, 2.5]))
    chart.referenceLines.append(.horizontal(at: 1, label: "theoretical = 1", color: .red))
    return chart
  }

  @Test func svgIsWellFormedWithSeriesAndLabels() throws {
    let svg = lossChart().svg()
    let doc = try parseXML(svg)
    let root = try #require(doc.rootElement())
    #expect(root.name == "svg")
    #expect(root.namespaces?.compactMap(\.stringValue) == ["http://www.w3.org/2000/svg"])

    let series = try elements(doc, "//*[local-name()='path'][@class='series']")
    #expect(series.map { attribute($0, "data-name") } == ["raw", "smoothed"])
    // One point per finite step; the NaN step breaks the raw line into two pieces.
    let rawD = try #require(attribute(series[0], "d"))
    #expect(pointCount(rawD) == 5)
    #expect(rawD.split(separator: " ").filter { $0.hasPrefix("M") }.count == 2)
    #expect(attribute(series[0], "stroke-opacity") == "0.3")
    let smoothD = try #require(attribute(series[1], "d"))
    #expect(pointCount(smoothD) == 6)

    let reference = try elements(doc, "//*[local-name()='line'][@class='reference']")
    #expect(reference.count == 1)
    #expect(attribute(reference[0], "data-value") == "1")
    // A horizontal line: both ends at the same height.
    #expect(attribute(reference[0], "y1") == attribute(reference[0], "y2"))

    let texts = try elements(doc, "//*[local-name()='text']").compactMap(\.stringValue)
    #expect(texts.contains("Loss <per> step & more"))  // escaped in the file, intact once parsed
    #expect(texts.contains("step"))
    #expect(texts.contains("loss"))
    #expect(texts.contains("raw") && texts.contains("smoothed") && texts.contains("theoretical = 1"))
    // The y axis covers 1 (the reference line) to 5 with nice ticks.
    let yTicks = try elements(doc, "//*[local-name()='g'][@class='y-axis']/*[local-name()='text']").compactMap(\.stringValue)
    #expect(yTicks.first == "0" && yTicks.contains("5"))
  }

  @Test func pointsMapLinearlyToPixels() throws {
    // x from 0 to 10 (tight), y fixed to [0, 100]: pixel positions must be proportional.
    var chart = Chart()
    chart.lines.append(LineSeries(name: "", x: [0, 5, 10], y: [0, 50, 100]))
    chart.yRange = 0...100
    let doc = try parseXML(chart.svg(width: 400, height: 300))
    let d = try #require(try elements(doc, "//*[local-name()='path'][@class='series']").first.flatMap { attribute($0, "d") })
    let numbers = d.split(separator: " ").map { Double($0.drop { $0 == "M" || $0 == "L" })! }
    let (x0, y0, x1, y1, x2, y2) = (numbers[0], numbers[1], numbers[2], numbers[3], numbers[4], numbers[5])
    #expect(abs((x1 - x0) - (x2 - x1)) < 0.02)
    #expect(abs((y0 - y1) - (y1 - y2)) < 0.02)
    #expect(y2 < y0)  // larger values are higher up
  }

  @Test func logarithmicAxisLeavesGapsForNonPositiveValues() throws {
    var chart = Chart()
    chart.yScale = .logarithmic
    chart.lines.append(LineSeries(name: "loss", steps: [100, 10, 0, 1, 0.1]))
    let doc = try parseXML(chart.svg())
    let path = try #require(try elements(doc, "//*[local-name()='path'][@class='series']").first)
    #expect(attribute(path, "data-points") == "4")
    let ticks = try elements(doc, "//*[local-name()='g'][@class='y-axis']/*[local-name()='text']").compactMap(\.stringValue)
    #expect(ticks == ["0.1", "1", "10", "100"])
  }

  @Test func scatterPanelAndMultiPanelFigure() throws {
    var scatter = Chart(title: "data", xLabel: "x", yLabel: "class")
    scatter.points.append(ScatterSeries(name: "class 0", x: [-1, -2, .nan], y: [0, 0, 0], color: .blue))
    scatter.points.append(ScatterSeries(name: "class 1", x: [3, 2.5], y: [1, 1], color: .red))
    scatter.referenceLines.append(.vertical(at: 1, label: "boundary"))
    let figure = Figure(title: "Two panels", charts: [lossChart(), scatter], columns: 2)
    let doc = try parseXML(figure.svg())
    let charts = try elements(doc, "//*[local-name()='g'][@class='chart']")
    #expect(charts.count == 2)
    let groups = try elements(doc, "//*[local-name()='g'][@class='scatter']")
    #expect(groups.map { attribute($0, "data-name") } == ["class 0", "class 1"])
    #expect(groups.map { $0.children?.count ?? 0 } == [2, 2])  // the NaN point is skipped
    // Every clip path id is unique in the document.
    let ids = try elements(doc, "//*[local-name()='clipPath']").compactMap { attribute($0, "id") }
    #expect(ids.count == 2 && Set(ids).count == 2)
    let root = try #require(doc.rootElement())
    #expect(attribute(root, "width") == "1440")
    #expect(try elements(doc, "//*[local-name()='text'][@class='figure-title']").first?.stringValue == "Two panels")
  }

  @Test func legendAvoidsLineSegments() throws {
    // A line along the top whose only two points lie at the plot's left and right edges, outside
    // the legend's candidate boxes (inset 8 px): only its segment crosses the top corners, so the
    // legend must go to the bottom right.
    var chart = Chart()
    chart.lines.append(LineSeries(name: "top", x: [0, 10], y: [9.5, 9.5]))
    chart.yRange = 0...10
    let doc = try parseXML(chart.svg(width: 400, height: 300))
    let box = try #require(try elements(doc, "//*[local-name()='g'][@class='legend']/*[local-name()='rect']").first)
    let plot = try #require(try elements(doc, "//*[local-name()='clipPath']/*[local-name()='rect']").first)
    let boxY = try #require(attribute(box, "y").flatMap(Double.init))
    let boxX = try #require(attribute(box, "x").flatMap(Double.init))
    let plotY = try #require(attribute(plot, "y").flatMap(Double.init))
    let plotHeight = try #require(attribute(plot, "height").flatMap(Double.init))
    let plotX = try #require(attribute(plot, "x").flatMap(Double.init))
    #expect(boxY > plotY + plotHeight / 2)
    #expect(boxX > plotX + 100)  // right, not left
  }

  @Test func controlCharactersAreDroppedFromText() throws {
    let chart = Chart(title: "bad\u{1}title")
    let doc = try parseXML(chart.svg())
    #expect(try elements(doc, "//*[local-name()='text'][@class='title']").first?.stringValue == "badtitle")
  }
}
