import ArrayCore
import GraphCore
import Testing

// A property test of the builders under hostile sizes (RELIABILITY.md, "The library under
// misuse"): seeded random shapes, axes and sizes, including Int.max, Int.min, negatives and
// products beyond Int, drive the shape-taking builders. Every call must either throw or build a
// graph whose static shapes are valid; a built graph over small constants must also run to
// values that fit its static shapes. A trap would kill the test process, so passing proves
// there is none.

/// Sizes that break naive arithmetic, mixed with ordinary small ones.
private let hostileSizes: [Int] = [
  Int.max, Int.min, Int.max - 1, Int.min + 1, -1, -2, -3, 0, 1 << 31, 1 << 32, 1 << 40, 1 << 62,
  (1 << 62) + 1, 3_037_000_500, 4_294_967_297,
]

private struct Draw {
  var g: SeededGenerator
  mutating func int(_ n: Int) -> Int { g.choice(n) }
  mutating func bool() -> Bool { g.choice(2) == 0 }
  /// A size: small most of the time, hostile otherwise.
  mutating func size() -> Int { int(3) == 0 ? hostileSizes[int(hostileSizes.count)] : int(4) }
  /// An axis: in range, just out of range, or hostile.
  mutating func axis(rank: Int) -> Int {
    switch int(4) {
    case 0: return hostileSizes[int(hostileSizes.count)]
    case 1: return rank + int(2)
    default: return int(2 * rank + 1) - rank
    }
  }
  mutating func sizes(_ count: Int) -> [Int] { (0..<count).map { _ in size() } }
  mutating func smallShape() -> [Int] { (0..<int(4)).map { _ in 1 + int(3) } }
}

@Suite struct BuilderFuzzTests {
  @Test func hostileSizesThrowOrBuildValidGraphs() throws {
    var d = Draw(g: SeededGenerator(seed: 17))
    var built = 0, thrown = 0, ran = 0
    for _ in 0..<3000 {
      let g = Graph()
      // An input: a small constant (which can run) or a placeholder of any partial shape.
      let small = d.bool()
      let x: Tensor
      if small {
        let shape = d.smallShape()
        let n = shape.reduce(1, *)
        x = g.constant(try NDArray(validating: (0..<n).map { Float($0) }, shape: Shape(shape)))
      } else {
        x = g.placeholder(.float32, shape: PartialShape((0..<d.int(4)).map { _ in d.int(4) == 0 ? nil : d.size() }))
      }
      let rank = x.shape.rank
      do {
        var fed = !small  // whether running would need a feed
        let outputs: [Tensor]
        switch d.int(16) {
        case 0: outputs = [try reshape(x, to: d.sizes(d.int(4)))]
        case 1: outputs = try split(x, sizes: d.sizes(1 + d.int(3)), axis: d.axis(rank: rank))
        case 2: outputs = try split(x, count: d.size(), axis: d.axis(rank: rank))
        case 3: outputs = [try slice(x, begin: d.sizes(rank), size: d.sizes(rank))]
        case 4:
          let constant = d.bool()
          fed = fed || !constant
          let idx = constant ? g.constant(NDArray([Int32(0), 2, -1])) : g.placeholder(.int32, shape: [nil])
          outputs = [try oneHot(idx, depth: d.size())]
        case 5: outputs = [try broadcast(x, to: d.sizes(d.int(4)))]
        case 6: outputs = [try expandDims(x, axis: d.axis(rank: rank))]
        case 7: outputs = [try squeeze(x, axes: d.bool() ? nil : [d.axis(rank: rank)])]
        case 8: outputs = [try transpose(x, permutation: d.bool() ? nil : (0..<rank).map { _ in d.axis(rank: rank) })]
        case 9: outputs = [try sum(x, axes: [d.axis(rank: rank)], keepDims: d.bool())]
        case 10: outputs = [try concat([x, x], axis: d.axis(rank: rank))]
        case 11: outputs = [try randomNormal(g, shape: Shape(d.sizes(d.int(4))), seed: 1)]
        case 12: outputs = [try g.variable(x)]
        case 13:
          fed = true
          outputs = [try matmul(x, g.placeholder(.float32, shape: PartialShape(d.sizes(2).map { $0 })))]
        case 14: outputs = [try gather(x, indices: g.constant(NDArray([Int32(0)])), axis: d.axis(rank: rank))]
        default: outputs = [try stack([x, x], axis: d.axis(rank: rank))]
        }
        built += 1
        for t in outputs {
          try Shape.validate(partial: t.shape.dimensions, dtype: t.dtype)
        }
        // Small results of constants: run the graph; each value must fit its static shape.
        let smallResults = outputs.allSatisfy { ($0.shape.concrete?.elementCount ?? Int.max) <= 1 << 16 }
        if !fed, smallResults {
          do {
            let values = try Session(graph: g).run(outputs)
            for (t, v) in zip(outputs, values) { #expect(t.shape.accepts(v.shape), "\(t) ran to \(v.shape)") }
            ran += 1
          } catch is SessionError {}
        }
      } catch is GraphError {
        thrown += 1
      }
    }
    print("BUILDER-FUZZ draws=3000 thrown=\(thrown) built=\(built) ran=\(ran)")
    // Both outcomes occur often: the generator reaches the checks and the valid paths.
    #expect(thrown > 1000)
    #expect(built > 500)
    #expect(ran > 100)
  }

  @Test func hostileShapesForArraysThrow() {
    var d = Draw(g: SeededGenerator(seed: 18))
    var thrown = 0
    for _ in 0..<2000 {
      let shape = Shape(d.sizes(1 + d.int(4)))
      let dtype = [DType.float32, .float64, .int32, .bool][d.int(4)]
      // Valid but large shapes are not allocated here (memory); every other shape is tried.
      if (try? shape.validate(dtype: dtype)) != nil, shape.elementCount > 1 << 16 { continue }
      do {
        let a = try NDArray.zeros(shape, dtype: dtype)
        #expect(a.elementCount == shape.elementCount)
        #expect(a.shape == shape)
      } catch {
        thrown += 1
        #expect(throws: ShapeError.self) { try shape.validate(dtype: dtype) }
      }
    }
    print("ARRAY-FUZZ thrown=\(thrown)")
    #expect(thrown > 500)
  }
}
