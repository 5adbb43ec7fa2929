import ArrayCore
import GraphCore
import Testing
import TestSupport

/// Property-based tests of broadcasting and shape inference: seeded random shape pairs, 300
/// examples per property, and on failure a shrinker that reduces the pair (drop an axis, lower a
/// size) while the property still fails, reporting the minimal pair. The oracle is
/// `refBroadcastShape` (NumPy's rule written out in OpTableSupport.swift).
@Suite struct BroadcastPropertyTests {
  static let examples = 300

  /// A random pair: half built compatible, half with independent random sizes 0-3.
  static func pair(_ g: inout SeededGenerator, _ k: Int) -> ([Int], [Int]) {
    if k % 2 == 0 { return broadcastPair(k / 2, &g, empty: true) }
    let ra = g.choice(5), rb = g.choice(5)
    return ((0..<ra).map { _ in g.choice(4) }, (0..<rb).map { _ in g.choice(4) })
  }

  /// Smaller candidates of a failing pair: one axis fewer, or one size lower.
  static func shrinks(_ p: ([Int], [Int])) -> [([Int], [Int])] {
    var out: [([Int], [Int])] = []
    for i in p.0.indices { var a = p.0; a.remove(at: i); out.append((a, p.1)) }
    for i in p.1.indices { var b = p.1; b.remove(at: i); out.append((p.0, b)) }
    for i in p.0.indices where p.0[i] > 0 { var a = p.0; a[i] -= 1; out.append((a, p.1)) }
    for i in p.1.indices where p.1[i] > 0 { var b = p.1; b[i] -= 1; out.append((p.0, b)) }
    return out
  }

  /// Checks `property` on `examples` seeded pairs; the first failure is shrunk to a minimal pair.
  func forAll(seed: UInt64, _ property: ([Int], [Int]) -> String?) {
    var g = SeededGenerator(seed: seed)
    for k in 0..<Self.examples {
      var p = Self.pair(&g, k)
      guard var why = property(p.0, p.1) else { continue }
      var progress = true
      while progress {
        progress = false
        for c in Self.shrinks(p) {
          if let w = property(c.0, c.1) { p = c; why = w; progress = true; break }
        }
      }
      Issue.record("example \(k) fails; minimal pair \(p.0) and \(p.1): \(why)")
      return
    }
  }

  /// Builds `x + y` on placeholders of the two shapes (or of unknown sizes) and runs it on zeros.
  func addShapes(_ a: [Int], _ b: [Int], known: Bool) -> (built: PartialShape?, ran: Shape?, error: String?) {
    let graph = Graph()
    let pa = known ? PartialShape(Shape(a)) : PartialShape([Int?](repeating: nil, count: a.count))
    let pb = known ? PartialShape(Shape(b)) : PartialShape([Int?](repeating: nil, count: b.count))
    let x = graph.placeholder(.float64, shape: pa), y = graph.placeholder(.float64, shape: pb)
    let z: Tensor
    do { z = try x + y } catch { return (nil, nil, "\(error)") }
    do {
      let v = try Session(graph: graph).run(
        z, feeding: [x: NDArray.zeros(Shape(a), dtype: .float64), y: NDArray.zeros(Shape(b), dtype: .float64)])
      return (z.shape, v.shape, nil)
    } catch {
      return (z.shape, nil, "\(error)")
    }
  }

  @Test func inferredShapeEqualsRunTimeShape() {
    forAll(seed: 1) { a, b in
      guard let expected = refBroadcastShape([a, b]) else { return nil }
      let r = addShapes(a, b, known: true)
      if let e = r.error { return "compatible pair threw: \(e)" }
      if r.built != PartialShape(Shape(expected)) { return "built \(String(describing: r.built)), expected \(expected)" }
      if r.ran != Shape(expected) { return "ran \(String(describing: r.ran)), expected \(expected)" }
      return nil
    }
  }

  @Test func incompatiblePairsThrowAtBuildTime() {
    forAll(seed: 2) { a, b in
      guard refBroadcastShape([a, b]) == nil else { return nil }
      let r = addShapes(a, b, known: true)
      return r.error == nil ? "incompatible pair was accepted, built \(String(describing: r.built))" : nil
    }
  }

  @Test func unknownSizesAreCheckedAtRunTime() {
    forAll(seed: 3) { a, b in
      let expected = refBroadcastShape([a, b])
      let r = addShapes(a, b, known: false)
      if let expected {
        if let e = r.error { return "compatible pair threw: \(e)" }
        if r.ran != Shape(expected) { return "ran \(String(describing: r.ran)), expected \(expected)" }
        if r.built?.rank != expected.count { return "built rank \(String(describing: r.built)), expected \(expected.count)" }
      } else if r.ran != nil {
        return "incompatible pair ran to \(String(describing: r.ran))"
      }
      return nil
    }
  }
}
