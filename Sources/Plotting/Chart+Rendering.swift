// Drawing a Chart into an SVG panel: layout, axes, grid, series, reference lines, legend.

/// Approximate width of `text` in pixels at `fontSize` (sans-serif average advance ≈ 0.6 em).
func textWidth(_ text: String, fontSize: Double) -> Double { Double(text.count) * fontSize * 0.6 }

extension Chart {
  /// The finite values along one axis that the data and reference lines need to show.
  private func extent(horizontal: Bool, scale: AxisScale) -> (Double, Double)? {
    var lo = Double.infinity
    var hi = -Double.infinity
    func include(_ v: Double) {
      guard v.isFinite, scale == .linear || v > 0 else { return }
      lo = min(lo, v)
      hi = max(hi, v)
    }
    for s in lines { (horizontal ? s.x : s.y).forEach(include) }
    for s in points { (horizontal ? s.x : s.y).forEach(include) }
    for r in referenceLines where (r.orientation == .vertical) == horizontal { include(r.value) }
    return lo <= hi ? (lo, hi) : nil
  }

  private func ticks(horizontal: Bool) -> AxisTicks {
    let scale = horizontal ? xScale : yScale
    if let fixed = horizontal ? xRange : yRange {
      switch scale {
      case .linear:
        return AxisTicks.linear(
          minimum: fixed.lowerBound, maximum: fixed.upperBound, count: horizontal ? 8 : 6, tight: true)
      case .logarithmic: return AxisTicks.logarithmic(minimum: fixed.lowerBound, maximum: fixed.upperBound)
      }
    }
    guard var (lo, hi) = extent(horizontal: horizontal, scale: scale) else {
      return scale == .linear ? AxisTicks.linear(minimum: 0, maximum: 1) : AxisTicks.logarithmic(minimum: 0.1, maximum: 1)
    }
    switch scale {
    case .linear:
      let tight = horizontal ? xTight : yTight
      if !tight {
        // (Measured in halves when the range overflows, and kept within Double: a diverged
        // run's curve from -1e308 to 1e308 padded its axis to ±infinity, which drew nothing.)
        let pad = (hi - lo).isFinite ? (hi - lo) * 0.03 : (hi / 2 - lo / 2) * 0.06
        let most = Double.greatestFiniteMagnitude
        lo = lo >= 0 ? max(0, lo - pad) : max(-most, lo - pad)
        hi = hi <= 0 ? min(0, hi + pad) : min(most, hi + pad)
      }
      return AxisTicks.linear(minimum: lo, maximum: hi, count: horizontal ? 8 : 7, tight: tight && hi > lo)
    case .logarithmic:
      return AxisTicks.logarithmic(minimum: lo, maximum: hi, count: 6)
    }
  }

  /// The space left of the plot area: tick labels and the rotated y label.
  func leftMargin() -> Double {
    let yLabelWidth = ticks(horizontal: false).labels.map { textWidth($0, fontSize: 11) }.max() ?? 0
    return 14 + (yLabel.isEmpty ? 0 : 20) + yLabelWidth + 8
  }

