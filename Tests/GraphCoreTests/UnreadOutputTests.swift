@testable import GraphCore
import TestSupport
import Testing

/// A plan tells each kernel which of its outputs nothing reads (``Results/isRead(_:)``), so a
/// multi-output kernel may skip them: `Normalize` computes only its statistics when `x̂` is
/// neither fetched nor an input (batch normalization's evaluation runs), with the same bits.
@Suite struct UnreadOutputTests {
  /// The Normalize step of `plan`.
  func normalizeStep(_ plan: Plan) throws -> Plan.Step {
    try #require(plan.steps.first { $0.primitive is Normalize })
  }

  @Test(arguments: [DType.float32, .float64])
  func normalizeSkipsAnUnreadNormalizedOutputWithTheSameStatistics(dtype: DType) throws {
    let g = Graph()
    let x = g.placeholder(dtype, shape: [nil, 5, 3], name: "x")
    let (y, m, v) = try normalize(x, axes: [0, 1])
    let later = try y * 2
    let s = Session(graph: g)
    let value = randomArray([7, 5, 3], seed: 11, dtype: dtype)
    func bits(_ a: NDArray) -> [UInt64] { a.doubles.map(\.bitPattern) }

    let statsOnly = try s.prepare(fetches: [m, v], feeds: [x])
    #expect(try normalizeStep(statsOnly.plan).unreadOutputs == 0b001)
    let fromStats = try statsOnly([value])

    let all = try s.prepare(fetches: [y, m, v], feeds: [x])
    #expect(try normalizeStep(all.plan).unreadOutputs == 0)
    let fromAll = try all([value])
    #expect(bits(fromStats[0]) == bits(fromAll[1]) && bits(fromStats[1]) == bits(fromAll[2]))

    // x̂ read by a later step, not fetched: computed (the unread mean is marked).
    let throughLater = try s.prepare(fetches: [later, v], feeds: [x])
    #expect(try normalizeStep(throughLater.plan).unreadOutputs == 0b010)
    let doubled = try throughLater([value])
    #expect(doubled[0].doubles == fromAll[0].doubles.map { $0 * 2 })
    #expect(bits(doubled[1]) == bits(fromAll[2]))

    // Session.run fetching the statistics alone, twice (the skipped output is left empty and
    // the plan reused), gives them again.
    for _ in 0..<2 {
      let again = try s.run([m, v], feeding: [x: value])
      #expect(bits(again[0]) == bits(fromAll[1]) && bits(again[1]) == bits(fromAll[2]))
    }
  }
}
