import ArrayCore
import Dispatch
import GraphCore
import Testing

/// The feed table (`FeedChecks`, Plan.swift) that `setFeed`, `Session.run` and prepared steps
/// check fed values with, against an independent oracle: a value is accepted exactly when its
/// dtype is the placeholder's and `PartialShape.accepts` takes its shape.
@Suite struct FeedCheckTests {
  /// Placeholders of every kind of partial shape, and values of ranks 0 to 3 around them.
  static let placeholderShapes: [PartialShape] = [[], [1], [nil], [3], [nil, 3], [2, nil, 4], [nil, nil]]
  static let valueShapes: [Shape] = [[], [1], [3], [7], [2, 3], [5, 3], [3, 2], [2, 5, 4], [2, 5, 3], [1, 1], [0, 3]]

  @Test(arguments: [DType.float32, .float64])
  func everyEntryPointAcceptsWhatThePlaceholderAccepts(dtype: DType) throws {
    for placeholderShape in Self.placeholderShapes {
      let graph = Graph()
      let x = graph.placeholder(.float32, shape: placeholderShape, name: "x")
      let y = try identity(x)
      let session = Session(graph: graph)
      let step = try session.prepare(fetches: [y], feeds: [x])
      for shape in Self.valueShapes {
        let count = shape.elementCount
        let value =
          dtype == .float32
          ? NDArray((0..<count).map { Float($0) + 0.5 }, shape: shape)
          : NDArray((0..<count).map { Double($0) + 0.5 }, shape: shape)
        let accepted = dtype == .float32 && placeholderShape.accepts(shape)
        let error = SessionError.feedMismatch(name: "x:0", expected: "float32 \(placeholderShape)", got: "\(dtype) \(shape)")
        if accepted {
          try step.setFeed(0, to: value)
          try step.run()
          #expect(step.fetch(0).isBitIdentical(to: value), "setFeed \(shape) into \(placeholderShape)")
          #expect(try step([value])[0].isBitIdentical(to: value), "step([...]) \(shape) into \(placeholderShape)")
          #expect(try session.run(y, feeding: [x: value]).isBitIdentical(to: value), "run \(shape) into \(placeholderShape)")
        } else {
          #expect(throws: error) { try step.setFeed(0, to: value) }
          #expect(throws: error) { try step([value]) }
          #expect(throws: error) { try session.run(y, feeding: [x: value]) }
        }
      }
    }
  }

  /// A feed refused after an accepted one leaves the accepted value in place; a large feed
  /// (shared, not copied) and a small one (copied) both reach the run, and a value the caller
  /// keeps is never written by a later `setFeed`.
  @Test func refusedFeedsChangeNothingAndFedArraysAreNeverWritten() throws {
    let graph = Graph()
    let x = graph.placeholder(.float32, shape: [nil], name: "x")
    let y = try identity(x)
    let step = try Session(graph: graph).prepare(fetches: [y], feeds: [x])
    let small = NDArray([Float(1), 2, 3])
    let large = NDArray((0..<1000).map(Float.init))
    try step.setFeed(0, to: small)
    #expect(throws: SessionError.self) { try step.setFeed(0, to: NDArray([Float(1), 2], shape: [1, 2])) }
    #expect(throws: SessionError.self) { try step.setFeed(0, to: NDArray([Double(1)])) }
    #expect(throws: SessionError.self) { try step.setFeed(1, to: small) }
    #expect(throws: SessionError.self) { try step.setFeed(-1, to: small) }
    try step.run()
    #expect(step.fetch(0).isBitIdentical(to: small))
    try step.setFeed(0, to: large)
    try step.run()
    #expect(step.fetch(0).isBitIdentical(to: large))
    let kept = NDArray([Float(7), 8, 9])
    try step.setFeed(0, to: kept)
    try step.setFeed(0, to: small)
    try step.run()
    #expect(kept.isBitIdentical(to: NDArray([Float(7), 8, 9])))
    #expect(step.fetch(0).isBitIdentical(to: small))
  }

  /// The session's lock (`Lock`, over bp_lock.h) excludes: threads that add under it lose no
  /// update, also when they contend (the futex path), and `tryLock` fails while it is held.
  @Test func theLockExcludesUnderContention() throws {
    let lock = Lock()
    let total = UnsafeMutablePointer<Int>.allocate(capacity: 1)
    total.initialize(to: 0)
    defer { total.deallocate() }
    let address = Int(bitPattern: total)
    DispatchQueue.concurrentPerform(iterations: 4) { _ in
      let total = UnsafeMutablePointer<Int>(bitPattern: address)!
      for i in 0..<50_000 {
        lock.withLock { total.pointee += 1 }
        if i % 1000 == 0 { lock.withLock { for _ in 0..<10_000 { total.pointee &+= 0 } } }
      }
    }
    #expect(total.pointee == 200_000)
    lock.lock()
    let tried = DispatchQueue.global().sync { lock.tryLock() }
    #expect(!tried)
    lock.unlock()
    #expect(lock.tryLock())
    lock.unlock()
  }
}
