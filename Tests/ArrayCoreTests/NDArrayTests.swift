import ArrayCore
import Testing

@Suite struct NDArrayDescriptionTests {
  @Test func printsLikeNumPy() {
    #expect(NDArray([Float(9.932316)]).description == "[9.932316]")
    #expect(NDArray([Float(0.03685168)], shape: [1, 1]).description == "[[0.03685168]]")
    #expect(NDArray([Float(9.61972692e-05)], shape: [1, 1]).description == "[[9.619727e-05]]")
    #expect(NDArray([1.5, 2.25, 10.0]).description == "[ 1.5   2.25 10.  ]")
    #expect(NDArray([Int32(1), 2, 3]).description == "[1 2 3]")
    #expect(NDArray([true, false]).description == "[ True False]")
    #expect(NDArray([1, 2, 3, 4] as [Float], shape: [2, 2]).description == "[[1. 2.]\n [3. 4.]]")
    #expect(NDArray(scalar: 2.5).description == "2.5")
  }
}
