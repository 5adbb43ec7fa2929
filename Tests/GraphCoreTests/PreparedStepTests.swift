import GraphCore
import Testing

@Suite struct PreparedStepTests {
  @Test func preparedStepMatchesSessionRunBitForBit() throws {
    let (g, x, y, a, loss, train) = try notebookRegressionGraph()
    let s1 = Session(graph: g), s2 = Session(graph: g)
    try s1.initializeVariables()
    try s2.initializeVariables()
    let step = try s2.prepare(fetches: [loss], feeds: [x, y], targets: [train])
    var rng = SeededGenerator(seed: 1)
    for _ in 0..<50 {
      let xv = NDArray([Float(rng.normal(mean: 1, standardDeviation: 0.1))])
      let yv = NDArray([Float(10)])
      let l1 = try s1.run([loss], feeding: [x: xv, y: yv], targets: [train])[0]
      let l2: NDArray
      if rng.choice(2) == 0 {
        l2 = try step([xv, yv])[0]
      } else {
        try step.setFeed(0, to: xv)
        try step.setFeed(1, to: yv)
        try step.run()
        l2 = step.fetch(0)
      }
      #expect(l1.isBitIdentical(to: l2))
      #expect(try s1.value(of: a).isBitIdentical(to: s2.value(of: a)))
    }
  }

