@testable import GraphCore
import TestSupport
import Testing

/// Swift scalars fed to one-element placeholders (``ScalarFeeds`` for `Session.run`,
/// `PreparedStep.setFeed(_:to:)` with a number), as TF1 feeds Python numbers: the same training
/// as feeding one-element arrays, bit for bit, on the scalar program's registers and on the
/// general path alike, and the same errors before and after the registers take the numbers.
@Suite struct ScalarFeedsTests {
  /// The notebook's regression in `dtype`, with placeholders of `shape` (one element).
  func regression(_ dtype: DType, shape: PartialShape = [1], fast: Bool = true) throws
    -> (session: Session, x: Tensor, y: Tensor, a: Tensor, loss: Tensor, train: Operation)
  {
    let g = Graph()
    let x = g.placeholder(dtype, shape: shape, name: "x")
    let y = g.placeholder(dtype, shape: shape, name: "y")
    let a = try g.variable(randomNormal(g, shape: [1], seed: 5, dtype: dtype), name: "A")
    let loss = try square(x * a - y)
    let grads = try gradients(of: loss, withRespectTo: [a])
    let train = try g.group([try assignSubtract(a, grads[0]! * 0.02)])
    let s = Session(graph: g, options: .init(scalarFastPath: fast))
    try s.initializeVariables()
    return (s, x, y, a, loss, train)
  }

  /// Samples x ~ N(1, 0.1) and targets from {10, 9.5}, as `Float`s.
  func samples(_ count: Int) -> [(Float, Float)] {
    var rng = SeededGenerator(seed: 11)
    return (0..<count).map { i in (Float(rng.normal(mean: 1, standardDeviation: 0.1)), i % 3 == 0 ? 9.5 : 10) }
  }

  @Test(arguments: [DType.float32, .float64])
  func scalarsTrainAsOneElementArraysDo(_ dtype: DType) throws {
    // Every way to feed: arrays through Session.run (the reference, on the general path), scalars
    // through Session.run and through a prepared step (both on the scalar program), arrays
    // through a prepared step, and scalars on a session without the fast path.
    let reference = try regression(dtype, fast: false)
    let literal = try regression(dtype)
    let prepared = try regression(dtype)
    let preparedArrays = try regression(dtype)
    let general = try regression(dtype, fast: false)
    let step = try prepared.session.prepare(fetches: [prepared.loss], feeds: [prepared.x, prepared.y], targets: [prepared.train])
    let arrayStep = try preparedArrays.session.prepare(
      feeds: [preparedArrays.x, preparedArrays.y], targets: [preparedArrays.train])
    for (i, (xf, yf)) in samples(60).enumerated() {
      let xv = NDArray(converting: [Double(xf)], shape: [1], dtype: dtype)
      let yv = NDArray(converting: [Double(yf)], shape: [1], dtype: dtype)
      let expectedLoss = try reference.session.run([reference.loss], feeding: [reference.x: xv, reference.y: yv], targets: [reference.train])[0]
      // The numbers as `Float`s for float32 and as `Double`s for float64 (the placeholder's own
      // dtype: the registers' inlined path).
      func feed<Scalar: Element>(_ xs: Scalar, _ ys: Scalar) throws -> NDArray {
        let loss: NDArray
        // Each overload in turn: the target, the fetches and targets, then the fetch alone
        // (another plan) followed by the target.
        switch i % 3 {
        case 0:
          loss = try literal.session.run(literal.loss, feeding: [literal.x: xs, literal.y: ys])
          try literal.session.run(literal.train, feeding: [literal.x: xs, literal.y: ys])
        case 1: loss = try literal.session.run([literal.loss], feeding: [literal.x: xs, literal.y: ys], targets: [literal.train])[0]
        default:
          loss = try literal.session.run(literal.loss, feeding: [literal.y: ys, literal.x: xs])
          try literal.session.run(literal.train, feeding: [literal.x: xs, literal.y: ys])
        }
        try step.setFeed(0, to: xs)
        try step.setFeed(1, to: ys)
        try general.session.run(general.train, feeding: [general.x: xs, general.y: ys])
        return loss
      }
      let loss = dtype == .float32 ? try feed(xf, yf) : try feed(Double(xf), Double(yf))
      try step.run()
      try arrayStep.setFeed(0, to: xv)
      try arrayStep.setFeed(1, to: yv)
      try arrayStep.run()
      #expect(loss.isBitIdentical(to: expectedLoss), "step \(i): loss \(loss) against \(expectedLoss)")
      #expect(step.fetch(0).isBitIdentical(to: expectedLoss), "step \(i): prepared loss \(step.fetch(0))")
      let expected = try reference.session.value(of: reference.a)
      for (name, run) in [("literal", literal), ("prepared", prepared), ("prepared arrays", preparedArrays), ("general", general)] {
        let value = try run.session.value(of: run.a)
        #expect(value.isBitIdentical(to: expected), "step \(i), \(name): A = \(value) against \(expected)")
      }
    }
    // The comparisons mean something only if the numbers went through the registers: every
    // run of the literal's session and of the prepared step took the scalar program.
    #expect(literal.session.scalarRuns == 60 + 40)
    #expect(prepared.session.scalarRuns == 60)
    #expect(general.session.scalarRuns == 0)
  }

