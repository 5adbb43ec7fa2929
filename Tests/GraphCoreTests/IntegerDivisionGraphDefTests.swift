import ArrayCore
import Foundation
@testable import GraphCore
import Testing
import TestSupport

/// int32 `FloorDiv`, `FloorMod`, `TruncateDiv` and `Div` imported from a GraphDef: computed
/// through float64, they gave a value for a zero divisor (a saturated or arbitrary int32) where
/// TensorFlow raises "Integer division by zero" when the graph runs. Each now reads its divisor
/// through ``CheckNonZeroDivisor``, so the run fails naming the imported node, and every other
/// value is TensorFlow's. (A graph TensorFlow itself wrote is in GraphDefProbeTests:
/// `raise_int_div_zero`.)
@Suite struct IntegerDivisionGraphDefTests {
  /// The four divisions, by node name and TensorFlow type.
  static let divisions = [("floordiv", "FloorDiv"), ("floormod", "FloorMod"), ("truncatediv", "TruncateDiv"), ("div", "Div")]

  /// `x` and `y`, int32 placeholders of shape [?], and one node per division of `x` by `y`.
  static func graphDef() -> [UInt8] {
    var nodes = ["x", "y"].map { TFNode(name: $0, op: "Placeholder", attrs: [("dtype", .type(.int32)), ("shape", .shape([nil]))]) }
    for (name, op) in divisions { nodes.append(TFNode(name: name, op: op, inputs: ["x", "y"], attrs: [("T", .type(.int32))])) }
    var g = ProtobufWriter()
    for n in nodes { g.message(1, n.encoded()) }
    return g.bytes
  }

  /// Negative operands, a zero dividend, INT32_MIN by ±1 and INT32_MAX by -1.
  static let x = NDArray([Int32(7), -7, 7, -7, 0, 5, .min, .min, .max], shape: [9])
  static let y = NDArray([Int32(2), 2, -2, -2, 3, -3, -1, 1, -1], shape: [9])
  /// TensorFlow 2.21's values for `x` and `y` (`tf.compat.v1.Session` on the same graph):
  /// INT32_MIN // -1 wraps to INT32_MIN.
  static let tensorFlow: [String: [Int32]] = [
    "floordiv": [3, -4, -4, 3, 0, -2, .min, .min, -2_147_483_647],
    "floormod": [1, 1, -1, -1, 0, -1, 0, 0, 0],
    "truncatediv": [3, -3, -3, 3, 0, -1, .min, .min, -2_147_483_647],
    "div": [3, -3, -3, 3, 0, -1, .min, .min, -2_147_483_647],
  ]
  /// A divisor with one zero (its element 2).
  static let zeroDivisor = NDArray([Int32(1), -1, 0, 3, 1, 1, 1, 1, 1], shape: [9])

