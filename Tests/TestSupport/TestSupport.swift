import Backprop
import Foundation
import Testing

/// Checks that two arrays have the same shape and agree elementwise within
/// `|a - b| <= atol + rtol·|b|` (NaN equals NaN), recording a failure that prints both.
public func expectClose(
  _ actual: NDArray, _ expected: NDArray, rtol: Double = 1e-6, atol: Double = 1e-12,
  _ comment: Comment? = nil, sourceLocation: Testing.SourceLocation = #_sourceLocation
) {
  guard actual.shape == expected.shape else {
    Issue.record("shape \(actual.shape) != expected \(expected.shape) \(comment.map { "(\($0))" } ?? "")", sourceLocation: sourceLocation)
    return
  }
  let a = actual.doubles, b = expected.doubles
  for i in a.indices {
    let ok = (a[i].isNaN && b[i].isNaN) || a[i] == b[i] || Swift.abs(a[i] - b[i]) <= atol + rtol * Swift.abs(b[i])
    if !ok {
      Issue.record(
        "element \(i): \(a[i]) != \(b[i]) (rtol \(rtol), atol \(atol)) \(comment.map { "(\($0))" } ?? "")\nactual:   \(actual)\nexpected: \(expected)",
        sourceLocation: sourceLocation)
      return
    }
  }
}

/// Checks two scalars within `atol + rtol·|expected|`.
public func expectClose(
  _ actual: Double, _ expected: Double, rtol: Double = 1e-6, atol: Double = 1e-12, _ comment: Comment? = nil,
  sourceLocation: Testing.SourceLocation = #_sourceLocation
) {
  let ok = actual == expected || Swift.abs(actual - expected) <= atol + rtol * Swift.abs(expected)
  if !ok { Issue.record("\(actual) != \(expected) \(comment.map { "(\($0))" } ?? "")", sourceLocation: sourceLocation) }
}

/// A seeded random float64 array with values uniform in `range`.
public func randomArray(_ shape: Shape, in range: ClosedRange<Double> = -2...2, seed: UInt64, dtype: DType = .float64) -> NDArray {
  var g = SeededGenerator(seed: seed)
  // Tests pass valid shapes: an invalid one is a bug in the test.
  return try! g.uniformArray(shape: shape, low: range.lowerBound, high: range.upperBound, dtype: dtype)
}

/// The result of a gradient check: the largest relative difference between the symbolic and the
/// numeric Jacobians, and both Jacobians.
public struct GradientCheckResult: Sendable {
  /// `max |J_symbolic - J_numeric| / max(|J_symbolic|, |J_numeric|, 1e-3)` over all entries
  /// of all inputs.
  public var maxRelativeError: Double
  /// The symbolic Jacobians, one per input, `[outputs x inputs]` row-major.
  public var symbolic: [[Double]]
  /// The numeric Jacobians.
  public var numeric: [[Double]]
}

