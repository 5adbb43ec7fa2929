@testable import GraphCore
import Testing

/// Elementwise kernels on values of one element take the definition's scalar function directly
/// (`ScalarValues`), not the array kernel. They must give the array kernel's bits: each special
/// value (signed zeros, subnormals, infinities, NaN, large and small numbers) is computed alone,
/// through the one-element path, and inside an array of all of them, through the array kernel
/// (and its vectorized form where the definition has one, as `Add` and `Relu` do).
@Suite struct ScalarValuesTests {
  static let specials: [Double] = [
    0, -0.0, 1, -1, 0.5, -2.5, 3, 7.25, 1e-40, -1e-40, .leastNormalMagnitude / 4, 88.5, -88.5, 1e30, -1e30,
    .infinity, -.infinity, .nan,
  ]

  static let unaryFunctions: [any UnaryFunction] = [
    Sigmoid(), HyperbolicTangent(), Relu(), LeakyRelu(alpha: 0.2), Elu(), Selu(), Softplus(), ErrorFunction(),
    Negate(), Square(), Abs(), Exp(), Log(), Sqrt(), Round(), Floor(), Ceil(), Sign(), Sin(), Cos(), Tan(), Atan(),
    ExpMinusOne(), LogOnePlus(), Reciprocal(), ReciprocalSquareRoot(),
  ]

  static let binaryFunctions: [any BinaryFunction] = [
    Add(), Subtract(), Multiply(), Divide(), Maximum(), Minimum(), Power(), FloorDivide(), FloorModulo(),
    Atan2(), Hypotenuse(), SigmoidCrossEntropy(),
  ]

  /// `v`'s bits, with every NaN the same (kernels need not agree on a NaN's payload).
  func bits(_ v: NDArray) -> [UInt64] {
    v.doubles.map { $0.isNaN ? UInt64.max : $0.bitPattern }
  }

  @Test(arguments: [DType.float32, .float64])
  func unaryOneElementEqualsArrayKernel(_ dtype: DType) throws {
    let all = NDArray(converting: Self.specials, shape: [Self.specials.count], dtype: dtype)
    for f in Self.unaryFunctions {
      let kernel = bits(try unary(f, Tensor(all)).value)
      for (i, x) in Self.specials.enumerated() {
        for shape in [[], [1], [1, 1]] as [Shape] {
          let one = try unary(f, Tensor(NDArray(converting: [x], shape: shape, dtype: dtype))).value
          #expect(one.shape == shape, "\(f.typeName) \(dtype) of shape \(shape)")
          #expect(bits(one) == [kernel[i]], "\(f.typeName) \(dtype) at \(x): one element \(one), array kernel \(kernel[i])")
        }
      }
    }
  }

  @Test(arguments: [DType.float32, .float64])
  func binaryOneElementEqualsArrayKernel(_ dtype: DType) throws {
    let n = Self.specials.count
    // Every pair, as two arrays of n² elements for the array kernel.
    let xs = Self.specials.flatMap { x in Array(repeating: x, count: n) }
    let ys = Array((0..<n).map { _ in Self.specials }.joined())
    let xa = NDArray(converting: xs, shape: [n * n], dtype: dtype)
    let ya = NDArray(converting: ys, shape: [n * n], dtype: dtype)
    let shapes: [(Shape, Shape, Shape)] = [([1], [1], [1]), ([], [1], [1]), ([1, 1], [], [1, 1]), ([], [], [])]
    for f in Self.binaryFunctions {
      let kernel = bits(try binary(f, Tensor(xa), Tensor(ya)).value)
      for k in 0..<(n * n) {
        for (sx, sy, sz) in shapes {
          let x = Tensor(NDArray(converting: [xs[k]], shape: sx, dtype: dtype))
          let y = Tensor(NDArray(converting: [ys[k]], shape: sy, dtype: dtype))
          let one = try binary(f, x, y).value
          #expect(one.shape == sz, "\(f.typeName) \(dtype): \(sx) with \(sy) gives \(one.shape)")
          #expect(
            bits(one) == [kernel[k]],
            "\(f.typeName) \(dtype) at (\(xs[k]), \(ys[k])): one element \(one), array kernel \(kernel[k])")
        }
      }
    }
  }
}
