#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif
import ArrayCore
import GraphCore

// Field numbers from TensorFlow's .proto files:
//   tensorflow/core/util/event.proto          Event { wall_time = 1 (double), step = 2 (int64),
//                                             file_version = 3, graph_def = 4, summary = 5 }
//   tensorflow/core/framework/summary.proto   Summary { value = 1 }
//                                             Summary.Value { tag = 1, simple_value = 2 (float), histo = 5 }
//                                             HistogramProto { min = 1, max = 2, num = 3, sum = 4,
//                                             sum_squares = 5, bucket_limit = 6, bucket = 7 (packed doubles) }

/// A histogram as TensorBoard's `HistogramProto` holds it: summary statistics and buckets,
/// bucket `i` counting the values in `[bucketLimits[i - 1], bucketLimits[i])` (the first from
/// `min`, the last up to and including `max`), as TensorBoard's `tf.summary.histogram` and
/// TensorFlow's `HistogramProto` (a value on an edge counts in the bucket to its right).
public struct HistogramSummary: Sendable, Equatable {
  /// The smallest and largest value.
  public var min = 0.0, max = 0.0
  /// The number of values, their sum and the sum of their squares.
  public var count = 0.0, sum = 0.0, sumOfSquares = 0.0
  /// Each bucket's right edge.
  public var bucketLimits: [Double] = []
  /// Each bucket's count.
  public var bucketCounts: [Double] = []

  /// Creates an empty histogram.
  public init() {}

  /// The most buckets a histogram has: 65,536 (TensorBoard draws 30; `bucketCount: Int.max`
  /// asked for two arrays of `Int.max` doubles, and trapped).
  public static let maximumBucketCount = 1 << 16

  /// The histogram of `values` in `bucketCount` buckets of equal width between the smallest
  /// and largest finite value (one bucket when they are equal; `bucketCount` is taken in
  /// `1...maximumBucketCount`); non-finite values are left out of the buckets and statistics.
  public init(_ values: [Double], bucketCount: Int = 30) {
    let finite = values.filter(\.isFinite)
    guard let lo = finite.min(), let hi = finite.max() else { return }
    min = lo
    max = hi
    count = Double(finite.count)
    for v in finite {
      sum += v
      sumOfSquares += v * v
    }
    let k = hi > lo ? Swift.min(Swift.max(1, bucketCount), Self.maximumBucketCount) : 1
    // The buckets are laid out on values scaled by one half when `hi - lo` overflows (finite
    // values near ±1.8e308, a diverged float64 weight): the width was infinite, and the bucket
    // index of `hi`, Int(∞ / ∞), trapped. Halving is exact, so other ranges are unchanged.
    let scale = (hi - lo).isFinite ? 1.0 : 0.5
    let width = (hi * scale - lo * scale) / Double(k)
    bucketLimits = (1...k).map { $0 == k ? hi : (lo * scale + Double($0) * width) / scale }
    bucketCounts = [Double](repeating: 0, count: k)
    for v in finite {
      let i = width > 0 ? Swift.min(k - 1, Int((v * scale - lo * scale) / width)) : 0
      bucketCounts[i] += 1
    }
  }

  func encoded() -> ProtobufWriter {
    var h = ProtobufWriter()
    h.double(1, min)
    h.double(2, max)
    h.double(3, count)
    h.double(4, sum)
    h.double(5, sumOfSquares)
    h.packedDoubles(6, bucketLimits)
    h.packedDoubles(7, bucketCounts)
    return h
  }
}

/// One record of an event file, as ``EventFile`` reads it back.
public struct SummaryEvent: Sendable, Equatable {
  /// One tagged value of a summary.
  public enum Value: Sendable, Equatable {
    /// A scalar (`simple_value`, a float).
    case scalar(Float)
    /// A histogram.
    case histogram(HistogramSummary)
  }
  /// Seconds since 1970.
  public var wallTime: Double = 0
  /// The training step.
  public var step: Int64 = 0
  /// `brain.Event:2` in the first record.
  public var fileVersion: String?
  /// A serialized GraphDef.
  public var graphDef: [UInt8]?
  /// The summary's values, by tag, in order.
  public var values: [(tag: String, value: Value)] = []

