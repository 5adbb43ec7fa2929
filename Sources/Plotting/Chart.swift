#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// A colour for SVG output, as a CSS hex string such as `#2563eb`.
public struct Color: Sendable, Hashable, CustomStringConvertible {
  /// The CSS colour text.
  public var css: String
  /// Creates a colour from CSS text (`#rrggbb`, or a CSS colour name).
  public init(_ css: String) { self.css = css }
  /// The CSS text.
  public var description: String { css }

  /// Blue.
  public static let blue = Color("#2563eb")
  /// Red.
  public static let red = Color("#dc2626")
  /// Green.
  public static let green = Color("#16a34a")
  /// Amber.
  public static let amber = Color("#d97706")
  /// Violet.
  public static let violet = Color("#7c3aed")
  /// Cyan.
  public static let cyan = Color("#0891b2")
  /// Pink.
  public static let pink = Color("#db2777")
  /// Dark grey.
  public static let gray = Color("#4b5563")
  /// The default colours of successive series.
  public static let palette: [Color] = [.blue, .red, .green, .amber, .violet, .cyan, .pink, .gray]
}

/// How data values map to positions along an axis.
public enum AxisScale: Sendable, Hashable {
  /// Position proportional to the value.
  case linear
  /// Position proportional to `log₁₀(value)`; values `≤ 0` are left out (shown as gaps).
  case logarithmic
}

/// A series drawn as a polyline through `(x[i], y[i])`. Non-finite points (and non-positive
/// ones on a logarithmic axis) break the line: they show as gaps.
public struct LineSeries: Sendable {
  /// The legend label; an empty name keeps the series out of the legend.
  public var name: String
  /// The x coordinates.
  public var x: [Double]
  /// The y coordinates (one per x).
  public var y: [Double]
  /// The stroke colour.
  public var color: Color
  /// The stroke width in pixels.
  public var width: Double
  /// The stroke opacity, 0...1.
  public var opacity: Double
  /// Whether the line is dashed.
  public var dashed: Bool

  /// Creates a series from matching x and y arrays (extra elements of the longer are ignored).
  public init(
    name: String, x: [Double], y: [Double], color: Color = .blue, width: Double = 1.5,
    opacity: Double = 1, dashed: Bool = false
  ) {
    let n = min(x.count, y.count)
    self.name = name
    self.x = Array(x.prefix(n))
    self.y = Array(y.prefix(n))
    self.color = color
    self.width = width
    self.opacity = opacity
    self.dashed = dashed
  }

  /// Creates a series over steps: `x = 1, 2, ..., y.count`.
  public init(
    name: String, steps y: [Double], color: Color = .blue, width: Double = 1.5, opacity: Double = 1,
    dashed: Bool = false
  ) {
    self.init(
      name: name, x: (0..<y.count).map { Double($0 + 1) }, y: y, color: color, width: width,
      opacity: opacity, dashed: dashed)
  }
}

/// A series drawn as dots at `(x[i], y[i])`; non-finite points are skipped.
public struct ScatterSeries: Sendable {
  /// The legend label; empty keeps the series out of the legend.
  public var name: String
  /// The x coordinates.
  public var x: [Double]
  /// The y coordinates (one per x).
  public var y: [Double]
  /// The fill colour.
  public var color: Color
  /// The dot radius in pixels.
  public var radius: Double
  /// The fill opacity, 0...1.
  public var opacity: Double

  /// Creates a scatter series from matching x and y arrays.
  public init(
    name: String, x: [Double], y: [Double], color: Color = .blue, radius: Double = 3.5,
    opacity: Double = 0.75
  ) {
    let n = min(x.count, y.count)
    self.name = name
    self.x = Array(x.prefix(n))
    self.y = Array(y.prefix(n))
    self.color = color
    self.radius = radius
    self.opacity = opacity
  }
}

