import Dispatch
@testable import GraphCore
import Testing

/// Session 11: a `Feeds` literal written in the call to `Session.run` is the run's own (the
/// overloads take it `consuming`), so its values are moved into the plan's feed slots and back
/// instead of copied in and cleared; a `Feeds` the caller keeps and feeds again is shared, and
/// its storage copied before the copy's values are moved (session 18: the overloads lend the
/// buffer, so that a literal stays on the caller's stack). Session 36: one or two pairs are
/// passed as values and read where the caller holds them when a recent plan's scalar program
/// takes them (no move, no copy), and copied into a buffer of the run's own otherwise. Every
/// path must train bit for bit alike, leave the caller's arrays unreferenced by the session
/// after every run (errors included), and never write a shared `Feeds`.
@Suite struct FeedsOwnershipTests {
  /// Whether nothing but `value` references its memory (so the session kept nothing of it).
  func isUnshared(_ value: inout NDArray) -> Bool { value.isReusable(upTo: 1 << 20) }

  @Test func ownedLiteralsAndKeptFeedsTrainAlike() throws {
    let (g, x, y, a, loss, train) = try notebookRegressionGraph()
    let owned = Session(graph: g), shared = Session(graph: g)
    try owned.initializeVariables()
    try shared.initializeVariables()
    var rng = SeededGenerator(seed: 11)
    for step in 0..<30 {
      var xv = NDArray([Float(rng.normal(mean: 1, standardDeviation: 0.1))])
      var yv = NDArray([Float(10)])
      let kept: Feeds = [x: xv, y: yv]
      let movedBefore = owned.movedFeedRuns, sharedBefore = shared.movedFeedRuns
      let readBefore = owned.readFeedRuns, sharedReadBefore = shared.readFeedRuns
      let l1 = try owned.run([loss], feeding: [x: xv, y: yv], targets: [train])[0]
      let l2 = try shared.run([loss], feeding: kept, targets: [train])[0]
      // The first run builds the plan and its scalar program (moved); later ones read in place.
      let read = step > 0
      #expect(owned.readFeedRuns == readBefore + (read ? 1 : 0), "a literal of two pairs is read where it is")
      #expect(shared.readFeedRuns == sharedReadBefore + (read ? 1 : 0), "so is a Feeds used again afterwards")
      #expect(owned.movedFeedRuns == movedBefore + (read ? 0 : 1), "copied and moved into the frame")
      #expect(shared.movedFeedRuns == sharedBefore + (read ? 0 : 1), "copied and moved into the frame")
      #expect(l1.isBitIdentical(to: l2))
      #expect(try owned.value(of: a).isBitIdentical(to: shared.value(of: a)))
      // The kept feeds still hold the caller's values, in order.
      #expect(kept.count == 2 && kept[0].key == x && kept[1].key == y)
      #expect(kept[0].value.isBitIdentical(to: xv) && kept[1].value.isBitIdentical(to: yv))
      _ = consume kept
      #expect(isUnshared(&xv) && isUnshared(&yv), "the sessions keep no fed array after the run")
    }
  }

  /// A fed tensor that is also fetched, on the scalar program and on the general path (a
  /// two-element value), through the moved literal and the kept feeds.
  @Test func aFedTensorFetchedBackIsTheFedValue() throws {
    for width in [1, 2] {
      let g = Graph()
      let x = g.placeholder(.float32, shape: [width], name: "x")
      let y = try x * 3
      let s = Session(graph: g)
      var v = NDArray((0..<width).map { Float($0) + 0.5 })
      for _ in 0..<3 {
        let r = try s.run([x, y], feeding: [x: v])
        #expect(r[0].isBitIdentical(to: v))
        #expect(r[1].scalars(as: Float.self) == (0..<width).map { (Float($0) + 0.5) * 3 })
        #expect(try s.run(x, feeding: [x: v]).isBitIdentical(to: v))
        let kept: Feeds = [x: v]
        #expect(try s.run(x, feeding: kept).isBitIdentical(to: v))
        #expect(kept[0].value.isBitIdentical(to: v))
      }
      #expect(isUnshared(&v))
    }
  }

