import ArrayCore
import Foundation
@testable import GraphCore
import Testing
import TestSupport

/// `pad` (tf.pad) and `product` (tf.reduce_prod) beyond the operation table: the gradient of a
/// product with zeros (derived by hand), errors for bad paddings and axes, bool padding, and
/// the gradient of a padding along an axis of unknown size.
@Suite struct PadProductTests {
  /// `y = x₀·x₁·x₂`: `∂y/∂x_i` is the product of the two others. With `x = [2, 0, 3]` that is
  /// `[0·3, 2·3, 2·0] = [0, 6, 0]` (dividing `y = 0` by `x_i` would give `[0, NaN, 0]`); with
  /// two zeros, `[0, 0, 3]`, every product of two others contains a 0: `[0, 0, 0]`.
  @Test func theGradientOfAProductWithZerosIsTheProductOfTheOthers() throws {
    for (values, expected) in [([2.0, 0, 3], [0.0, 6, 0]), ([0.0, 0, 3], [0.0, 0, 0]), ([2.0, 5, 3], [15.0, 6, 10])] {
      let g = Graph()
      let x = g.placeholder(.float64, shape: [3])
      let y = try product(x)
      let dx = try gradients(of: [y], withRespectTo: [x])[0]!
      let v = try Session(graph: g).run([y, dx], feeding: [x: NDArray(values, shape: [3])])
      #expect(v[0].doubles == [values.reduce(1, *)])
      #expect(v[1].doubles == expected, "x = \(values)")
    }
  }

  /// Over two axes of `[[1, 0], [3, 4]]` (all four elements, product 0): the only element whose
  /// others hold no 0 is the 0 itself, `1·3·4 = 12`; each other gradient is 0. Over axis 1 with
  /// keepDims, rows `[1, 0]` and `[3, 4]`: `[[0, 1], [4, 3]]`, times the upstream `[[2], [10]]`
  /// of `sum(y · w)`: `[[0, 2], [40, 30]]`. Checked in a graph and eagerly.
  @Test func theGradientOverSeveralAxesWithAZero() throws {
    let x0 = NDArray([1.0, 0, 3, 4], shape: [2, 2])
    let g = Graph()
    let x = g.placeholder(.float64, shape: [2, 2])
    let all = try gradients(of: [product(x, axes: [0, 1])], withRespectTo: [x])[0]!
    let rows = try product(x, axes: [1], keepDims: true)
    let weighted = try gradients(of: [sum(rows * g.constant(NDArray([2.0, 10], shape: [2, 1])))], withRespectTo: [x])[0]!
    let v = try Session(graph: g).run([all, weighted], feeding: [x: x0])
    #expect(v[0].doubles == [0, 12, 0, 0])
    #expect(v[1].doubles == [0, 2, 40, 30])

    let tape = GradientTape()
    let e = tape.watch(x0)
    let p = try product(e)
    let de = try tape.gradient(of: p, withRespectTo: [e])[0]
    #expect(try p.value.doubles == [0])
    #expect(try de.value.doubles == [0, 12, 0, 0])
  }

  @Test func aProductOfNothingIsOneAndInt32Wraps() throws {
    let g = Graph()
    let x = g.placeholder(.float32, shape: [2, 0])
    let i = g.constant(NDArray([Int32(1 << 20), 1 << 20, 3], shape: [3]))
    let v = try Session(graph: g).run([product(x, axes: [1]), product(i)], feeding: [x: NDArray.zeros([2, 0], dtype: .float32)])
    #expect(v[0].doubles == [1, 1])
    #expect(v[1].scalars(as: Int32.self) == [Int32(truncatingIfNeeded: (1 << 40) * 3)])
  }

  @Test func badAxesAndBadPaddingsAreErrorsNamingTheOpTheShapeAndTheLine() throws {
    let g = Graph()
    let x = g.placeholder(.float32, shape: [2, 3], name: "x")
    let cases: [(Int, () throws -> Tensor, String)] = [
      (#line, { try product(x, axes: [2]) }, "[Prod]"),
      (#line, { try pad(x, paddings: [(1, 1)]) }, "one (before, after) pair per axis"),
      (#line, { try pad(x, paddings: [(1, 1), (0, -1)]) }, "must not be negative"),
      (#line, { try pad(g.placeholder(.int32, shape: [2]), paddings: [(1, 1)], value: 0.5) }, "not an int32"),
      (#line, { try pad(g.placeholder(.bool, shape: [2]), paddings: [(1, 1)], value: 2) }, "must be 0 or 1"),
      (#line, { try cumprod(x, axis: 2) }, "[Cumprod]"),
    ]
    for (line, build, words) in cases {
      let error = #expect(throws: GraphError.self) { try build() }
      let text = error.map { "\($0)" } ?? ""
      #expect(text.contains(words), "\(text)")
      #expect(text.contains("PadProductTests.swift:\(line)"), "\(text)")
      if words.contains("pair") || words.contains("negative") {
        #expect(text.hasPrefix("[Pad]") && text.contains("float32 [2, 3]"), "\(text)")
      }
    }
  }

  @Test func boolAndInt32ArePaddedWithTheirValue() throws {
    let g = Graph()
    let b = g.constant(NDArray([true, false], shape: [2]))
    let i = g.constant(NDArray([Int32(4), 5], shape: [1, 2]))
    let v = try Session(graph: g).run([pad(b, paddings: [(1, 2)], value: 1), pad(i, paddings: [(1, 0), (0, 1)], value: -7)])
    #expect(v[0].scalars(as: Bool.self) == [true, true, false, true, true])
    #expect(v[1].shape == [2, 3])
    #expect(v[1].scalars(as: Int32.self) == [-7, -7, -7, 4, 5, -7])
  }

  /// A batch axis of unknown size padded behind: the gradient cuts it with a split, and is the
  /// upstream gradient's interior for each fed batch size.
  @Test func theGradientAlongAnAxisOfUnknownSize() throws {
    let g = Graph()
    let x = g.placeholder(.float64, shape: [nil, 2])
    let y = try pad(x, paddings: [(1, 2), (0, 1)], value: 9)
    #expect(y.shape == [nil, 3])
    let w = g.placeholder(.float64, shape: [nil, 3])
    let dx = try gradients(of: [sum(y * w)], withRespectTo: [x])[0]!
    for n in [1, 3] {
      let weights: [Double] = (0..<((n + 3) * 3)).map { Double($0) }
      let inputs: [Double] = (0..<(n * 2)).map { Double($0) }
      let feeds: [Tensor: NDArray] = [x: NDArray(inputs, shape: [n, 2]), w: NDArray(weights, shape: [n + 3, 3])]
      let v = try Session(graph: g).run([y, dx], feeding: feeds)
      #expect(v[0].shape == [n + 3, 3])
      #expect(v[1].shape == [n, 2])
      var expected: [Double] = []
      for r in 0..<n { expected += [weights[(r + 1) * 3], weights[(r + 1) * 3 + 1]] }
      #expect(v[1].doubles == expected)
    }
  }
}
