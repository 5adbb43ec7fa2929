import ArrayCore
import GraphCore
import Plotting
import Testing
import TestSupport

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Tests/Fixtures/tensorboard: an event file written by `FixtureRun.write` and the values it
/// holds (`expected.json`, which Scripts/check_tensorboard.py --fixture reads with TensorBoard's
/// own loaders). `BACKPROP_WRITE_FIXTURES=1 swift test --filter SummaryWriterTests` rewrites both.
private let fixtureDirectory: String = {
  let file = "\(#filePath)"
  let testsDir = file.split(separator: "/", omittingEmptySubsequences: false).dropLast(2).joined(separator: "/")
  return testsDir + "/Fixtures/tensorboard"
}()

private let fixtureFile = "events.out.tfevents.1700000000.backprop-fixture"

/// The fixture's content: scalars at three steps, a histogram, a small graph.
enum FixtureRun {
  static let wallTime = 1_700_000_000.25
  static let scalars: [(step: Int, tag: String, value: Double)] = [
    (1, "loss", 26.1222), (1, "learning_rate", 0.02), (2, "loss", 0.5), (2, "learning_rate", 0.02),
    (3, "loss", 1e-3), (3, "learning_rate", 0.02), (3, "accuracy", 0.97),
  ]
  static let histogramValues: [Double] = [-1, -0.5, 0, 0.25, 2, 2]

  static func graph() throws -> Graph {
    let g = Graph()
    let x = g.placeholder(.float32, shape: [nil, 1], name: "x")
    let a = try g.variable(NDArray([Float(1.5)], shape: [1, 1]), name: "A")
    let y = try matmul(x, a, name: "output")
    _ = try sum(square(y), name: "loss")
    return g
  }

  static func write(to directory: String) throws {
    let writer = try SummaryWriter(logdir: directory, fileName: fixtureFile, clock: { wallTime })
    try writer.addGraph(graph())
    var step = 0
    var batch: [(tag: String, value: Double)] = []
    for s in scalars {
      if s.step != step, !batch.isEmpty {
        try writer.addScalars(batch, step: step)
        batch = []
      }
      step = s.step
      batch.append((s.tag, s.value))
    }
    try writer.addScalars(batch, step: step)
    try writer.addHistogram("A/weights", histogramValues, step: 3, bucketCount: 4)
    try writer.close()
  }

  static func expectedJSON() throws -> String {
    let h = HistogramSummary(histogramValues, bucketCount: 4)
    let nodes = try EventFile.graphNodes(graph().graphDef(lenient: true))
    func num(_ x: Double) -> String { "\(x)" }
    var s = "{\n  \"eventCount\": 6,\n  \"wallTime\": \(wallTime),\n  \"scalars\": [\n"
    s += scalars.map { "    {\"step\": \($0.step), \"tag\": \"\($0.tag)\", \"value\": \($0.value)}" }.joined(separator: ",\n")
    s += "\n  ],\n  \"histograms\": [\n    {\"step\": 3, \"tag\": \"A/weights\", \"min\": \(h.min), \"max\": \(h.max), \"count\": \(h.count), "
    s += "\"sum\": \(h.sum), \"sumOfSquares\": \(h.sumOfSquares), \"bucketLimits\": [\(h.bucketLimits.map(num).joined(separator: ", "))], "
    s += "\"bucketCounts\": [\(h.bucketCounts.map(num).joined(separator: ", "))]}\n  ],\n"
    s += "  \"graphNodes\": [" + nodes.map { "[\"\($0.name)\", \"\($0.op)\"]" }.joined(separator: ", ") + "]\n}\n"
    return s
  }
}