/// A straight line across the whole plot at a fixed x or y (a theoretical value, a decision
/// boundary). The axis range always includes it.
public struct ReferenceLine: Sendable {
  /// Which way the line runs.
  public enum Orientation: Sendable, Hashable {
    /// At a fixed y, across the x axis.
    case horizontal
    /// At a fixed x, along the y axis.
    case vertical
  }
  /// Which way the line runs.
  public var orientation: Orientation
  /// The fixed coordinate.
  public var value: Double
  /// The legend label (empty: not in the legend).
  public var label: String
  /// The stroke colour.
  public var color: Color
  /// Whether the line is dashed (the default).
  public var dashed: Bool

  /// A horizontal line at `y = value`.
  public static func horizontal(
    at value: Double, label: String = "", color: Color = .gray, dashed: Bool = true
  ) -> ReferenceLine {
    ReferenceLine(orientation: .horizontal, value: value, label: label, color: color, dashed: dashed)
  }

  /// A vertical line at `x = value`.
  public static func vertical(
    at value: Double, label: String = "", color: Color = .gray, dashed: Bool = true
  ) -> ReferenceLine {
    ReferenceLine(orientation: .vertical, value: value, label: label, color: color, dashed: dashed)
  }
}

/// One plot: axes with nice ticks, grid, title, axis labels, line and scatter series,
/// reference lines and a legend placed in the emptiest corner.
///
/// ```swift
/// var chart = Chart(title: "Loss", xLabel: "step", yLabel: "loss")
/// chart.lines.append(LineSeries(name: "loss", steps: losses))
/// let svg = chart.svg()
/// ```
public struct Chart: Sendable {
  /// The title above the plot.
  public var title: String
  /// The x-axis label.
  public var xLabel: String
  /// The y-axis label.
  public var yLabel: String
  /// The x-axis scale.
  public var xScale: AxisScale = .linear
  /// The y-axis scale.
  public var yScale: AxisScale = .linear
  /// Line series, drawn in order.
  public var lines: [LineSeries] = []
  /// Scatter series, drawn in order, above the lines.
  public var points: [ScatterSeries] = []
  /// Reference lines, drawn below the series.
  public var referenceLines: [ReferenceLine] = []
  /// Whether to draw the legend (when some series or line has a name).
  public var showsLegend = true
  /// How the x axis fits the data on a linear scale: `true` (the default) spans exactly the
  /// data, as suits steps; `false` widens it to whole tick steps.
  public var xTight = true
  /// How the y axis fits the data on a linear scale: `false` (the default) pads the data by 3%
  /// (not across zero) and widens to whole tick steps; `true` spans exactly the data.
  public var yTight = false
  /// A fixed x range, instead of one fitted to the data (the axis spans exactly this range).
  public var xRange: ClosedRange<Double>?
  /// A fixed y range, instead of one fitted to the data (the axis spans exactly this range).
  public var yRange: ClosedRange<Double>?

  /// Creates an empty chart.
  public init(title: String = "", xLabel: String = "", yLabel: String = "") {
    self.title = title
    self.xLabel = xLabel
    self.yLabel = yLabel
  }

  /// A self-contained SVG document of this chart alone, `width` × `height` pixels.
  public func svg(width: Double = 720, height: Double = 420) -> String {
    Figure(charts: [self], columns: 1, panelWidth: width, panelHeight: height).svg()
  }
}

/// Several charts in a grid, with an optional overall title, as one SVG document.
public struct Figure: Sendable {
  /// The title above all panels (none when empty).
  public var title: String
  /// The panels, filled row by row.
  public var charts: [Chart]
  /// Panels per row.
  public var columns: Int
  /// The width of each panel in pixels.
  public var panelWidth: Double
  /// The height of each panel in pixels.
  public var panelHeight: Double

  /// Creates a figure.
  public init(
    title: String = "", charts: [Chart], columns: Int = 1, panelWidth: Double = 720,
    panelHeight: Double = 380
  ) {
    self.title = title
    self.charts = charts
    self.columns = max(1, columns)
    self.panelWidth = panelWidth
    self.panelHeight = panelHeight
  }