  @Test func numbersAreConvertedToThePlaceholdersDtype() throws {
    // A Double rounds to a float32 placeholder (as TF1 rounds a Python float), a Float widens
    // to a float64 one, exactly as the one-element arrays they stand for.
    for fast in [true, false] {
      for dtype in [DType.float32, .float64] {
        let r = try regression(dtype, fast: fast)
        let s = try regression(dtype, fast: fast)
        let step = try s.session.prepare(feeds: [s.x, s.y], targets: [s.train])
        for (x, y) in [(1.1, 10.0), (0.9, 9.7), (1.05, 10.2)] {
          if dtype == .float32 {
            // A Double into float32: rounded, as `Float(x)`.
            try r.session.run(r.train, feeding: [r.x: NDArray([Float(x)]), r.y: NDArray([Float(y)])])
            try step.setFeed(0, to: x)
            try step.setFeed(1, to: y)
          } else {
            // A Float into float64: the Float's value, widened.
            try r.session.run(r.train, feeding: [r.x: NDArray([Double(Float(x))]), r.y: NDArray([Double(Float(y))])])
            try step.setFeed(0, to: Float(x))
            try step.setFeed(1, to: Float(y))
          }
          try step.run()
        }
        #expect(try s.session.value(of: s.a).isBitIdentical(to: r.session.value(of: r.a)), "\(dtype), fast \(fast)")
        #expect(s.session.scalarRuns == (fast ? 3 : 0))
      }
    }
    // Int32 and Bool placeholders take numbers they hold exactly.
    let g = Graph()
    let n = g.placeholder(.int32, shape: [], name: "n")
    let flag = g.placeholder(.bool, shape: [1], name: "flag")
    let s = Session(graph: g)
    #expect(try s.run(cast(n, to: .float32), feeding: [n: Int32(21)]).scalarValue == 21)
    #expect(try s.run(cast(n, to: .float32), feeding: [n: 3.0]).scalarValue == 3)
    #expect(try s.run(logicalNot(flag), feeding: [flag: true]).isBitIdentical(to: NDArray([false])))
    #expect(try s.run(logicalNot(flag), feeding: [flag: Float(0)]).isBitIdentical(to: NDArray([true])))
  }