  /// Draws the chart in `frame` with `leftMargin` pixels for the y axis's labels; `id` makes
  /// the clip path's id unique within the document.
  func render(into w: inout SVGWriter, frame: Rect, leftMargin: Double, id: Int) {
    let xt = ticks(horizontal: true)
    let yt = ticks(horizontal: false)
    let left = frame.x + leftMargin
    let top = frame.y + (title.isEmpty ? 16 : 40)
    let right = frame.maxX - 22
    let bottom = frame.maxY - (xLabel.isEmpty ? 30 : 50)
    let plot = Rect(x: left, y: top, width: max(10, right - left), height: max(10, bottom - top))
    let xMap = AxisMap(scale: xScale, lower: xt.lower, upper: xt.upper, pixelStart: plot.x, pixelEnd: plot.maxX)
    let yMap = AxisMap(scale: yScale, lower: yt.lower, upper: yt.upper, pixelStart: plot.maxY, pixelEnd: plot.y)

    w.open("g", [("class", "chart"), ("data-title", title)])
    if !title.isEmpty {
      w.element(
        "text",
        [
          ("class", "title"), ("x", coordinate(plot.x + plot.width / 2)), ("y", coordinate(frame.y + 26)),
          ("text-anchor", "middle"), ("font-size", "15"), ("font-weight", "bold"), ("fill", "#111827"),
        ], content: title)
    }
    // Plot background, grid and tick labels.
    w.element(
      "rect",
      [
        ("x", coordinate(plot.x)), ("y", coordinate(plot.y)), ("width", coordinate(plot.width)),
        ("height", coordinate(plot.height)), ("fill", "#f9fafb"),
      ])
    w.open("g", [("class", "x-axis"), ("font-size", "11"), ("fill", "#374151")])
    for (v, label) in zip(xt.values, xt.labels) {
      guard let px = xMap.pixel(v) else { continue }
      w.element(
        "line",
        [
          ("x1", coordinate(px)), ("y1", coordinate(plot.y)), ("x2", coordinate(px)),
          ("y2", coordinate(plot.maxY)), ("stroke", "#e5e7eb"), ("stroke-width", "1"),
        ])
      w.element(
        "line",
        [
          ("x1", coordinate(px)), ("y1", coordinate(plot.maxY)), ("x2", coordinate(px)),
          ("y2", coordinate(plot.maxY + 5)), ("stroke", "#6b7280"), ("stroke-width", "1"),
        ])
      w.element(
        "text",
        [
          ("class", "tick"), ("x", coordinate(px)), ("y", coordinate(plot.maxY + 18)),
          ("text-anchor", "middle"),
        ], content: label)
    }
    w.close("g")
    w.open("g", [("class", "y-axis"), ("font-size", "11"), ("fill", "#374151")])
    for (v, label) in zip(yt.values, yt.labels) {
      guard let py = yMap.pixel(v) else { continue }
      w.element(
        "line",
        [
          ("x1", coordinate(plot.x)), ("y1", coordinate(py)), ("x2", coordinate(plot.maxX)),
          ("y2", coordinate(py)), ("stroke", "#e5e7eb"), ("stroke-width", "1"),
        ])
      w.element(
        "line",
        [
          ("x1", coordinate(plot.x - 5)), ("y1", coordinate(py)), ("x2", coordinate(plot.x)),
          ("y2", coordinate(py)), ("stroke", "#6b7280"), ("stroke-width", "1"),
        ])
      w.element(
        "text",
        [
          ("class", "tick"), ("x", coordinate(plot.x - 8)), ("y", coordinate(py + 4)),
          ("text-anchor", "end"),
        ], content: label)
    }
    w.close("g")
    w.element(
      "rect",
      [
        ("x", coordinate(plot.x)), ("y", coordinate(plot.y)), ("width", coordinate(plot.width)),
        ("height", coordinate(plot.height)), ("fill", "none"), ("stroke", "#9ca3af"), ("stroke-width", "1"),
      ])
    if !xLabel.isEmpty {
      w.element(
        "text",
        [
          ("class", "axis-label"), ("x", coordinate(plot.x + plot.width / 2)), ("y", coordinate(plot.maxY + 38)),
          ("text-anchor", "middle"), ("font-size", "12"), ("fill", "#111827"),
        ], content: xLabel)
    }
    if !yLabel.isEmpty {
      let cx = frame.x + 18
      let cy = plot.y + plot.height / 2
      w.element(
        "text",
        [
          ("class", "axis-label"), ("x", coordinate(cx)), ("y", coordinate(cy)), ("text-anchor", "middle"),
          ("font-size", "12"), ("fill", "#111827"),
          ("transform", "rotate(-90 \(coordinate(cx)) \(coordinate(cy)))"),
        ], content: yLabel)
    }

    // Data, clipped to the plot area.
    let clipID = "plot-area-\(id)"
    w.open("defs")
    w.open("clipPath", [("id", clipID)])
    w.element(
      "rect",
      [
        ("x", coordinate(plot.x)), ("y", coordinate(plot.y)), ("width", coordinate(plot.width)),
        ("height", coordinate(plot.height)),
      ])
    w.close("clipPath")
    w.close("defs")
    w.open("g", [("clip-path", "url(#\(clipID))")])
    for r in referenceLines {
      let attributes: [(String, String)]
      switch r.orientation {
      case .horizontal:
        guard let py = yMap.pixel(r.value) else { continue }
        attributes = [
          ("x1", coordinate(plot.x)), ("y1", coordinate(py)), ("x2", coordinate(plot.maxX)), ("y2", coordinate(py)),
        ]
      case .vertical:
        guard let px = xMap.pixel(r.value) else { continue }
        attributes = [
          ("x1", coordinate(px)), ("y1", coordinate(plot.y)), ("x2", coordinate(px)), ("y2", coordinate(plot.maxY)),
        ]
      }
      w.element(
        "line",
        [("class", "reference"), ("data-name", r.label), ("data-value", formatCompact(r.value, significantDigits: 6))]
          + attributes
          + [("stroke", r.color.css), ("stroke-width", "1.5")] + (r.dashed ? [("stroke-dasharray", "6 4")] : []))
    }
    var drawn: [(Double, Double)] = []
    for s in lines {
      var d = ""
      var penDown = false
      var count = 0
      for (x, y) in zip(s.x, s.y) {
        guard let px = xMap.pixel(x), let py = yMap.pixel(y) else {
          penDown = false
          continue
        }
        d += (d.isEmpty ? "" : " ") + (penDown ? "L" : "M") + coordinate(px) + " " + coordinate(py)
        // The legend must avoid the segments too, not only their ends: sample every ~6 px.
        if penDown, let (qx, qy) = drawn.last {
          // (At most 100,000 pieces: a segment is within the plot, at most 100,000 pixels wide.)
          let pieces = Int(Swift.min((((px - qx) * (px - qx) + (py - qy) * (py - qy)).squareRoot() / 6).rounded(.up), 100_000))
          if pieces > 1 {
            for k in 1..<pieces {
              let t = Double(k) / Double(pieces)
              drawn.append((qx + (px - qx) * t, qy + (py - qy) * t))
            }
          }
        }
        penDown = true
        count += 1
        drawn.append((px, py))
      }
      var attributes: [(String, String)] = [
        ("class", "series"), ("data-name", s.name), ("data-points", String(count)), ("d", d), ("fill", "none"),
        ("stroke", s.color.css), ("stroke-width", coordinate(s.width)), ("stroke-linejoin", "round"),
        ("stroke-linecap", "round"),
      ]
      if s.opacity < 1 { attributes.append(("stroke-opacity", coordinate(s.opacity))) }
      if s.dashed { attributes.append(("stroke-dasharray", "6 4")) }
      w.element("path", attributes)
    }
    for s in points {
      w.open(
        "g",
        [("class", "scatter"), ("data-name", s.name), ("fill", s.color.css), ("fill-opacity", coordinate(s.opacity))])
      for (x, y) in zip(s.x, s.y) {
        guard let px = xMap.pixel(x), let py = yMap.pixel(y) else { continue }
        w.element("circle", [("cx", coordinate(px)), ("cy", coordinate(py)), ("r", coordinate(s.radius))])
        drawn.append((px, py))
      }
      w.close("g")
    }
    w.close("g")
    // Reference lines count as occupied too, so the legend does not hide them.
    for r in referenceLines {
      switch r.orientation {
      case .horizontal:
        if let py = yMap.pixel(r.value) {
          drawn += stride(from: plot.x, through: plot.maxX, by: 8).map { ($0, py) }
        }
      case .vertical:
        if let px = xMap.pixel(r.value) {
          drawn += stride(from: plot.y, through: plot.maxY, by: 8).map { (px, $0) }
        }
      }
    }
    if showsLegend { renderLegend(into: &w, plot: plot, occupied: drawn) }
    w.close("g")
  }

