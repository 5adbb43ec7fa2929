import GraphCore
import Testing

/// `Session.run`'s feeds (issue 13 item 3): a dictionary literal makes a ``Feeds`` value, bound
/// by position without hashing; a dictionary built in code takes the generic overload. Both
/// must give the same results and the same errors, and a tensor written twice in a literal is
/// a thrown error naming it (a `Dictionary` literal with a repeated key traps).
@Suite struct FeedsTests {
  @Test func aTensorFedTwiceIsAThrownErrorNamingIt() throws {
    let (g, x, y, a, loss, train) = try notebookRegressionGraph()
    let s = Session(graph: g)
    try s.initializeVariables()
    let one = NDArray([Float(1)]), ten = NDArray([Float(10)])
    let fedTwice = { (name: String) in
      SessionError.unexpectedFeed(name: name, reason: "it is fed twice in one run (a repeated key in the feeds)")
    }
    // Before any plan exists (the plan is looked up by key: the repeat is found while sorting).
    #expect(throws: fedTwice("x:0")) { try s.run(loss, feeding: [x: one, x: ten]) }
    #expect(throws: fedTwice("y:0")) { try s.run(train, feeding: [x: one, y: ten, y: one]) }
    let before = try s.value(of: a)
    let expected = try s.run(loss, feeding: [x: one, y: ten])
    // With a recent plan of as many feeds (the repeat is found while binding by position), for
    // every overload; nothing runs and the variable is unchanged.
    #expect(throws: fedTwice("x:0")) { try s.run(loss, feeding: [x: one, x: ten]) }
    #expect(throws: fedTwice("x:0")) { try s.run(loss, feeding: [x: one, x: ten, y: ten]) }
    #expect(throws: fedTwice("x:0")) { try s.run([loss], feeding: [x: one, x: ten], targets: [train]) }
    #expect(throws: fedTwice("y:0")) { try s.run(train, feeding: [y: one, y: ten]) }
    #expect(try s.value(of: a).isBitIdentical(to: before))
    // The description names the tensor; the session still runs the same plan afterwards.
    #expect("\(fedTwice("x:0"))".contains("'x:0'"))
    #expect(try s.run(loss, feeding: [x: one, y: ten]).isBitIdentical(to: expected))
    // A sequence of pairs built in code (no Dictionary to keep its keys apart) is checked alike.
    let pairs: [(key: Tensor, value: NDArray)] = [(x, one), (y, ten), (x, one)]
    #expect(throws: fedTwice("x:0")) { try s.run(loss, feeding: pairs) }
    // A prepared step names the repeated tensor too.
    #expect(throws: fedTwice("y:0")) { _ = try s.prepare(fetches: [loss], feeds: [x, y, y]) }
  }