  @Test func refusedNumbersAreThrownErrorsNamingThePlaceholder() throws {
    let g = Graph()
    let x = g.placeholder(.float32, shape: [1], name: "x")
    let pair = g.placeholder(.float32, shape: [2], name: "pair")
    let rows = g.placeholder(.float32, shape: [nil], name: "rows")
    let n = g.placeholder(.int32, shape: [1], name: "n")
    let flag = g.placeholder(.bool, shape: [], name: "flag")
    let other = Graph().placeholder(.float32, shape: [1], name: "other")
    let s = Session(graph: g)
    let notOne = { (name: String, shape: String) in
      SessionError.feedMismatch(
        name: name, expected: "float32 \(shape)", got: "a float32 scalar (a scalar feeds a placeholder of one element only)")
    }
    let inexact = { (name: String, expected: String, got: String) in
      SessionError.feedMismatch(name: name, expected: expected, got: "the float64 scalar \(got), which \(expected.prefix { $0 != " " }) cannot hold exactly")
    }
    for _ in 0..<2 {  // before any plan exists, then with recent plans whose programs have run
      #expect(try s.run(x * 2, feeding: [x: Float(1.5)]).isBitIdentical(to: NDArray([Float(3)])))
      #expect(throws: notOne("pair:0", "[2]")) { try s.run(sum(pair), feeding: [pair: Float(1)]) }
      #expect(throws: notOne("rows:0", "[?]")) { try s.run(sum(rows), feeding: [rows: Float(1)]) }
      #expect(throws: inexact("n:0", "int32 [1]", "1.5")) { try s.run(cast(n, to: .float32), feeding: [n: 1.5]) }
      #expect(throws: inexact("n:0", "int32 [1]", "3000000000.0")) { try s.run(cast(n, to: .float32), feeding: [n: 3e9]) }
      #expect(throws: inexact("flag:0", "bool []", "2.0")) { try s.run(logicalNot(flag), feeding: [flag: 2.0]) }
      #expect(throws: SessionError.unexpectedFeed(name: "x:0", reason: "it is fed twice in one run (a repeated key in the feeds)")) {
        try s.run(x * 2, feeding: [x: Float(1), x: Float(2)])
      }
      #expect(throws: SessionError.foreignTensor(name: "other:0")) { try s.run(x * 2, feeding: [x: Float(1), other: Float(2)]) }
    }
    // A prepared step: the same errors, before its first run (the frame) and after (the registers).
    let step = try s.prepare(fetches: [x * 2], feeds: [x, n])
    for _ in 0..<2 {
      #expect(throws: inexact("n:0", "int32 [1]", "0.25")) { try step.setFeed(1, to: 0.25) }
      #expect(throws: SessionError.unexpectedFeed(name: "#2", reason: "the step has 2 feeds")) { try step.setFeed(2, to: Float(1)) }
      #expect(throws: SessionError.unexpectedFeed(name: "#-1", reason: "the step has 2 feeds")) { try step.setFeed(-1, to: Float(1)) }
      try step.setFeed(0, to: Float(4))
      try step.setFeed(1, to: Int32(7))
      try step.run()
      #expect(step.fetch(0).isBitIdentical(to: NDArray([Float(8)])))
    }
    let wide = try s.prepare(fetches: [sum(pair)], feeds: [pair])
    #expect(throws: notOne("pair:0", "[2]")) { try wide.setFeed(0, to: Float(1)) }
  }

  /// One or two numbers reach the run as their bytes (session 36): every dtype's bytes arrive
  /// whole (a `Bool`'s one, an `Int32`'s four, a `Double`'s eight), on the run that builds the
  /// plan and on later ones: made into arrays for plans without a scalar program (integers,
  /// booleans), taken in the registers of the float plans' programs.
  @Test func oneOrTwoNumbersOfEveryDtypeArriveWhole() throws {
    let g = Graph()
    let n = g.placeholder(.int32, shape: [], name: "n")
    let flag = g.placeholder(.bool, shape: [1], name: "flag")
    let d = g.placeholder(.float64, shape: [1], name: "d")
    let e = g.placeholder(.float64, shape: [], name: "e")
    let f = g.placeholder(.float32, shape: [1, 1], name: "f")
    let (nAsFloat, notFlag, doubled) = try (cast(n, to: .float32), logicalNot(flag), f * 2)
    let (product, quotient) = try (cast(n, to: .float64) * d, d / e)
    let s = Session(graph: g), reference = Session(graph: g)
    for i in 0..<4 {
      let k = Int32(i * 1_000_003 - 2_000_000)  // negative and positive, beyond two bytes
      let dv = 1 + Double(i) * 0x1p-50  // beyond a float32's precision
      let fv = Float(i) + 0.375
      let before = s.scalarRuns
      #expect(try s.run(nAsFloat, feeding: [n: k]).isBitIdentical(to: NDArray(scalar: Float(k))))
      #expect(try s.run(notFlag, feeding: [flag: i % 2 == 0]).isBitIdentical(to: NDArray([i % 2 != 0])))
      #expect(try s.run(doubled, feeding: [f: fv]).isBitIdentical(to: NDArray([fv * 2], shape: [1, 1])))
      let mixed = try s.run([product], feeding: [n: Double(k), d: dv])[0]
      #expect(mixed.isBitIdentical(to: try reference.run(product, feeding: [n: NDArray(scalar: k), d: NDArray([dv])])))
      #expect(mixed.scalars(as: Double.self) == [Double(k) * dv])
      #expect(try s.run(quotient, feeding: [e: 3, d: dv]).scalars(as: Double.self) == [dv / 3])
      // The float plans run their programs (from the second run on, fed in the registers).
      #expect(s.scalarRuns == before + 2, "run \(i)")
    }
  }

  @Test func aHeldValueIsNotOverwrittenByTheNextNumber() throws {
    // A plan without a scalar program (a product of matrices): scalar feeds go to the frame,
    // into the fed array's own memory only while nothing else holds it.
    let g = Graph()
    let rate = g.placeholder(.float32, shape: [], name: "rate")
    let m = g.constant(NDArray([Float(1), 2, 3, 4], shape: [2, 2]))
    let scaled = try matmul(m, m) * rate
    let s = Session(graph: g)
    let step = try s.prepare(fetches: [rate, scaled], feeds: [rate])
    var held: [NDArray] = []
    for i in 0..<4 {
      try step.setFeed(0, to: Float(i))
      try step.run()
      held.append(step.fetch(0))
      #expect(step.fetch(1).isBitIdentical(to: NDArray([Float(7), 10, 15, 22].map { $0 * Float(i) }, shape: [2, 2])))
    }
    for (i, value) in held.enumerated() { #expect(value.isBitIdentical(to: NDArray(scalar: Float(i))), "held value \(i): \(value)") }
    #expect(s.scalarRuns == 0)
    // The same numbers through Session.run.
    for i in 0..<3 {
      #expect(try s.run(scaled, feeding: [rate: Float(i)]).isBitIdentical(to: NDArray([Float(7), 10, 15, 22].map { $0 * Float(i) }, shape: [2, 2])))
    }
  }
  /// One-element arrays fed through `setFeed` while the registers hold the feeds (the path
  /// inlined into the caller, ``PreparedStep/setFeed(_:to:)-(_,NDArray)``): an array of the
  /// placeholder's dtype, rank and sizes arrives whole; one of another dtype, rank or size is
  /// refused with the error the general path gives, leaving the last accepted value, in
  /// `float32` (4-byte registers) and `float64` (8-byte) alike.
  @Test(arguments: [DType.float32, .float64])
  func oneElementArraysAreCheckedInTheRegisters(_ dtype: DType) throws {
    let other: DType = dtype == .float32 ? .float64 : .float32
    let g = Graph()
    let x = g.placeholder(dtype, shape: [1], name: "x")
    let e = g.placeholder(dtype, shape: [], name: "e")
    let m = g.placeholder(dtype, shape: [1, 1], name: "m")
    let s = Session(graph: g)
    // x - e * m, as [1]: every feed's value shows in the fetch.
    let step = try s.prepare(fetches: [x - e * reshape(m, to: [1])], feeds: [x, e, m])
    let one = { (v: Double, shape: Shape, t: DType) in NDArray(converting: Array(repeating: v, count: shape.elementCount), shape: shape, dtype: t) }
    var expected: [Double] = []
    for i in 0..<3 {
      // The first run sets the frame; the next ones find the registers holding the feeds.
      #expect((step.feedRegisters != nil) == (i > 0), "run \(i)")
      let (xv, ev, mv) = (1 + Double(i) * 0x1p-40, 0.5 + Double(i), 3 - Double(i) * 0x1p-20)
      try step.setFeed(0, to: one(xv, [1], dtype))
      try step.setFeed(1, to: one(ev, [], dtype))
      try step.setFeed(2, to: one(mv, [1, 1], dtype))
      let refused: [(Int, String, Shape, DType)] = [
        (0, "x:0", [], dtype), (0, "x:0", [1, 1], dtype), (0, "x:0", [2], dtype), (0, "x:0", [1], other),
        (1, "e:0", [1], dtype), (1, "e:0", [], other),
        (2, "m:0", [1], dtype), (2, "m:0", [1, 1, 1], dtype), (2, "m:0", [1, 1], other),
      ]
      for (index, name, shape, t) in refused {
        let expectedShape = index == 0 ? "[1]" : index == 1 ? "[]" : "[1, 1]"
        #expect(throws: SessionError.feedMismatch(name: name, expected: "\(dtype) \(expectedShape)", got: "\(t) \(shape)")) {
          try step.setFeed(index, to: one(99, shape, t))
        }
      }
      try step.run()
      expected = dtype == .float32 ? [Double(Float(xv) - Float(ev) * Float(mv))] : [xv - ev * mv]
      #expect(step.fetch(0).converted(to: .float64).scalars(as: Double.self) == expected, "run \(i)")
      #expect(step.fetch(0).dtype == dtype)
    }
    #expect(s.scalarRuns == 3)
  }
  /// One-element arrays in a `Session.run` literal of one or two pairs are passed on as their
  /// elements (``Feeds``' `lend`, `Session.runElements`): a recent plan's registers take them
  /// when its placeholders would take the arrays, and refuse another dtype, rank or size with
  /// the error the arrays' path gives; a plan without a scalar program gets them as arrays
  /// again. Every result is the arrays' own, bit for bit.
  @Test func oneElementArraysInALiteralAreReadAsElements() throws {
    let g = Graph()
    let x = g.placeholder(.float32, shape: [1], name: "x")
    let e = g.placeholder(.float32, shape: [], name: "e")
    let rate = g.placeholder(.float32, shape: [], name: "rate")
    let (out, tripled) = (try x * 2 - e, try x * 3)
    let m = g.constant(NDArray([Float(1), 2, 3, 4], shape: [2, 2]))
    let scaled = try matmul(m, m) * rate  // no scalar program
    let s = Session(graph: g)
    for i in 0..<4 {
      let (xv, ev) = (Float(1) + Float(i) * 0x1p-20, Float(i) + 0.25)
      let read = s.readFeedRuns, scalarRuns = s.scalarRuns
      #expect(try s.run(out, feeding: [x: NDArray([xv]), e: NDArray(scalar: ev)]).isBitIdentical(to: NDArray([xv * 2 - ev])))
      let both = try s.run([x, out], feeding: [e: NDArray(scalar: ev), x: NDArray([xv])])
      #expect(both[0].isBitIdentical(to: NDArray([xv])) && both[1].isBitIdentical(to: NDArray([xv * 2 - ev])))
      #expect(try s.run(tripled, feeding: [x: NDArray([xv])]).isBitIdentical(to: NDArray([xv * 3])))
      // From the second run on, each plan's program takes the elements in its registers.
      #expect(s.readFeedRuns == read + (i > 0 ? 3 : 0), "run \(i)")
      #expect(s.scalarRuns == scalarRuns + 3, "run \(i)")
      let refused: [(Feeds, SessionError)] = [
        ([x: NDArray([xv], shape: [1, 1]), e: NDArray(scalar: ev)],
         .feedMismatch(name: "x:0", expected: "float32 [1]", got: "float32 [1, 1]")),
        ([x: NDArray([Double(xv)]), e: NDArray(scalar: ev)], .feedMismatch(name: "x:0", expected: "float32 [1]", got: "float64 [1]")),
        ([x: NDArray([xv]), e: NDArray([ev])], .feedMismatch(name: "e:0", expected: "float32 []", got: "float32 [1]")),
        ([x: NDArray([xv]), x: NDArray([xv])],
         .unexpectedFeed(name: "x:0", reason: "it is fed twice in one run (a repeated key in the feeds)")),
      ]
      for (feeds, error) in refused {
        #expect(throws: error) { try s.run(out, feeding: feeds) }
        // The same literal written in the call (the path the elements take).
        switch error {
        case .feedMismatch(name: "x:0", expected: _, got: "float32 [1, 1]"):
          #expect(throws: error) { try s.run(out, feeding: [x: NDArray([xv], shape: [1, 1]), e: NDArray(scalar: ev)]) }
        case .feedMismatch(name: "x:0", expected: _, got: "float64 [1]"):
          #expect(throws: error) { try s.run(out, feeding: [x: NDArray([Double(xv)]), e: NDArray(scalar: ev)]) }
        case .feedMismatch(name: "e:0", expected: _, got: _):
          #expect(throws: error) { try s.run(out, feeding: [x: NDArray([xv]), e: NDArray([ev])]) }
        default:
          #expect(throws: error) { try s.run(out, feeding: [x: NDArray([xv]), x: NDArray([xv])]) }
        }
      }
      // A plan without a scalar program gets an array again.
      let before = s.readFeedRuns
      #expect(
        try s.run(scaled, feeding: [rate: NDArray(scalar: ev)])
          .isBitIdentical(to: NDArray([Float(7), 10, 15, 22].map { $0 * ev }, shape: [2, 2])))
      #expect(s.readFeedRuns == before)
    }
  }
}