  /// The SVG document (UTF-8 text, no external references). The panel sizes are taken in
  /// `1...100_000` pixels (a size that is not a finite number is the default's).
  public func svg() -> String {
    let panelWidth = Self.pixels(panelWidth, default: 720), panelHeight = Self.pixels(panelHeight, default: 380)
    let cols = min(columns, max(1, charts.count))
    let rows = (charts.count + cols - 1) / cols
    let titleHeight: Double = title.isEmpty ? 0 : 40
    let width = Double(cols) * panelWidth
    let height = titleHeight + Double(max(1, rows)) * panelHeight
    var w = SVGWriter()
    w.raw("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
    w.open(
      "svg",
      [
        ("xmlns", "http://www.w3.org/2000/svg"), ("width", coordinate(width)),
        ("height", coordinate(height)), ("viewBox", "0 0 \(coordinate(width)) \(coordinate(height))"),
        ("font-family", "DejaVu Sans, Helvetica, Arial, sans-serif"),
      ])
    w.element("rect", [("width", "100%"), ("height", "100%"), ("fill", "white")])
    if !title.isEmpty {
      w.element(
        "text",
        [
          ("class", "figure-title"), ("x", coordinate(width / 2)), ("y", "27"), ("text-anchor", "middle"),
          ("font-size", "18"), ("font-weight", "bold"), ("fill", "#111827"),
        ], content: title)
    }
    // Panels of one column share their left margin so that their plot areas line up.
    var margins = [Double](repeating: 0, count: cols)
    for (i, chart) in charts.enumerated() { margins[i % cols] = max(margins[i % cols], chart.leftMargin()) }
    for (i, chart) in charts.enumerated() {
      let frame = Rect(
        x: Double(i % cols) * panelWidth, y: titleHeight + Double(i / cols) * panelHeight,
        width: panelWidth, height: panelHeight)
      chart.render(into: &w, frame: frame, leftMargin: margins[i % cols], id: i)
    }
    w.close("svg")
    return w.text
  }
}

extension Figure {
  /// `size` in `1...100_000`, or `fallback` when it is not a finite number: a NaN panel width
  /// trapped in the rendering, and a width of 1e308 drew a line in ~1e306 pieces (a hang).
  static func pixels(_ size: Double, default fallback: Double) -> Double {
    size.isFinite ? min(max(size, 1), 100_000) : fallback
  }
}

/// A rectangle in SVG pixels (y grows downward).
struct Rect {
  var x: Double
  var y: Double
  var width: Double
  var height: Double
  var maxX: Double { x + width }
  var maxY: Double { y + height }
  func contains(_ px: Double, _ py: Double) -> Bool { px >= x && px <= maxX && py >= y && py <= maxY }
}

/// Maps data values along one axis to pixels.
struct AxisMap {
  var scale: AxisScale
  var lower: Double
  var upper: Double
  var pixelStart: Double
  var pixelEnd: Double

  func transform(_ v: Double) -> Double? {
    switch scale {
    case .linear: return v.isFinite ? v : nil
    case .logarithmic: return v.isFinite && v > 0 ? _log10(v) : nil
    }
  }

  /// The pixel position of `v`, or nil when it cannot be drawn. A range wider than the largest
  /// `Double` (data from -1e308 to 1e308: a diverged float64 loss) is measured in halves, which
  /// is exact; a position that is not finite is not drawn.
  func pixel(_ v: Double) -> Double? {
    guard let t = transform(v), let a = transform(lower), let b = transform(upper), b > a else { return nil }
    let fraction = (b - a).isFinite ? (t - a) / (b - a) : (t / 2 - a / 2) / (b / 2 - a / 2)
    let p = pixelStart + fraction * (pixelEnd - pixelStart)
    return p.isFinite ? p : nil
  }
}

/// `log₁₀(x)`.
func _log10(_ x: Double) -> Double { log10(x) }
