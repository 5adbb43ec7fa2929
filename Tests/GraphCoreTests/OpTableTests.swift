import ArrayCore
import Foundation
@testable import GraphCore
import Testing
import TestSupport

/// The cases generated from the operation table (OpTable.swift). Each row gets `drawsPerOp`
/// seeded draws over its shape family; per draw: forward in every dtype against the reference,
/// float32 against float64 (on the same float32-rounded inputs), the gradient against central
/// differences in float64, and the second derivative (a gradient of the gradient) when the
/// table says so. Each row prints one `OPTABLE` line with its figures (RELIABILITY.md).
@Suite struct OpTableTests {
  static let drawsPerOp = 20

  /// A stable seed per row and draw (FNV-1a of the name, then the draw index).
  static func seed(_ name: String, _ k: Int) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in name.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
    return h ^ UInt64(k) &* 0x9e37_79b9_7f4a_7c15
  }

  @Test(arguments: makeOpTable().map(\.name))
  func generatedCases(name: String) throws {
    let entry = try #require(makeOpTable().first { $0.name == name })
    var types = Set<String>()
    var stats = (forward: 0, grad: 0, second: 0, worstGrad: 0.0, worstSecond: 0.0, worst32: 0.0)
    for k in 0..<Self.drawsPerOp {
      var g = SeededGenerator(seed: Self.seed(name, k))
      if let custom = entry.custom {
        types.formUnion(try custom.run(&g, k))
        stats.forward += 1
        continue
      }
      guard let draw = entry.draw else { Issue.record("\(name): no cases"); return }
      let c = draw(&g, k)
      let label = "\(name) draw \(k) shapes \(c.inputs.map(\.shape))"
      var y64: NDArray?
      for d in entry.dtypes {
        let ins = converted(c.inputs, to: d)
        let (y, t) = try runCase(c, ins, dtype: d)
        types.formUnion(t)
        let ref = c.reference(ins)
        let (atol, rtol) = d == .float64 ? (1e-12, 1e-12) : d == .float32 ? (entry.atol32, entry.rtol32) : (1e-12, 0)
        let ratio = toleranceRatio(y, ref, atol: atol, rtol: rtol)
        #expect(ratio <= 1, "\(label) \(d): \(y) vs reference \(ref)")
        if d == .float64 { y64 = y }
        if d == .float32 { stats.worst32 = Swift.max(stats.worst32, ratio) }
      }
      stats.forward += 1
      if entry.dtypes.contains(.float32) && entry.dtypes.contains(.float64) {
        let ins32 = converted(c.inputs, to: .float32)
        let (y32, _) = try runCase(c, ins32, dtype: .float32)
        let (y64r, _) = try runCase(c, ins32.map { $0.dtype == .float32 ? $0.converted(to: .float64) : $0 }, dtype: .float64)
        let ratio = toleranceRatio(y32, y64r, atol: entry.atol32, rtol: entry.rtol32)
        #expect(ratio <= 1, "\(label): float32 \(y32) vs float64 \(y64r)")
      }
      guard entry.differentiable else {
        try expectNoGradient(c, label)
        continue
      }
      // An empty input or output has nothing to differentiate (the check would loop zero
      // times): such draws are not counted as gradient checks.
      guard c.inputs.allSatisfy({ $0.elementCount > 0 }), let y64, y64.elementCount > 0 else { continue }
      let floatSlots = c.inputs.indices.filter { c.inputs[$0].dtype == .float64 }
      func full(_ graph: Graph, _ xs: [Tensor]) -> [Tensor] {
        var it = xs.makeIterator()
        return c.inputs.map { $0.dtype == .float64 ? it.next()! : graph.constant($0) }
      }
      func build(_ graph: Graph, _ xs: [Tensor]) throws -> Tensor {
        if let gb = entry.gradientBuild { return try gb(xs[0]) }
        return try c.build(full(graph, xs), .float64)
      }
      let floats = floatSlots.map { c.inputs[$0] }
      let first = try checkGradients(floats, build: build)
      #expect(first.maxRelativeError < 1e-6, "\(label): gradient error \(first.maxRelativeError)")
      stats.grad += 1
      stats.worstGrad = Swift.max(stats.worstGrad, first.maxRelativeError)

      if case .checked = entry.secondOrder {
        let r = Domain.real(-1, 1).array(y64.shape.dimensions, &g)
        let s = floats.map { Domain.real(-1, 1).array($0.shape.dimensions, &g) }
        let second = try checkGradients(floats) { graph, xs in
          let y = try build(graph, xs)
          let gs = try gradients(of: [sum(y * graph.constant(r))], withRespectTo: xs)
          var h = graph.constant(0, dtype: .float64)
          for (gi, si) in zip(gs, s) {
            if let gi { h = try h + sum(gi * graph.constant(si)) }
          }
          types.formUnion(graph.operations.map(\.type))
          // Keeps h connected to the inputs when the second derivative is identically zero.
          return try h + 0 * sum(xs[0])
        }
        #expect(second.maxRelativeError < 1e-6, "\(label): second-order error \(second.maxRelativeError)")
        stats.second += 1
        stats.worstSecond = Swift.max(stats.worstSecond, second.maxRelativeError)
      }
    }
    for cover in entry.covers {
      #expect(types.contains(cover), "\(name) claims to cover \(cover) but its graphs only hold \(types.sorted())")
    }
    print(
      "OPTABLE \(name) arity=\(entry.arity) dtypes=\(entry.dtypes.map { "\($0)" }.joined(separator: ",")) cases=\(stats.forward) "
        + "gradchecks=\(stats.grad) worstgrad=\(String(format: "%.2e", stats.worstGrad)) "
        + "secondorder=\(stats.second) worstsecond=\(String(format: "%.2e", stats.worstSecond)) "
        + "worstf32ratio=\(String(format: "%.2f", stats.worst32))")
  }

  /// A non-differentiable row: its primitive answers `nil` for every input.
  func expectNoGradient(_ c: OpCase, _ label: String) throws {
    let graph = Graph()
    let xs = c.inputs.enumerated().map { i, v in graph.placeholder(v.dtype, shape: PartialShape(v.shape), name: "x\(i)") }
    let y = try c.build(xs, .float64)
    let op = y.operation
    let upstream = try op.outputs.map { try onesLike($0) as Tensor? }
    let grads = try op.primitive.gradient(of: op, upstream: upstream)
    #expect(grads.allSatisfy { $0 == nil }, "\(label): a non-differentiable primitive returned a gradient")
  }

  /// Every primitive of the registry (GraphCore's and Training's, listed by the code itself from
  /// primitive values) is covered by a row; adding a primitive without a row fails here, and so
  /// does a registry that forgets one of the primitive types declared in the sources.
  @Test func everyPrimitiveIsInTheTable() throws {
    let names = Set(PrimitiveRegistry.all.map(\.typeName))
    let covered = Set(makeOpTable().flatMap(\.covers))
    let missing = names.subtracting(covered).sorted()
    #expect(missing.isEmpty, "primitives with no row in the operation table: \(missing)")
    // A cross-check of the registry itself: every `struct ...: Primitive` declared in the sources
    // has at least one value in it (the source scan only guards the hand-written list).
    let declared = try primitiveTypesDeclaredInSources()
    let registered = Set((PrimitiveRegistry.graphCorePrimitives + PrimitiveRegistry.trainingPrimitives).map { "\(type(of: $0.primitive))" })
      .union(PrimitiveRegistry.unaryFunctions.map { "\(type(of: $0))" })
      .union(PrimitiveRegistry.binaryFunctions.map { "\(type(of: $0))" })
    let unregistered = declared.subtracting(registered).subtracting(["CustomPrimitive"]).sorted()
    #expect(unregistered.isEmpty, "primitive types missing from PrimitiveRegistry: \(unregistered)")
  }

  /// Type names are unique: two primitives never share one (`StepPower` is not `Pow`).
  @Test func typeNamesAreUnique() {
    var seen: [String: Int] = [:]
    for entry in PrimitiveRegistry.all { seen[entry.typeName, default: 0] += 1 }
    let repeated = seen.filter { $0.value > 1 }.keys.sorted()
    #expect(repeated.isEmpty, "type names used twice: \(repeated)")
    #expect(PrimitiveRegistry.all.count >= 90)
  }

  /// The table's figures.
  @Test func tableFigures() {
    let table = makeOpTable()
    let pairs = table.reduce(0) { $0 + $1.dtypes.count }
    let differentiable = table.filter(\.differentiable).count
    print("OPTABLE-SUMMARY rows=\(table.count) op-dtype-pairs=\(pairs) differentiable=\(differentiable) draws=\(Self.drawsPerOp)")
    #expect(table.count >= 60)
  }
}

/// The names of the types declared `struct Name: Primitive` (or `UnaryFunction`, `BinaryFunction`)
/// under Sources (GraphCore and Training).
func primitiveTypesDeclaredInSources() throws -> Set<String> {
  let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Sources")
  var names = Set<String>()
  for module in ["GraphCore", "Training"] {
    let root = sources.appendingPathComponent(module)
    let files = FileManager.default.enumerator(atPath: root.path)?.compactMap { $0 as? String } ?? []
    for file in files.sorted() where file.hasSuffix(".swift") {
      let text = try String(contentsOf: root.appendingPathComponent(file), encoding: .utf8)
      for line in text.split(separator: "\n") where line.hasPrefix("package struct ") || line.hasPrefix("public struct ") {
        let words = line.split(whereSeparator: { $0 == " " || $0 == ":" || $0 == "{" })
        if words.count >= 4, ["Primitive", "UnaryFunction", "BinaryFunction"].contains(words[3]) { names.insert(String(words[2])) }
      }
    }
  }
  return names
}
