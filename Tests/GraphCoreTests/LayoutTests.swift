import ArrayCore
import GraphCore
import Testing
import TestSupport

@Suite struct LayoutTests {
  @Test func transposeForwardAndGradient() throws {
    let x = randomArray([2, 3, 4], seed: 41)
    let perm = [2, 0, 1]
    let xv = x.doubles
    let outShape: Shape = [4, 2, 3]
    let expected = NDArray((0..<24).map { i -> Double in
      let o = multiIndex(i, outShape)
      var src = [0, 0, 0]
      for k in 0..<3 { src[perm[k]] = o[k] }
      return xv[flatIndex(src, x.shape)]
    }, shape: outShape)
    try expectForward([x], expected) { try transpose($0[0], permutation: perm) }
    try expectGradients([x]) { _, t in try transpose(t[0], permutation: perm) }
    // Default: reversed axes (a matrix transpose).
    let m = randomArray([2, 3], seed: 42)
    let mv = m.doubles
    try expectForward([m], NDArray((0..<6).map { mv[($0 % 2) * 3 + $0 / 2] }, shape: [3, 2])) { try transpose($0[0]) }
    let ints = NDArray([1, 2, 3, 4, 5, 6] as [Int32], shape: [3, 2])
    #expect(try evaluate([ints]) { try transpose($0[0]) }.scalars(as: Int32.self) == [1, 3, 5, 2, 4, 6])
  }

  @Test func broadcastToForwardAndGradient() throws {
    let x = randomArray([3, 1], seed: 43)
    let xv = x.doubles
    try expectForward([x], NDArray((0..<24).map { xv[($0 / 4) % 3] }, shape: [2, 3, 4])) { try broadcast($0[0], to: [2, 3, 4]) }
    try expectGradients([x]) { _, t in try broadcast(t[0], to: [2, 3, 4]) }
  }

  @Test func concatSplitSliceStack() throws {
    let a = randomArray([2, 3], seed: 44)
    let b = randomArray([2, 1], seed: 45)
    let av = a.doubles, bv = b.doubles
    let joined = NDArray((0..<8).map { i -> Double in
      let r = i / 4, c = i % 4
      return c < 3 ? av[r * 3 + c] : bv[r]
    }, shape: [2, 4])
    try expectForward([a, b], joined) { try concat($0, axis: 1) }
    try expectForward([a, b], joined) { try concat($0, axis: -1) }
    try expectGradients([a, b]) { _, t in try concat(t, axis: 1) }

    // split is the inverse; the gradient of a part is zero-padded.
    let parts = try evaluate([joined]) { try split($0[0], sizes: [3, -1], axis: 1)[0] }
    expectClose(parts, a)
    let halves = try evaluate([joined]) { try split($0[0], count: 2, axis: 1)[1] }
    expectClose(halves, NDArray([av[2], bv[0], av[5], bv[1]], shape: [2, 2]))
    try expectGradients([joined]) { _, t in
      let p = try split(t[0], count: 2, axis: 1)
      return try p[0] * p[1]
    }
    try expectGradients([joined]) { _, t in try split(t[0], sizes: [1, 3], axis: 1)[1] }

    let x = randomArray([3, 4], seed: 46)
    let xv = x.doubles
    try expectForward([x], NDArray([xv[5], xv[6], xv[7], xv[9], xv[10], xv[11]], shape: [2, 3])) {
      try slice($0[0], begin: [1, 1], size: [-1, 3])
    }
    try expectGradients([x]) { _, t in try slice(t[0], begin: [1, 0], size: [2, -1]) }
    // Second order through SliceGrad.
    try expectGradients([x]) { g, t in
      try gradient(of: sum(square(slice(t[0], begin: [0, 1], size: [2, 2]))), withRespectTo: t[0])!
    }

    let s = try evaluate([a, a]) { try stack($0, axis: 1) }
    #expect(s.shape == [2, 2, 3])
    expectClose(s, NDArray([av[0], av[1], av[2], av[0], av[1], av[2], av[3], av[4], av[5], av[3], av[4], av[5]], shape: [2, 2, 3]))
    try expectGradients([a, randomArray([2, 3], seed: 47)]) { _, t in try stack(t, axis: 0) * 1.5 }
  }

  @Test func concatGradientWithUnknownSizes() throws {
    let g = Graph()
    let p = g.placeholder(.float64, shape: [nil, 2])
    let q = g.placeholder(.float64, shape: [nil, 2])
    let y = try concat([p, q], axis: 0)
    let grads = try gradients(of: sum(y * y), withRespectTo: [p, q])
    let pv = NDArray([1, 2, 3, 4] as [Double], shape: [2, 2]), qv = NDArray([5, 6] as [Double], shape: [1, 2])
    let r = try Session(graph: g).run([grads[0]!, grads[1]!], feeding: [p: pv, q: qv])
    #expect(r[0].doubles == [2, 4, 6, 8] && r[1].doubles == [10, 12])
  }

  @Test func layoutErrors() {
    expectGraphError(["[Transpose]", "[0, 0]", "[2, 3]"]) { g in
      _ = try transpose(g.placeholder(.float32, shape: [2, 3]), permutation: [0, 0])
    }
    expectGraphError(["[BroadcastTo]", "[2, 3]", "[4, 3]"]) { g in
      _ = try broadcast(g.placeholder(.float32, shape: [2, 3]), to: [4, 3])
    }
    expectGraphError(["[ConcatV2]", "[2, 3]", "[3, 3]", "axis 1"]) { g in
      _ = try concat([g.placeholder(.float32, shape: [2, 3]), g.placeholder(.float32, shape: [3, 3])], axis: 1)
    }
    expectGraphError(["[SplitV]", "[2, 5]", "3 equal parts"]) { g in
      _ = try split(g.placeholder(.float32, shape: [2, 5]), count: 3, axis: 1)
    }
    expectGraphError(["[SplitV]", "[2, 2]", "5"]) { g in
      _ = try split(g.placeholder(.float32, shape: [2, 5]), sizes: [2, 2], axis: 1)
    }
    expectGraphError(["[Slice]", "[2, 5]", "[1, 4]"]) { g in
      _ = try slice(g.placeholder(.float32, shape: [2, 5]), begin: [1, 4], size: [1, 2])
    }
    expectGraphError(["[Pack]", "[2]", "[3]"]) { g in
      _ = try stack([g.placeholder(.float32, shape: [2]), g.placeholder(.float32, shape: [3])])
    }
  }
}