  @Test func literalDictionaryAndPairsGiveTheSameTraining() throws {
    let (g, x, y, a, loss, train) = try notebookRegressionGraph()
    let sessions = (0..<3).map { _ in Session(graph: g) }
    for s in sessions { try s.initializeVariables() }
    var rng = SeededGenerator(seed: 7)
    for step in 0..<40 {
      let xv = NDArray([Float(rng.normal(mean: 1, standardDeviation: 0.1))])
      let yv = NDArray([Float(10)])
      let dictionary: [Tensor: NDArray] = [x: xv, y: yv]
      let literal = try sessions[0].run([loss], feeding: [x: xv, y: yv], targets: [train])[0]
      let fromDictionary = try sessions[1].run([loss], feeding: dictionary, targets: [train])[0]
      let fromPairs = try sessions[2].run([loss], feeding: Feeds([(key: y, value: yv), (key: x, value: xv)]), targets: [train])[0]
      #expect(literal.isBitIdentical(to: fromDictionary))
      #expect(literal.isBitIdentical(to: fromPairs))
      if step % 5 == 0 {
        // Other overloads in between (other plans): the fetch, the target, the dictionary.
        #expect(try sessions[0].run(loss, feeding: [y: yv, x: xv]).isBitIdentical(to: sessions[1].run(loss, feeding: dictionary)))
        try sessions[0].run(train, feeding: [x: xv, y: yv])
        try sessions[1].run(train, feeding: dictionary)
        try sessions[2].run(train, feeding: Feeds(dictionary))
      }
      for s in sessions.dropFirst() { #expect(try s.value(of: a).isBitIdentical(to: sessions[0].value(of: a))) }
    }
  }

  @Test func errorsAreTheSameThroughEveryOverload() throws {
    let g = Graph()
    let x = g.placeholder(.float32, shape: [nil, 3], name: "x")
    let unused = g.placeholder(.float32, shape: [2], name: "unused")
    let y = try sum(x)
    let s = Session(graph: g)
    let wrongShape = try NDArray.zeros([2, 4]), wrongType = try NDArray.zeros([2, 3], dtype: .float64)
    let shapeError = SessionError.feedMismatch(name: "x:0", expected: "float32 [?, 3]", got: "float32 [2, 4]")
    let typeError = SessionError.feedMismatch(name: "x:0", expected: "float32 [?, 3]", got: "float64 [2, 3]")
    for _ in 0..<2 {  // the first time builds the plan, the second binds to the recent one
      #expect(throws: shapeError) { try s.run(y, feeding: [x: wrongShape]) }
      #expect(throws: shapeError) { try s.run(y, feeding: [x: wrongShape] as [Tensor: NDArray]) }
      #expect(throws: typeError) { try s.run(y, feeding: [x: wrongType]) }
      #expect(throws: typeError) { try s.run(y, feeding: [x: wrongType] as [Tensor: NDArray]) }
      #expect(throws: SessionError.missingFeeds(["x"])) { try s.run(y, feeding: [unused: NDArray([Float(1), 2])]) }
      #expect(throws: SessionError.missingFeeds(["x"])) { try s.run(y, feeding: [unused: NDArray([Float(1), 2])] as [Tensor: NDArray]) }
      #expect(try s.run(y, feeding: [x: NDArray.ones([5, 3])]).scalarValue == 15)
      #expect(try s.run(y, feeding: [x: NDArray.ones([5, 3])] as [Tensor: NDArray]).scalarValue == 15)
    }
    // A computed tensor may be fed (it overrides its computation), through either overload.
    let doubled = try y * 2
    #expect(try s.run(doubled, feeding: [y: NDArray(scalar: Float(4))]).scalarValue == 8)
    #expect(try s.run(doubled, feeding: [y: NDArray(scalar: Float(4))] as [Tensor: NDArray]).scalarValue == 8)
    // A tensor of another graph.
    let other = Graph().placeholder(.float32, shape: [1], name: "other")
    #expect(throws: SessionError.foreignTensor(name: "other:0")) {
      try s.run(y, feeding: [x: NDArray.ones([1, 3]), other: NDArray([Float(1)])])
    }
    #expect(throws: SessionError.foreignTensor(name: "other:0")) {
      try s.run(y, feeding: [x: NDArray.ones([1, 3]), other: NDArray([Float(1)])] as [Tensor: NDArray])
    }
  }

  /// More than 64 fed tensors: the bound feeds are tracked past the 64-bit mask.
  @Test func manyFeedsAndRepeatsBeyondTheSixtyFourth() throws {
    let g = Graph()
    let xs = (0..<70).map { g.placeholder(.float32, shape: [1], name: "p\($0)") }
    var total = xs[0]
    for t in xs.dropFirst() { total = try total + t }
    let s = Session(graph: g)
    let pairs = xs.enumerated().map { (key: $0.element, value: NDArray([Float($0.offset)])) }
    for _ in 0..<2 { #expect(try s.run(total, feeding: Feeds(pairs)).scalarValue == Double(69 * 70 / 2)) }
    // The 70th tensor fed again in place of the 69th: as many pairs as the plan's feeds.
    var repeated = pairs
    repeated[68] = pairs[69]
    #expect(throws: SessionError.unexpectedFeed(name: "p69:0", reason: "it is fed twice in one run (a repeated key in the feeds)")) {
      try s.run(total, feeding: Feeds(repeated))
    }
    #expect(try s.run(total, feeding: Feeds(pairs.reversed())).scalarValue == Double(69 * 70 / 2))
  }

  @Test func feedsKeepTheOrderWritten() throws {
    let g = Graph()
    let x = g.placeholder(.float32, shape: [1], name: "x")
    let y = g.placeholder(.float32, shape: [1], name: "y")
    let feeds: Feeds = [y: NDArray([Float(2)]), x: NDArray([Float(1)]), y: NDArray([Float(3)])]
    #expect(feeds.count == 3)
    #expect(feeds.map(\.key) == [y, x, y])
    #expect(feeds.map { $0.value.scalarValue } == [2, 1, 3])
    let empty: Feeds = [:]
    #expect(empty.isEmpty && Feeds().isEmpty)
    let fromDictionary = Feeds([x: NDArray([Float(1)])] as [Tensor: NDArray])
    #expect(fromDictionary.count == 1 && fromDictionary[0].key == x)
  }
}