  private enum LegendMark {
    case line(Color, Double, dashed: Bool)
    case dot(Color, Double)
  }

  private func renderLegend(into w: inout SVGWriter, plot: Rect, occupied: [(Double, Double)]) {
    var entries: [(String, LegendMark)] = []
    for s in lines where !s.name.isEmpty { entries.append((s.name, .line(s.color, s.opacity, dashed: s.dashed))) }
    for s in points where !s.name.isEmpty { entries.append((s.name, .dot(s.color, s.opacity))) }
    for r in referenceLines where !r.label.isEmpty { entries.append((r.label, .line(r.color, 1, dashed: r.dashed))) }
    guard !entries.isEmpty else { return }
    let rowHeight = 18.0
    let boxWidth = 44 + (entries.map { textWidth($0.0, fontSize: 11) }.max() ?? 0)
    let boxHeight = 8 + rowHeight * Double(entries.count)
    let inset = 8.0
    // The corner whose box covers the fewest drawn points (top right first on ties).
    let corners = [
      Rect(x: plot.maxX - inset - boxWidth, y: plot.y + inset, width: boxWidth, height: boxHeight),
      Rect(x: plot.x + inset, y: plot.y + inset, width: boxWidth, height: boxHeight),
      Rect(x: plot.maxX - inset - boxWidth, y: plot.maxY - inset - boxHeight, width: boxWidth, height: boxHeight),
      Rect(x: plot.x + inset, y: plot.maxY - inset - boxHeight, width: boxWidth, height: boxHeight),
    ]
    var best = corners[0]
    var bestCount = Int.max
    for c in corners {
      let n = occupied.reduce(0) { $0 + (c.contains($1.0, $1.1) ? 1 : 0) }
      if n < bestCount {
        best = c
        bestCount = n
      }
    }
    w.open("g", [("class", "legend"), ("font-size", "11"), ("fill", "#111827")])
    w.element(
      "rect",
      [
        ("x", coordinate(best.x)), ("y", coordinate(best.y)), ("width", coordinate(best.width)),
        ("height", coordinate(best.height)), ("rx", "3"), ("fill", "white"), ("fill-opacity", "0.88"),
        ("stroke", "#d1d5db"),
      ])
    for (i, (name, mark)) in entries.enumerated() {
      let cy = best.y + 4 + rowHeight * (Double(i) + 0.5)
      switch mark {
      case let .line(color, opacity, dashed):
        var attributes: [(String, String)] = [
          ("x1", coordinate(best.x + 8)), ("y1", coordinate(cy)), ("x2", coordinate(best.x + 32)),
          ("y2", coordinate(cy)), ("stroke", color.css), ("stroke-width", "2"),
        ]
        if opacity < 1 { attributes.append(("stroke-opacity", coordinate(max(opacity, 0.35)))) }
        if dashed { attributes.append(("stroke-dasharray", "6 4")) }
        w.element("line", attributes)
      case let .dot(color, opacity):
        w.element(
          "circle",
          [
            ("cx", coordinate(best.x + 20)), ("cy", coordinate(cy)), ("r", "4"), ("fill", color.css),
            ("fill-opacity", coordinate(opacity)),
          ])
      }
      w.element("text", [("x", coordinate(best.x + 38)), ("y", coordinate(cy + 4))], content: name)
    }
    w.close("g")
  }
}