extension EventFile {
  /// (name, op) of a GraphDef's nodes, for the tests.
  static func graphNodes(_ bytes: [UInt8]) throws -> [(name: String, op: String)] {
    var r = ProtobufReader(bytes, format: "GraphDef")
    var out: [(String, String)] = []
    while let f = try r.next() {
      guard f.number == 1 else { continue }
      var n = r.nested(f.data!)
      var name = "", op = ""
      while let nf = try n.next() {
        if nf.number == 1 { name = nf.string! }
        if nf.number == 2 { op = nf.string! }
      }
      out.append((name, op))
    }
    return out
  }
}

@Suite struct SummaryWriterTests {
  @Test func crc32cKnownValues() {
    // The CRC-32C check value (RFC 3720, B.4) and TensorFlow's mask of it.
    #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
    #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
    let crc: UInt32 = 0xE306_9283
    #expect(CRC32C.masked(Array("123456789".utf8)) == ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8)
  }

  /// A histogram of finite values whose range overflows (`hi - lo` = ∞, as for a diverged
  /// float64 weight) trapped converting ∞/∞ to a bucket index; its buckets are now finite and
  /// hold every value. Ordinary ranges keep their bucket limits bit for bit.
  @Test func histogramOfTheWidestFiniteRange() {
    let m = Double.greatestFiniteMagnitude
    let h = HistogramSummary([-m, -1, 0, 1, m], bucketCount: 4)
    #expect(h.bucketLimits.count == 4 && h.bucketLimits.allSatisfy(\.isFinite) && h.bucketLimits.last == m)
    #expect(h.bucketCounts.reduce(0, +) == 5 && h.bucketCounts.first == 1 && h.bucketCounts.last == 1)
    #expect(h.min == -m && h.max == m && h.count == 5)
    let ordinary = HistogramSummary([0.1, 0.35, 0.7], bucketCount: 3)
    let width = (0.7 - 0.1) / 3
    #expect(ordinary.bucketLimits == [0.1 + width, 0.1 + 2 * width, 0.7] && ordinary.bucketCounts == [1, 1, 1])
  }

  /// An empty log directory name wrote the event file into `/` (`"" + "/"`).
  @Test func emptyLogdirIsAnError() {
    #expect { _ = try SummaryWriter(logdir: "") } throws: { "\($0)".contains("empty directory name") }
  }

  @Test func protobufRoundTrip() throws {
    var w = ProtobufWriter()
    w.double(1, 1.5)
    w.int64(2, -3)
    w.string(3, "brain.Event:2")
    w.float(4, 0.25)
    w.varint(5, 300)
    #expect(Array(w.bytes.prefix(9)) == [0x09, 0, 0, 0, 0, 0, 0, 0xF8, 0x3F])
    var r = ProtobufReader(w.bytes, format: "test")
    let f = try r.fields()
    #expect(f.map(\.number) == [1, 2, 3, 4, 5])
    #expect(f[0].double == 1.5 && f[1].integer == -3 && f[2].string == "brain.Event:2")
    #expect(f[3].float == 0.25 && f[4].integer == 300)
  }

  @Test func protobufReaderRejectsCorruptInput() {
    for bad: [UInt8] in [[0x0A, 0x05, 1, 2], [0x08], [0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01], [0x0B], [0x00, 0x01], [0x09, 1, 2]] {
      var r = ProtobufReader(bad, format: "test")
      #expect(throws: ArrayFileError.self) { _ = try r.fields() }
    }
  }

  @Test func writesAndReadsBackEvents() throws {
    let dir = try makeScratchDirectory("tb") + "/nested/run"
    try FixtureRun.write(to: dir)
    let events = try EventFile.read(path: dir + "/" + fixtureFile)
    #expect(events.count == 6)
    #expect(events[0].fileVersion == "brain.Event:2")
    #expect(events.allSatisfy { $0.wallTime == FixtureRun.wallTime })
    let scalars = events.flatMap { e in
      e.values.compactMap { v -> (Int, String, Float)? in
        if case let .scalar(x) = v.value { (Int(e.step), v.tag, x) } else { nil }
      }
    }
    #expect(scalars.map(\.0) == FixtureRun.scalars.map(\.step))
    #expect(scalars.map(\.1) == FixtureRun.scalars.map(\.tag))
    #expect(scalars.map(\.2) == FixtureRun.scalars.map { Float($0.value) })
    guard case let .histogram(h)? = events.last?.values.first?.value else {
      Issue.record("no histogram")
      return
    }
    #expect(h == HistogramSummary(FixtureRun.histogramValues, bucketCount: 4))
    #expect(h.bucketCounts == [2, 2, 0, 2] && h.count == 6 && h.min == -1 && h.max == 2)
    #expect(try EventFile.graphNodes(events[1].graphDef ?? []).map(\.op).contains("VariableV2"))
  }