  /// Compares every field.
  public static func == (a: SummaryEvent, b: SummaryEvent) -> Bool {
    a.wallTime == b.wallTime && a.step == b.step && a.fileVersion == b.fileVersion && a.graphDef == b.graphDef
      && a.values.map(\.tag) == b.values.map(\.tag) && a.values.map(\.value) == b.values.map(\.value)
  }
}

/// Writes TensorBoard event files (`events.out.tfevents.<time>.<host>.<pid>`): TFRecord
/// records (``ArrayCore/TFRecord``) holding `Event` protocol buffers, the first with the file version
/// `brain.Event:2`, then scalars, histograms and the graph, so that TensorBoard's Scalars,
/// Histograms and Graphs tabs show them (`tensorboard --logdir DIR`).
///
/// ```swift
/// let writer = try SummaryWriter(logdir: "runs/digits")
/// try writer.addGraph(graph)
/// for step in 1...100 { try writer.addScalar("loss", loss, step: step) }
/// try writer.addHistogram("layer1/weights", session.value(of: w).doubles, step: 1)
/// try writer.close()
/// ```
///
/// Records are appended as they are added (one `write` each), so TensorBoard can follow a
/// run live; ``flush()`` makes them durable.
public final class SummaryWriter: @unchecked Sendable {
  /// The event file's path.
  public var path: String { file.path }
  private let file: TFRecordFileWriter
  private let clock: () -> Double

  /// Seconds since 1970, from the system's real-time clock.
  public static func now() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_REALTIME, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
  }

  /// Creates the directory `logdir` (and its parents) when missing, and a new event file in it
  /// beginning with the file-version record. An existing file is never overwritten.
  /// - Parameters:
  ///   - fileName: the file's name; by default TensorFlow's
  ///     `events.out.tfevents.<seconds>.<host name>.<process id>` (with `.1`, `.2`, ... appended
  ///     when that file exists); a given name must not exist yet.
  ///   - clock: the wall time stamped on each event (the real-time clock by default; tests pass
  ///     a fixed one to get identical files).
  /// - Throws: ``ArrayCore/ArrayFileError/fileSystem(path:operation:message:)``, also for an
  ///   empty `logdir` (which wrote the file into `/`).
  public init(logdir: String, fileName: String? = nil, clock: @escaping () -> Double = SummaryWriter.now) throws {
    guard !logdir.isEmpty else {
      throw ArrayFileError.fileSystem(path: logdir, operation: "create the log directory", message: "empty directory name (give \".\" for the current one)")
    }
    try FileIO.makeDirectories(atPath: logdir)
    self.clock = clock
    var host = [CChar](repeating: 0, count: 256)
    gethostname(&host, 255)
    let hostName = String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    let base = logdir.hasSuffix("/") ? logdir : logdir + "/"
    if let fileName {
      file = try TFRecordFileWriter(path: base + fileName)
    } else {
      // TensorFlow's name; should a file of that name exist already (another writer of this
      // process in the same second), `.1`, `.2`, ... are appended: nothing is overwritten.
      let name = "events.out.tfevents.\(Int(clock())).\(hostName).\(getpid())"
      var attempt = 0
      while true {
        let path = base + name + (attempt == 0 ? "" : ".\(attempt)")
        do {
          file = try TFRecordFileWriter(path: path)
          break
        } catch {
          var status = stat()
          guard lstat(path, &status) == 0, attempt < 1000 else { throw error }
          attempt += 1
        }
      }
    }
    var e = event(step: 0)
    e.string(3, "brain.Event:2")
    try file.write(record: e.bytes)
  }

  private func event(step: Int) -> ProtobufWriter {
    var e = ProtobufWriter()
    e.double(1, clock())
    e.int64(2, Int64(step))
    return e
  }

  /// Adds one scalar (TensorBoard's Scalars tab), stored as a float (`simple_value`).
  public func addScalar(_ tag: String, _ value: Double, step: Int) throws {
    try addScalars([(tag, value)], step: step)
  }

  /// Adds several scalars of one step in one event.
  public func addScalars(_ values: [(tag: String, value: Double)], step: Int) throws {
    var e = event(step: step)
    e.message(5) { s in
      for (tag, value) in values {
        s.message(1) { v in
          v.string(1, tag)
          v.float(2, Float(value))
        }
      }
    }
    try file.write(record: e.bytes)
  }

  /// Adds a histogram of `values` (TensorBoard's Histograms and Distributions tabs).
  /// - Throws: ``GraphCore/GraphError/invalidArgument(op:reason:location:)`` for a `bucketCount`
  ///   outside `1...HistogramSummary.maximumBucketCount`; ``ArrayCore/ArrayFileError`` when the
  ///   record cannot be written.
  public func addHistogram(_ tag: String, _ values: [Double], step: Int, bucketCount: Int = 30) throws {
    guard (1...HistogramSummary.maximumBucketCount).contains(bucketCount) else {
      throw GraphError.invalidArgument(
        op: "SummaryWriter.addHistogram",
        reason: "bucketCount must be in 1...\(HistogramSummary.maximumBucketCount), got \(bucketCount) (for '\(tag)')", location: nil)
    }
    try addHistogram(tag, HistogramSummary(values, bucketCount: bucketCount), step: step)
  }

  /// Adds a histogram.
  public func addHistogram(_ tag: String, _ histogram: HistogramSummary, step: Int) throws {
    var e = event(step: step)
    e.message(5) { s in
      s.message(1) { v in
        v.string(1, tag)
        v.message(5, histogram.encoded())
      }
    }
    try file.write(record: e.bytes)
  }

  /// Adds the graph (TensorBoard's Graphs tab): its GraphDef, with operations that have no
  /// TensorFlow counterpart under their own names (``GraphCore/Graph/graphDef(lenient:)``).
  public func addGraph(_ graph: Graph) throws {
    try addGraphDef(graph.graphDef(lenient: true))
  }

  /// Adds a serialized GraphDef.
  public func addGraphDef(_ bytes: [UInt8]) throws {
    var e = event(step: 0)
    e.bytes(4, bytes)
    try file.write(record: e.bytes)
  }

  /// Makes what was written durable.
  public func flush() throws { try file.flush() }

  /// Flushes and closes the file.
  public func close() throws { try file.close() }
}