  /// Errors while binding (a tensor fed twice, a mismatched value, a plan that does not take
  /// the feeds, a tensor of another graph) leave no fed array in the session, and the same
  /// plans run correctly afterwards.
  @Test func failedBindingsRestoreEverything() throws {
    let (g, x, y, a, loss, train) = try notebookRegressionGraph()
    let z = g.placeholder(.float32, shape: [1], name: "z")
    let withZ = try loss + z
    let s = Session(graph: g), reference = Session(graph: g)
    try s.initializeVariables()
    try reference.initializeVariables()
    var one = NDArray([Float(1)]), ten = NDArray([Float(10)]), wide = NDArray([Float(1), 2])
    let other = Graph().placeholder(.float32, shape: [1], name: "other")
    for round in 0..<3 {  // the first round builds the plans, later ones bind to recent ones
      #expect(throws: SessionError.self) { try s.run(train, feeding: [x: one, x: ten]) }
      #expect(throws: SessionError.self) { try s.run(train, feeding: [y: ten, x: one, x: ten]) }
      #expect(throws: SessionError.self) { try s.run(train, feeding: [x: wide, y: ten]) }
      #expect(throws: SessionError.self) { try s.run(train, feeding: [y: ten, x: wide]) }
      #expect(throws: SessionError.self) { try s.run(train, feeding: [x: one, other: ten]) }
      // [x, z] has as many feeds as [x, y]: the recent plan for [x, y] must not take it.
      #expect(throws: SessionError.self) { try s.run(train, feeding: [x: one, z: ten]) }
      #expect(try s.run(withZ, feeding: [x: one, y: ten, z: one]).isBitIdentical(to: reference.run(withZ, feeding: [x: one, y: ten, z: one])))
      try s.run(train, feeding: [y: ten, x: one])
      try reference.run(train, feeding: [x: one, y: ten] as [Tensor: NDArray])
      #expect(try s.value(of: a).isBitIdentical(to: reference.value(of: a)), "round \(round)")
      #expect(isUnshared(&one) && isUnshared(&ten) && isUnshared(&wide), "round \(round)")
    }
  }

  /// More plans than the session keeps as recent ones, used in turn with literals in both
  /// orders: each is found again (or looked up) and binds its own feeds.
  @Test func plansFoundAgainAfterOthersWereUsed() throws {
    let (g, x, y, _, loss, _) = try notebookRegressionGraph()
    let fetches = try [loss, loss * 2, loss + 1, loss - x, loss * y, x + y]
    let s = Session(graph: g)
    try s.initializeVariables()
    var rng = SeededGenerator(seed: 5)
    for i in 0..<60 {
      let xv = NDArray([Float(rng.normal(mean: 1, standardDeviation: 1))])
      let yv = NDArray([Float(rng.normal(mean: 10, standardDeviation: 1))])
      let f = fetches[(i * 7) % fetches.count]
      let direct = try s.run(f, feeding: i % 2 == 0 ? [x: xv, y: yv] : [y: yv, x: xv])
      let prepared = try s.prepare(fetches: [f], feeds: [x, y])
      #expect(try direct.isBitIdentical(to: prepared([xv, yv])[0]))
    }
  }

  /// A literal from each thread and one shared `Feeds` used from every thread at once: the
  /// shared feeds are never written (each run copies them in), the literals are moved.
  @Test func literalsAndSharedFeedsFromSeveralThreads() throws {
    let (g, x, y, _, loss, _) = try notebookRegressionGraph()
    let s = Session(graph: g)
    try s.initializeVariables()
    let sharedX = NDArray([Float(2)]), sharedY = NDArray([Float(3)])
    let shared: Feeds = [x: sharedX, y: sharedY]
    let expected = try s.run(loss, feeding: [x: sharedX, y: sharedY])
    let threads = 4, steps = 300
    let failures = Counter()
    DispatchQueue.concurrentPerform(iterations: threads) { t in
      for i in 0..<steps {
        do {
          let v = Float(t * steps + i)
          let mine = try s.run(loss, feeding: [y: NDArray([v]), x: NDArray([Float(2)])])
          let again = try s.run(loss, feeding: shared)
          let reference = try s.run(loss, feeding: [x: NDArray([Float(2)]), y: NDArray([v])] as [Tensor: NDArray])
          if !mine.isBitIdentical(to: reference) || !again.isBitIdentical(to: expected) { failures.add() }
        } catch {
          failures.add()
        }
      }
    }
    #expect(failures.value == 0)
    #expect(shared[0].value.isBitIdentical(to: sharedX) && shared[1].value.isBitIdentical(to: sharedY))
  }
}

/// A thread-safe count.
private final class Counter: @unchecked Sendable {
  private let lock = Lock()
  private var count = 0
  func add() { lock.withLock { count += 1 } }
  var value: Int { lock.withLock { count } }
}