  /// The committed fixture (read back by TensorBoard's loaders in Scripts/check_tensorboard.py)
  /// is exactly what the writer produces, and decodes to the expected values.
  @Test func committedFixture() throws {
    let fresh = try makeScratchDirectory("tb")
    try FixtureRun.write(to: fresh)
    let written = try FileIO.readBytes(atPath: fresh + "/" + fixtureFile)
    let json = try FixtureRun.expectedJSON()
    if getenv("BACKPROP_WRITE_FIXTURES") != nil {
      try FileIO.writeAtomically(written, toPath: fixtureDirectory + "/" + fixtureFile)
      try FileIO.writeAtomically(Array(json.utf8), toPath: fixtureDirectory + "/expected.json")
    }
    let committed = try FileIO.readBytes(atPath: fixtureDirectory + "/" + fixtureFile)
    #expect(committed == written)
    #expect(try FileIO.readBytes(atPath: fixtureDirectory + "/expected.json") == Array(json.utf8))
    #expect(try EventFile.decode(committed) == EventFile.decode(written))
  }

  /// No earlier file is lost: a given name that exists (a file or a link) is refused and left as
  /// it was; a default name that exists gets `.1`, `.2`, ... appended.
  @Test func existingFilesAreNeverOverwritten() throws {
    let dir = try makeScratchDirectory("tb")
    let old: [UInt8] = Array("an earlier run's events".utf8)
    try FileIO.writeAtomically(old, toPath: dir + "/" + fixtureFile)
    #expect(throws: ArrayFileError.self) { _ = try SummaryWriter(logdir: dir, fileName: fixtureFile) }
    #expect(try FileIO.readBytes(atPath: dir + "/" + fixtureFile) == old)
    // A link to another file is not followed either.
    try FileIO.writeAtomically(old, toPath: dir + "/target")
    #expect(symlink(dir + "/target", dir + "/link") == 0)
    #expect(throws: ArrayFileError.self) { _ = try SummaryWriter(logdir: dir, fileName: "link") }
    #expect(try FileIO.readBytes(atPath: dir + "/target") == old)
    // Three writers in the same second of the same process: three files.
    let writers = try (0..<3).map { _ in try SummaryWriter(logdir: dir, clock: { 1_700_000_000 }) }
    let names = writers.map { String($0.path.split(separator: "/").last!) }
    #expect(Set(names).count == 3)
    #expect(names[1] == names[0] + ".1" && names[2] == names[0] + ".2")
    for w in writers { try w.close() }
  }

  @Test func corruptAndTruncatedFilesThrow() throws {
    let dir = try makeScratchDirectory("tb")
    try FixtureRun.write(to: dir)
    let bytes = try FileIO.readBytes(atPath: dir + "/" + fixtureFile)
    for cut in [1, 11, 12, 20, bytes.count - 1] {
      #expect(throws: ArrayFileError.self) { _ = try EventFile.decode(Array(bytes.prefix(cut))) }
    }
    for position in [0, 9, 13, 40, bytes.count - 2] {
      var flipped = bytes
      flipped[position] ^= 0x10
      #expect(throws: ArrayFileError.self) { _ = try EventFile.decode(flipped) }
    }
    #expect(throws: ArrayFileError.self) { _ = try SummaryWriter(logdir: "/proc/no/such/dir") }
  }
}