/// Reads event files written by ``SummaryWriter`` (or TensorFlow): every record's CRCs are
/// checked and each `Event` decoded.
public enum EventFile {
  /// The events of the file at `path`.
  /// - Throws: ``ArrayCore/ArrayFileError`` for an unreadable file, a truncated or corrupt
  ///   record, or an undecodable event.
  public static func read(path: String) throws -> [SummaryEvent] {
    try decode(FileIO.readBytes(atPath: path), source: path)
  }

  /// The events of an event file's bytes.
  public static func decode(_ bytes: [UInt8], source: String = "<bytes>") throws(ArrayFileError) -> [SummaryEvent] {
    try TFRecord.records(in: bytes, source: source).map { record throws(ArrayFileError) in
      var r = ProtobufReader(record, format: "Event", source: source)
      var e = SummaryEvent()
      while let f = try r.next() {
        switch f.number {
        case 1: e.wallTime = f.double ?? 0
        case 2: e.step = f.integer ?? 0
        case 3: e.fileVersion = f.string
        case 4: e.graphDef = f.data.map(Array.init)
        case 5:
          guard let data = f.data else { continue }
          var s = r.nested(data, format: "Summary")
          while let value = try s.next() {
            guard value.number == 1, let vdata = value.data else { continue }
            var v = s.nested(vdata, format: "Summary.Value")
            var tag = ""
            var decoded: SummaryEvent.Value?
            while let vf = try v.next() {
              switch vf.number {
              case 1: tag = vf.string ?? ""
              case 2: decoded = vf.float.map { .scalar($0) }
              case 5:
                guard let hdata = vf.data else { continue }
                var hr = v.nested(hdata, format: "HistogramProto")
                var h = HistogramSummary()
                while let hf = try hr.next() {
                  switch hf.number {
                  case 1: h.min = hf.double ?? 0
                  case 2: h.max = hf.double ?? 0
                  case 3: h.count = hf.double ?? 0
                  case 4: h.sum = hf.double ?? 0
                  case 5: h.sumOfSquares = hf.double ?? 0
                  case 6: h.bucketLimits += try hr.packedDoubles(hf)
                  case 7: h.bucketCounts += try hr.packedDoubles(hf)
                  default: break
                  }
                }
                decoded = .histogram(h)
              default: break
              }
            }
            if let decoded { e.values.append((tag, decoded)) }
          }
        default: break
        }
      }
      return e
    }
  }
}