  /// The imported graph with its placeholders and division outputs.
  static func imported(_ bytes: [UInt8] = graphDef()) throws -> (Graph, Tensor, Tensor, [Tensor]) {
    let g = try Graph(graphDef: bytes)
    let x = try #require(g.tensor(named: "x")), y = try #require(g.tensor(named: "y"))
    let outs = try divisions.map { name, _ in try #require(g.tensor(named: name)) }
    return (g, x, y, outs)
  }

  /// `error`'s message names the node (in quotes) and says "integer division by zero".
  static func expectDivisionByZero(_ error: any Error, node: String, type: String, _ context: String) {
    let text = "\(error)"
    #expect(text.contains("node '\(node)' (\(type))"), "\(context): \(text)")
    #expect(text.contains("integer division by zero"), "\(context): \(text)")
  }

  @Test func nonZeroDivisorsGiveTensorFlowsValues() throws {
    let (g, x, y, outs) = try Self.imported()
    let session = Session(graph: g)
    let values = try session.run(outs, feeding: [x: Self.x, y: Self.y])
    for ((name, _), v) in zip(Self.divisions, values) {
      #expect(v.dtype == .int32)
      #expect(v == NDArray(try #require(Self.tensorFlow[name]), shape: [9]), "\(name): \(v)")
    }
    // A prepared step gives the same values.
    let step = try session.prepare(fetches: outs, feeds: [x, y])
    let prepared = try step([Self.x, Self.y])
    for (a, b) in zip(prepared, values) { #expect(a.isBitIdentical(to: b)) }
  }

  /// A zero divisor fails the run with a thrown error naming the imported node, in
  /// `Session.run` and in a prepared step; the session then runs on with other divisors.
  @Test func aZeroDivisorFailsTheRunNamingTheNode() throws {
    let (g, x, y, outs) = try Self.imported()
    let session = Session(graph: g)
    for ((name, type), out) in zip(Self.divisions, outs) {
      do {
        let v = try session.run(out, feeding: [x: Self.x, y: Self.zeroDivisor])
        Issue.record("\(name): a zero divisor gave \(v)")
      } catch let error as SessionError {
        guard case let .executionFailed(op, node, _, _) = error else {
          Issue.record("\(name): \(error)")
          continue
        }
        #expect(op == "CheckNonZeroDivisor")
        #expect(node.hasPrefix(name + "/"))
        Self.expectDivisionByZero(error, node: name, type: type, "\(name) Session.run")
      }
      let step = try session.prepare(fetches: [out], feeds: [x, y])
      #expect(throws: SessionError.self) { try step([Self.x, Self.zeroDivisor]) }
      do { _ = try step([Self.x, Self.zeroDivisor]) } catch { Self.expectDivisionByZero(error, node: name, type: type, "\(name) PreparedStep") }
      // A scalar zero divisor broadcast against the dividend fails too.
      #expect(throws: SessionError.self) { try session.run(out, feeding: [x: Self.x, y: NDArray([Int32(0)], shape: [1])]) }
      // The failed runs left the session usable.
      let v = try step([Self.x, Self.y])[0]
      #expect(v == NDArray(try #require(Self.tensorFlow[name]), shape: [9]))
    }
  }

  /// Written by Backprop and read back, the check is TensorFlow's `Assert` before an `Identity`,
  /// restored as the one primitive: the same values, the same error, and the same bytes again.
  @Test func theCheckSurvivesAGraphDefRoundTrip() throws {
    let (g, _, _, _) = try Self.imported()
    let bytes = try g.graphDef()
    let types = try GraphDefDecoder.nodes(bytes, source: "test").map(\.op)
    #expect(types.contains("Assert") && types.contains("NotEqual") && types.contains("All"), "\(types)")
    // `BACKPROP_INT_DIV_GRAPHDEF=PATH` writes the file, for running it in TensorFlow itself.
    if let path = ProcessInfo.processInfo.environment["BACKPROP_INT_DIV_GRAPHDEF"] { try FileIO.writeAtomically(bytes, toPath: path) }
    let (h, x, y, outs) = try Self.imported(bytes)
    #expect(h.operations.filter { $0.type == "CheckNonZeroDivisor" }.count == Self.divisions.count)
    #expect(try h.graphDef() == bytes)
    let session = Session(graph: h)
    let values = try session.run(outs, feeding: [x: Self.x, y: Self.y])
    for ((name, _), v) in zip(Self.divisions, values) { #expect(v == NDArray(try #require(Self.tensorFlow[name]), shape: [9])) }
    for ((name, type), out) in zip(Self.divisions, outs) {
      do {
        _ = try session.run(out, feeding: [x: Self.x, y: Self.zeroDivisor])
        Issue.record("\(name): no error after a round trip")
      } catch { Self.expectDivisionByZero(error, node: name, type: type, "\(name) round trip") }
    }
  }

  /// Eagerly, the check throws when the operation is applied (the eager graph's error names the
  /// division), and passes a non-zero divisor through unchanged.
  @Test func theCheckThrowsEagerly() throws {
    let check = CheckNonZeroDivisor(operation: "floordiv", operationType: "FloorDiv")
    let good = Tensor(Self.y)
    let passed = try good.graph.apply(check, [good])
    #expect(try passed.value.isBitIdentical(to: Self.y))
    let bad = Tensor(Self.zeroDivisor)
    do {
      let v = try bad.graph.apply(check, [bad])
      Issue.record("eager: a zero divisor gave \(try v.value)")
    } catch { Self.expectDivisionByZero(error, node: "floordiv", type: "FloorDiv", "eager") }
  }
}