  @Test func preparedStepChecksItsFeeds() throws {
    let (g, x, y, _, loss, train) = try notebookRegressionGraph()
    let s = Session(graph: g)
    try s.initializeVariables()
    #expect(throws: SessionError.missingFeeds(["y"])) { _ = try s.prepare(fetches: [loss], feeds: [x]) }
    let step = try s.prepare(fetches: [loss], feeds: [x, y], targets: [train])
    #expect(throws: SessionError.missingFeeds(["x:0"])) { try step.run() }
    #expect(throws: SessionError.feedMismatch(name: "x:0", expected: "float32 [1]", got: "float32 [2]")) {
      try step.setFeed(0, to: NDArray([Float(1), 2]))
    }
    #expect(throws: SessionError.self) { try step.setFeed(2, to: NDArray([Float(1)])) }
    #expect(throws: SessionError.self) { try step([NDArray([Float(1)])]) }
  }

  /// A step keeps the feeds it was given (its feeds are set without the session's lock, in its
  /// own plan): a `Session.run` of the same fetches and feeds in between does not change them, a
  /// value set on one step is not another step's, and a feed stays set over runs, also when the
  /// caller changes its array afterwards or sets it through the array form.
  @Test func aStepFeedsWhatItWasGiven() throws {
    let (g, x, y, _, loss, _) = try notebookRegressionGraph()
    let s = Session(graph: g)
    try s.initializeVariables()
    let step = try s.prepare(fetches: [loss], feeds: [x, y])
    let other = try s.prepare(fetches: [loss], feeds: [x, y])
    let two = NDArray([Float(2)]), ten = NDArray([Float(10)])
    try step.setFeed(0, to: two)
    try step.setFeed(1, to: ten)
    try step.run()
    let expected = step.fetch(0)
    _ = try s.run([loss], feeding: [x: NDArray([Float(5)]), y: NDArray([Float(7)])])
    try step.run()
    #expect(step.fetch(0).isBitIdentical(to: expected))
    #expect(throws: SessionError.missingFeeds(["x:0"])) { try other.run() }
    var changing = NDArray([Float(2)])
    try step.setFeed(0, to: changing)
    changing.withUnsafeMutableBufferPointer(as: Float.self) { $0[0] = 3 }
    try step.run()
    #expect(step.fetch(0).isBitIdentical(to: expected))
    // A feed set through the array form stays set for `run()`, as one set by `setFeed`.
    let three = try step([NDArray([Float(3)]), ten])[0]
    try step.run()
    #expect(step.fetch(0).isBitIdentical(to: three))
    #expect(!three.isBitIdentical(to: expected))
  }

  /// Session.run binds feeds by position among a recent plan's feeds (issue 13): the same
  /// fetches and targets with another set of fed tensors must not reuse that plan; a mismatched
  /// value is reported by the first mismatched feed in the plan's order, whatever the
  /// dictionary's order; and the session does not keep the fed arrays after the run.
  @Test func sessionRunBindsFeedsByPosition() throws {
    let (g, x, y, _, loss, _) = try notebookRegressionGraph()
    let z = g.placeholder(.float32, shape: [1], name: "z")
    let other = try loss + z
    let s = Session(graph: g)
    try s.initializeVariables()
    let one = NDArray([Float(1)]), ten = NDArray([Float(10)])
    let l1 = try s.run(loss, feeding: [x: one, y: ten])
    let l2 = try s.run(loss, feeding: [y: ten, x: one])
    #expect(l1.isBitIdentical(to: l2))
    // Feeding [x, loss] (a computed value may be fed) has as many feeds as [x, y] for the same
    // fetch: the recent plan for [x, y] must not take it, and must still be found afterwards.
    let scaled = try loss * 1
    let fedLoss = try s.run(scaled, feeding: [x: one, y: ten])
    let overridden = try s.run(scaled, feeding: [x: one, loss: NDArray([Float(7)])])
    #expect(overridden.scalars(as: Float.self) == [7])
    #expect(try s.run(scaled, feeding: [x: one, y: ten]).isBitIdentical(to: fedLoss))
    #expect(throws: SessionError.feedMismatch(name: "x:0", expected: "float32 [1]", got: "float32 [2]")) {
      _ = try s.run(other, feeding: [z: NDArray([Float(1), 2]), y: NDArray([Float(1), 2]), x: NDArray([Float(1), 2])])
    }
    #expect(throws: SessionError.feedMismatch(name: "y:0", expected: "float32 [1]", got: "float64 [1]")) {
      _ = try s.run(other, feeding: [z: one, y: NDArray([Double(1)]), x: one])
    }
  }

  @Test func alternatingPlansStayCorrect() throws {
    // The session keeps several recent plans; switching between them must not mix up slots.
    let (g, x, y, a, loss, train) = try notebookRegressionGraph()
    let s = Session(graph: g)
    try s.initializeVariables()
    let twice = try loss * 2
    for i in 0..<10 {
      let feeds = [x: NDArray([Float(1 + Double(i) / 10)]), y: NDArray([Float(10)])]
      let l = try s.run(loss, feeding: feeds)
      let t = try s.run(twice, feeding: feeds)
      #expect(t.doubles[0] == 2 * l.doubles[0])
      try s.run(train, feeding: feeds)
      _ = try s.value(of: a)
    }
  }

  /// A prepared step copies small feeds into its own memory (``PreparedStep/setFeed(_:to:)``)
  /// and shares large ones: values of changing shapes, small and large in turn, fed by
  /// `setFeed` and by a compiled function, and read back as a fetch of the fed tensor, are each
  /// the value last fed; the caller's arrays are not kept alive by a small feed.
  @Test func smallFeedsAreCopiedAndLargeOnesShared() throws {
    let g = Graph()
    let x = g.placeholder(.float32, shape: [nil], name: "x")
    let total = try sum(x * 2)
    let s = Session(graph: g)
    let step = try s.prepare(fetches: [total, x], feeds: [x])
    let compiled = compile { i in [try sum(i[0] * 2)] }
    var rng = SeededGenerator(seed: 4)
    for count in [1, 3, 1, 2, 100, 64, 65, 5, 300, 2, 2] {
      let values = (0..<count).map { _ in Float(rng.normal(mean: 0, standardDeviation: 1)) }
      var fed = NDArray(values)
      try step.setFeed(0, to: fed)
      try step.run()
      let expected = values.reduce(Float(0)) { $0 + $1 * 2 }
      #expect(abs(step.fetch(0).scalars(as: Float.self)[0] - expected) <= 1e-4 * Float(count))
      #expect(step.fetch(1) == fed)
      #expect(abs(try compiled([fed])[0].scalars(as: Float.self)[0] - expected) <= 1e-4 * Float(count))
      // Writing the caller's array afterwards changes neither the fed value nor its own copy.
      let before = step.fetch(1)
      fed.withUnsafeMutableBufferPointer(as: Float.self) { $0[0] += 1 }
      #expect(step.fetch(1) == before)
      #expect(step.fetch(1).scalars(as: Float.self)[0] == values[0])
    }
  }
}
