import ArrayCore
import Foundation
@testable import GraphCore
import Testing

/// The elementwise definitions against independent oracles where the op table's random draws
/// cannot reach: NumPy's floor division and remainder at negative operands, exact quotients and
/// zero divisors.
@Suite struct ElementwiseDefinitionTests {
  /// `(x, y, floor_divide(x, y), remainder(x, y))` as NumPy 2 prints them (`np.floor_divide`,
  /// `np.remainder`, float64), e.g. `np.floor_divide(7.0, 0.1) == 69.0`.
  static let numpy: [(Double, Double, Double, Double)] = [
    (7, 2, 3, 1), (-7, 2, -4, 1), (7, -2, -4, -1), (-7, -2, 3, -1),
    (7, 0.1, 69, 0.09999999999999962), (-7.5, 2.5, -3, 0), (7.5, -2.5, -3, -0.0),
    (0.5, 1, 0, 0.5), (-0.5, 1, -1, 0.5), (1, .infinity, 0, 1), (-1, .infinity, -1, .infinity),
  ]

  @Test func floorDivisionAndRemainderFollowNumPy() throws {
    for (x, y, q, r) in Self.numpy {
      #expect(FloorDivide()(x, y) == q, "floor_divide(\(x), \(y))")
      #expect(FloorModulo()(x, y) == r, "remainder(\(x), \(y))")
      #expect(FloorModulo()(x, y).sign == r.sign, "remainder(\(x), \(y)) has y's sign")
    }
    #expect(FloorDivide()(1.0, 0.0) == .infinity)
    #expect(FloorModulo()(1.0, 0.0).isNaN)
    // Through the graph, with broadcasting, in float32.
    let g = Graph()
    let x = g.constant(NDArray([Float(-7), 7, 7.5]))
    let y = g.constant(NDArray([Float(2)]))
    let s = Session(graph: g)
    #expect(try s.run(floorDiv(x, y)).scalars(as: Float.self) == [-4, 3, 3])
    #expect(try s.run(mod(x, y)).scalars(as: Float.self) == [1, 1, 1.5])
  }

  /// The derived kernels, the derived in-place update and the scalar entry points all compute
  /// the definition's value.
  @Test func derivedPathsComputeTheDefinition() throws {
    let values: [Double] = [-2.5, -1, -0.0, 0, 0.3, 1, 2.75]
    let unaries: [any UnaryFunction] = [Negate(), Square(), Abs(), Exp(), Sqrt(), Sin(), Cos(), Atan(), Relu(), Sigmoid(),
      LeakyRelu(alpha: 0.1), Elu(), Softplus(), ErrorFunction(), ExpMinusOne(), Reciprocal()]
    for f in unaries {
      var out = NDArray()
      try f.evaluate(NDArray(values), into: &out)
      let expected = values.map { f($0) }
      #expect(zip(out.scalars(as: Double.self), expected).allSatisfy { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) }, "\(f.typeName)")
      #expect(values.allSatisfy { f.apply($0).bitPattern == f($0).bitPattern || f($0).isNaN }, "\(f.typeName) scalar entry")
    }
    for f in [Add(), Subtract()] as [any BinaryFunction] {
      var v = NDArray(values)
      try f.update(&v, with: NDArray([0.5]))
      #expect(v.scalars(as: Double.self) == values.map { f($0, 0.5) }, "\(f.typeName) in place")
    }
  }

  /// Arrays from 65,536 elements are mapped over the kernel threads, in pieces of 4,096
  /// (`Kernels.concurrentMap`): every element is still the definition's value, on 1, 2 and 3
  /// threads (100,003 elements: the last piece short). Float64 `tanh` too, against Foundation's.
  @Test(arguments: [DType.float32, .float64])
  func largeArraysAreMappedOverTheThreadsToTheDefinition(dtype: DType) throws {
    let n = 100_003
    let values = (0..<n).map { Double($0 % 2001) / 250 - 4 }  // -4 ... 4, in steps of 1/250
    let x = NDArray(converting: values, shape: [n], dtype: dtype)
    let inputs = x.doubles  // rounded to the dtype
    let unaries: [any UnaryFunction] = [Negate(), Square(), Abs(), Sin(), Atan(), Relu(), Elu(), ErrorFunction(), Sign()]
    defer { KernelSettings.setMatmulThreads(nil) }
    for threads in [1, 2, 3] {
      KernelSettings.setMatmulThreads(threads)
      for f in unaries {
        var out = NDArray()
        try f.evaluate(x, into: &out)
        let expected = inputs.map { dtype == .float32 ? Double(f.apply(Float($0))) : f.apply($0) }
        let differing = zip(out.doubles, expected).filter { $0.bitPattern != $1.bitPattern }.count
        #expect(out.shape == [n] && differing == 0, "\(f.typeName) \(dtype) on \(threads) threads: \(differing) of \(n) differ")
      }
      if dtype == .float64 {
        var out = NDArray()
        try Kernels.tanh(x, into: &out)
        let differing = zip(out.doubles, inputs.map(Foundation.tanh)).filter { $0.bitPattern != $1.bitPattern }.count
        #expect(differing == 0, "float64 tanh on \(threads) threads: \(differing) of \(n) differ from Foundation's")
      }
    }
  }
}