/// TF1's gradient checker: compares the Jacobian of `build` computed through the symbolic
/// gradients (one one-hot seed per output element, run through a ``Session``) with central
/// finite differences `(f(x + δ) - f(x - δ)) / 2δ`, in float64.
///
/// - Parameters:
///   - inputs: the values at which to check (float64); each becomes a placeholder of its exact shape.
///   - delta: the finite-difference step.
///   - build: builds the function's output from the input placeholders.
public func checkGradients(
  _ inputs: [NDArray], delta: Double = 1e-6, build: (Graph, [Tensor]) throws -> Tensor
) throws -> GradientCheckResult {
  let graph = Graph()
  let xs = inputs.enumerated().map { i, v in graph.placeholder(v.dtype, shape: PartialShape(v.shape), name: "x\(i)") }
  let y = try build(graph, xs)
  let yShape = try Session(graph: graph).run(y, feeding: Dictionary(uniqueKeysWithValues: zip(xs, inputs))).shape
  let seed = graph.placeholder(y.dtype, shape: PartialShape(yShape), name: "seed")
  let grads = try gradients(of: [y], withRespectTo: xs, gradientSeeds: [seed])
  let session = Session(graph: graph)
  let m = yShape.elementCount
  var feeds = Dictionary(uniqueKeysWithValues: zip(xs, inputs))

  var symbolic = inputs.map { [Double](repeating: 0, count: m * $0.elementCount) }
  for j in 0..<m {
    var s = [Double](repeating: 0, count: m)
    s[j] = 1
    feeds[seed] = NDArray(converting: s, shape: yShape, dtype: y.dtype)
    let fetch = grads.compactMap { $0 }
    let values = try session.run(fetch, feeding: feeds)
    var k = 0
    for (i, g) in grads.enumerated() {
      guard g != nil else { continue }
      let v = values[k].doubles
      k += 1
      precondition(v.count == inputs[i].elementCount, "gradient of input \(i) has shape \(values[k - 1].shape), input \(inputs[i].shape)")
      for p in 0..<v.count { symbolic[i][j * inputs[i].elementCount + p] = v[p] }
    }
  }
  feeds[seed] = nil

  var numeric = inputs.map { [Double](repeating: 0, count: m * $0.elementCount) }
  for (i, x) in inputs.enumerated() {
    var values = x.doubles
    for p in values.indices {
      let saved = values[p]
      values[p] = saved + delta
      feeds[xs[i]] = NDArray(converting: values, shape: x.shape, dtype: x.dtype)
      let plus = try session.run(y, feeding: feeds).doubles
      values[p] = saved - delta
      feeds[xs[i]] = NDArray(converting: values, shape: x.shape, dtype: x.dtype)
      let minus = try session.run(y, feeding: feeds).doubles
      values[p] = saved
      for j in 0..<m { numeric[i][j * x.elementCount + p] = (plus[j] - minus[j]) / (2 * delta) }
    }
    feeds[xs[i]] = x
  }

  var worst = 0.0
  for i in inputs.indices {
    for (a, b) in zip(symbolic[i], numeric[i]) {
      worst = Swift.max(worst, Swift.abs(a - b) / Swift.max(Swift.abs(a), Swift.abs(b), 1e-3))
    }
  }
  return GradientCheckResult(maxRelativeError: worst, symbolic: symbolic, numeric: numeric)
}

/// Stops process `pid` (SIGSTOP) at a moment when `condition` holds, for tests that must kill or
/// signal a writer in the middle of a write without relying on timing: polls until `condition`
/// is true, stops the process, waits until it is stopped, and returns `true` if `condition`
/// still holds; otherwise it continues the process and polls again. Returns `false` (with the
/// process running) if that never happened within about `timeout` seconds. The caller sends its
/// signal and then SIGCONT (a stopped process receives SIGKILL at once, other signals on SIGCONT).
public func stopProcess(_ pid: Int32, when condition: () -> Bool, timeout: Double = 10) -> Bool {
  #if os(Linux) || os(macOS)
  let polls = Int(timeout / 50e-6)
  for _ in 0..<polls {
    guard condition() else {
      usleep(50)
      continue
    }
    kill(pid, SIGSTOP)
    for _ in 0..<20_000 where !isStopped(pid) { usleep(50) }
    if condition() { return true }
    kill(pid, SIGCONT)
  }
  #endif
  return false
}

/// A failure to make a scratch directory: the path template and `errno`'s description.
public struct ScratchDirectoryError: Error, CustomStringConvertible {
  /// What failed, with the template and the system's reason.
  public let description: String
}

/// A new, empty directory for one test's files, `<temporary directory>/backprop-<label>-XXXXXX`,
/// made by `mkdtemp` (a unique name, readable by the user only). The one scratch-directory helper
/// of the test targets; each test names its files inside it.
public func makeScratchDirectory(_ label: String) throws -> String {
  let base = NSTemporaryDirectory().hasSuffix("/") ? NSTemporaryDirectory() : NSTemporaryDirectory() + "/"
  var template = Array("\(base)backprop-\(label)-XXXXXX".utf8CString)
  let made = template.withUnsafeMutableBufferPointer { buffer in
    buffer.baseAddress.flatMap { mkdtemp($0) }.map { String(cString: $0) }
  }
  guard let made else {
    throw ScratchDirectoryError(description: "mkdtemp(\(base)backprop-\(label)-XXXXXX) failed: \(String(cString: strerror(errno)))")
  }
  return made
}

/// The text of the file at `path` (UTF-8, invalid bytes replaced), or nil when it cannot be
/// opened. Reads through a file handle: `String(contentsOfFile:)` and
/// `FileManager.contents(atPath:)` leak a 4 KiB buffer for each read of an empty file (or a
/// /proc file, whose size reads as 0) in swift-corelibs-foundation, which the full-suite
/// AddressSanitizer run reports; the tests poll growing logs and /proc with this instead.
public func readTextFile(_ path: String) -> String? {
  guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
  defer { try? handle.close() }
  return String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
}

