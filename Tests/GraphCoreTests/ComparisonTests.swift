import ArrayCore
import GraphCore
import Testing
import TestSupport

@Suite struct ComparisonTests {
  static let a = NDArray([1, 2, 3, 4, 5, 6] as [Double], shape: [2, 3])
  static let b = NDArray([2, 2, 4] as [Double], shape: [3])

  /// The broadcast comparison by plain loops.
  func oracle(_ f: (Double, Double) -> Bool) -> NDArray {
    let a = Self.a.doubles, b = Self.b.doubles
    return NDArray((0..<6).map { f(a[$0], b[$0 % 3]) }, shape: [2, 3])
  }

  @Test func comparisonsInFloatAndInt32() throws {
    let cases: [((Tensor, Tensor) throws -> Tensor, (Double, Double) -> Bool)] = [
      ({ try equal($0, $1) }, { $0 == $1 }), ({ try notEqual($0, $1) }, { $0 != $1 }),
      ({ try less($0, $1) }, { $0 < $1 }), ({ try lessEqual($0, $1) }, { $0 <= $1 }),
      ({ try greater($0, $1) }, { $0 > $1 }), ({ try greaterEqual($0, $1) }, { $0 >= $1 }),
    ]
    for (op, f) in cases {
      try expectForward([Self.a, Self.b], oracle(f)) { try op($0[0], $0[1]) }
      let ints = try evaluate([Self.a.converted(to: .int32), Self.b.converted(to: .int32)]) { try op($0[0], $0[1]) }
      #expect(ints == oracle(f))
    }
  }

  @Test func boolEqualityAndLogic() throws {
    let p = NDArray([true, true, false, false])
    let q = NDArray([true, false, true, false])
    #expect(try evaluate([p, q]) { try equal($0[0], $0[1]) }.scalars(as: Bool.self) == [true, false, false, true])
    #expect(try evaluate([p, q]) { try notEqual($0[0], $0[1]) }.scalars(as: Bool.self) == [false, true, true, false])
    #expect(try evaluate([p, q]) { try logicalAnd($0[0], $0[1]) }.scalars(as: Bool.self) == [true, false, false, false])
    #expect(try evaluate([p, q]) { try logicalOr($0[0], $0[1]) }.scalars(as: Bool.self) == [true, true, true, false])
    #expect(try evaluate([p]) { try logicalNot($0[0]) }.scalars(as: Bool.self) == [false, false, true, true])
  }

  @Test func comparisonsHaveNoGradient() throws {
    let g = Graph()
    let x = g.placeholder(.float64, shape: [3])
    let y = try cast(greater(x, g.constant(0, dtype: .float64)), to: .float64)
    #expect(try gradient(of: sum(y * x), withRespectTo: x) != nil)  // through the product only
    #expect(try gradient(of: sum(y), withRespectTo: x) == nil)
  }

  @Test func selectForwardWithBroadcasting() throws {
    let c = NDArray([true, false, true])  // [3], broadcast over rows
    let x = randomArray([2, 3], seed: 21)
    let y = randomArray([2, 1], seed: 22)
    let xv = x.doubles, yv = y.doubles, cv = [true, false, true]
    let expected = NDArray((0..<6).map { cv[$0 % 3] ? xv[$0] : yv[$0 / 3] }, shape: [2, 3])
    try expectForward([c, x, y], expected) { try select($0[0], $0[1], $0[2]) }
    try expectGradients([x, y]) { g, t in try select(g.constant(c), t[0], t[1]) }
  }

  @Test func comparisonAndSelectErrors() {
    expectGraphError(["[Less]", "float32", "int32"]) { g in
      _ = try less(g.placeholder(.float32, shape: [2]), g.placeholder(.int32, shape: [2]))
    }
    expectGraphError(["[Greater]", "bool"]) { g in
      _ = try greater(g.placeholder(.bool, shape: [2]), g.placeholder(.bool, shape: [2]))
    }
    expectGraphError(["[Equal]", "[2]", "[3]", "cannot be broadcast"]) { g in
      _ = try equal(g.placeholder(.float32, shape: [2]), g.placeholder(.float32, shape: [3]))
    }
    expectGraphError(["[SelectV2]", "condition must be bool", "float32"]) { g in
      let x = g.placeholder(.float32, shape: [2])
      _ = try select(x, x, x)
    }
    expectGraphError(["[SelectV2]", "[2]", "[4]"]) { g in
      _ = try select(g.placeholder(.bool, shape: [2]), g.placeholder(.float32, shape: [4]), g.placeholder(.float32, shape: [4]))
    }
    expectGraphError(["[LogicalAnd]", "float32"]) { g in
      _ = try logicalAnd(g.placeholder(.bool, shape: [2]), g.placeholder(.float32, shape: [2]))
    }
  }
}