/// Whether process `pid` is stopped: state `T` in `/proc/<pid>/stat` on Linux; elsewhere a short
/// wait stands in for the check.
private func isStopped(_ pid: Int32) -> Bool {
  #if os(Linux)
  guard let stat = readTextFile("/proc/\(pid)/stat"),
    let close = stat.lastIndex(of: ")")
  else { return false }
  return stat[close...].dropFirst(2).first == "T"
  #else
  usleep(1_000)
  return true
  #endif
}

/// What a run of the built `backprop` tool did.
public struct ToolRun: Sendable {
  /// The exit status.
  public var status: Int32
  /// Whether a signal ended it.
  public var signaled: Bool
  /// Its standard output.
  public var output: String
  /// Its standard error.
  public var error: String
}

/// The `backprop` tool built beside the tests (`swift build --build-tests`), or nil.
public var backpropToolPath: String? {
  let products = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
  let path = products.appendingPathComponent("backprop").path
  return FileManager.default.isExecutableFile(atPath: path) ? path : nil
}

/// Whether the `backprop` tool is built beside the tests (the CLI tests' condition).
public let backpropToolIsBuilt = backpropToolPath != nil

/// Runs the built `backprop` tool with `arguments` in `directory` and collects its outputs;
/// `standardOutputPath` sends its standard output to that file instead (`output` is then empty).
/// - Throws: when the tool is not built or cannot be started.
public func runBackpropTool(_ arguments: [String], in directory: String? = nil, standardOutputPath: String? = nil) throws -> ToolRun {
  let process = Process()
  process.executableURL = URL(fileURLWithPath: try #require(backpropToolPath, "the backprop tool is not built (swift build --build-tests)"))
  process.arguments = arguments
  if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
  // Standard error goes to a file, so that neither stream can fill a pipe and block the tool.
  let errorPath = NSTemporaryDirectory() + "backprop-tool-stderr-" + UUID().uuidString
  guard FileManager.default.createFile(atPath: errorPath, contents: nil), let errors = FileHandle(forWritingAtPath: errorPath) else {
    throw CocoaError(.fileWriteUnknown)
  }
  defer { try? FileManager.default.removeItem(atPath: errorPath) }
  let output = Pipe()
  process.standardError = errors
  if let standardOutputPath {
    process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: standardOutputPath))
  } else {
    process.standardOutput = output
  }
  try process.run()
  let outData = standardOutputPath == nil ? output.fileHandleForReading.readDataToEndOfFile() : Data()
  process.waitUntilExit()
  try? errors.close()
  let errorText = readTextFile(errorPath) ?? ""
  return ToolRun(
    status: process.terminationStatus, signaled: process.terminationReason == .uncaughtSignal,
    output: String(decoding: outData, as: UTF8.self), error: errorText)
}

/// Expects the built tool to refuse `arguments` (run in `directory`): an exit status other than
/// 0, not a signal, and `fragment` in its standard error.
@discardableResult
public func expectToolRefuses(
  _ arguments: [String], in directory: String? = nil, _ fragment: String, sourceLocation: Testing.SourceLocation = #_sourceLocation
) throws -> ToolRun {
  let outcome = try runBackpropTool(arguments, in: directory)
  #expect(!outcome.signaled, "\(arguments) ended by a signal: \(outcome.error)", sourceLocation: sourceLocation)
  #expect(outcome.status != 0, "\(arguments) succeeded: \(outcome.output)", sourceLocation: sourceLocation)
  #expect(outcome.error.contains(fragment), "\(arguments): \(outcome.error)", sourceLocation: sourceLocation)
  return outcome
}

/// Records an issue unless `body` throws an error whose description contains every one of
/// `fragments` (none: any thrown error will do). The misuse tests' check: a trap would end the
/// test process, so the call returning or throwing at all is half the proof.
public func expectError(
  _ fragments: [String] = [], sourceLocation: Testing.SourceLocation = #_sourceLocation, _ body: () throws -> Void
) {
  do {
    try body()
    Issue.record("no error thrown; expected one mentioning \(fragments)", sourceLocation: sourceLocation)
  } catch {
    let text = "\(error)"
    for f in fragments where !text.contains(f) {
      Issue.record("error \"\(text)\" does not mention \"\(f)\"", sourceLocation: sourceLocation)
    }
  }
}
