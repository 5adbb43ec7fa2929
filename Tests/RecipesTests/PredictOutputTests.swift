// `backprop predict --model DIR` prints a model's output without a float64 copy of the whole
// output (an output near the size limit aborted on that copy), and prints what it printed
// before for every output dtype. RELIABILITY.md, section 8, the fourth probe.
import ArrayCore
import Foundation
import GraphCore
import Testing
import TestSupport

#if canImport(Glibc)
  import Glibc
#endif

/// Saves a model directory whose output is `output(x)` for an input placeholder `x` of `dtype`
/// and `shape`.
private func saveModel(
  _ path: String, _ dtype: DType, _ shape: PartialShape, kind: String? = nil, _ output: (Tensor) throws -> Tensor
) throws {
  let g = Graph()
  let x = g.placeholder(dtype, shape: shape, name: "x")
  let y = try output(x)
  var metadata = ["input": x.name, "output": y.name]
  if let kind { metadata["output-kind"] = kind }
  try Session(graph: g).saveModel(to: path, metadata: metadata)
}

/// How a run of the tool ended, what it wrote, and its peak resident memory.
private struct MeasuredRun {
  var status: Int32
  var output: String
  var error: String
  /// `ru_maxrss` of the tool's process (from `wait4`), in bytes.
  var peakBytes: Int
}

/// Runs the built tool with `arguments` (paths in them absolute), its standard output and error
/// going to files in `directory`, and reads its peak resident memory from `wait4` (which reports that one child
/// only, unlike `getrusage(RUSAGE_CHILDREN)`).
private func runMeasured(_ arguments: [String], in directory: String) throws -> MeasuredRun {
  let tool = try #require(backpropToolPath, "the backprop tool is not built (swift build --build-tests)")
  let outPath = directory + "/stdout.txt", errPath = directory + "/stderr.txt"
  var actions = posix_spawn_file_actions_t()
  posix_spawn_file_actions_init(&actions)
  defer { posix_spawn_file_actions_destroy(&actions) }
  posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
  posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
  let argv: [UnsafeMutablePointer<CChar>?] = ([tool] + arguments).map { strdup($0) } + [nil]
  let envp: [UnsafeMutablePointer<CChar>?] = ProcessInfo.processInfo.environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
  defer { for p in argv + envp { free(p) } }
  var pid: pid_t = 0
  let spawned = posix_spawn(&pid, tool, &actions, nil, argv, envp)
  #expect(spawned == 0, "posix_spawn: \(spawned)")
  guard spawned == 0 else { return MeasuredRun(status: -1, output: "", error: "", peakBytes: 0) }
  var status: Int32 = 0
  var usage = rusage()
  while wait4(pid, &status, 0, &usage) == -1 && errno == EINTR {}
  let exited = status & 0x7f == 0
  return MeasuredRun(
    status: exited ? (status >> 8) & 0xff : -1, output: readTextFile(outPath) ?? "", error: readTextFile(errPath) ?? "",
    peakBytes: usage.ru_maxrss * 1024)
}

private let toolIsBuilt = backpropToolPath != nil

@Suite struct PredictOutputTests {
  /// What `predict --model DIR` prints for outputs of each dtype: values (float32 as `Float`
  /// prints, the others as `Double` prints, so int32 3 is `3.0` and bool true `1.0`), classes
  /// (the first largest of each row) and `output-kind` = `classes`, batched and row by row.
  /// The text is the one the tool printed before it stopped copying outputs to float64.
  @Test(.enabled(if: toolIsBuilt, "needs the backprop tool built beside the tests"))
  func printedOutputsOfEveryDtypeAreUnchanged() throws {
    let dir = try makeScratchDirectory("predict")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    func predict(_ model: String, _ csv: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) throws -> String {
      try csv.write(toFile: dir + "/\(model).csv", atomically: true, encoding: .utf8)
      let run = try runBackpropTool(["predict", "--model", model, "--input", "\(model).csv"], in: dir)
      #expect(run.status == 0 && run.error.isEmpty, "\(model): \(run.error)", sourceLocation: sourceLocation)
      return run.output
    }
    // Values.
    try saveModel(dir + "/f32", .float32, [nil, 3], kind: "values") { try identity($0) }
    #expect(try predict("f32", "0.1,-0,1e-45\n16777217,3.4028235e38,-2.5\n") == "0.1 -0.0 1e-45\n16777216.0 3.4028235e+38 -2.5\n")
    try saveModel(dir + "/f64", .float64, [nil, 3], kind: "values") { try identity($0) }
    #expect(try predict("f64", "0.1,1e300,-0\n123456789.123,5e-324,2\n") == "0.1 1e+300 -0.0\n123456789.123 5e-324 2.0\n")
    try saveModel(dir + "/i32", .int32, [nil, 3], kind: "values") { try identity($0) }
    #expect(try predict("i32", "3,-2147483648,0\n2147483647,-1,7\n") == "3.0 -2147483648.0 0.0\n2147483647.0 -1.0 7.0\n")
    try saveModel(dir + "/b", .bool, [nil, 3], kind: "values") { try identity($0) }
    #expect(try predict("b", "1,0,1\n0,0,0\n") == "1.0 0.0 1.0\n0.0 0.0 0.0\n")
    // A rank-1 output without a kind: one value per row.
    try saveModel(dir + "/vector", .float32, [nil]) { try $0 * 0.5 }
    #expect(try predict("vector", "1\n0.2\n-3\n") == "0.5\n0.1\n-1.5\n")
    // A fixed-shape input, fed one row at a time.
    try saveModel(dir + "/fixed", .float64, [2]) { try $0 * 2 }
    #expect(try predict("fixed", "1,2\n0.05,-4\n") == "2.0 4.0\n0.1 -8.0\n")
    // Classes: the first largest value of each row, for every dtype.
    for dtype in DType.allCases {
      try saveModel(dir + "/argmax-\(dtype)", dtype, [nil, 3]) { try identity($0) }
      let rows = dtype == .bool ? "0,1,1\n0,0,0\n1,0,0\n" : "1,3,2\n5,5,1\n-1,-2,0\n"
      let classes = dtype == .bool ? "1\n0\n0\n" : "1\n0\n2\n"
      #expect(try predict("argmax-\(dtype)", rows) == classes, "\(dtype)")
    }
    // output-kind = classes: each value rounded to a class.
    try saveModel(dir + "/classes", .float32, [nil], kind: "classes") { try identity($0) }
    #expect(try predict("classes", "2.5\n-0.4\n7\n") == "3\n0\n7\n")
    try saveModel(dir + "/int-classes", .int32, [nil], kind: "classes") { try identity($0) }
    #expect(try predict("int-classes", "4\n-1\n") == "4\n-1\n")
    // A non-finite output names the row, and nothing is printed.
    try saveModel(dir + "/overflow", .float32, [nil, 2], kind: "values") { try $0 * 1e30 }
    try "1,2\n1e10,1\n".write(toFile: dir + "/overflow.csv", atomically: true, encoding: .utf8)
    let overflow = try runBackpropTool(["predict", "--model", "overflow", "--input", "overflow.csv"], in: dir)
    #expect(overflow.status != 0 && overflow.output.isEmpty && overflow.error.contains("the model computed inf for row 2 of"), "\(overflow.error)")
  }

  /// `predict --model DIR` copied the whole output to float64 (`NDArray.doubles`) before
  /// printing a line: twice the output's memory again, so an output of more than a third of
  /// the size limit aborted on that copy. A model whose 64 MiB float32 output comes from a
  /// 4,096-row input (`x · w`, `w` `[1, 4096]`) now raises the tool's peak memory by about the
  /// output itself over a 4-row run of the same model; before, by three times it.
  @Test(.enabled(if: toolIsBuilt, "needs the backprop tool built beside the tests"))
  func predictionsDoNotCopyTheOutputToFloat64() throws {
    let dir = try makeScratchDirectory("predict")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let width = 4096, rows = 4096
    try saveModel(dir + "/wide", .float32, [nil, 1]) { x in
      let w = x.graph.constant(NDArray(converting: (0..<width).map { Double($0 % 7) }, shape: [1, width], dtype: .float32), name: "w")
      return try matmul(x, w)
    }
    try String(repeating: "1\n", count: rows).write(toFile: dir + "/big.csv", atomically: true, encoding: .utf8)
    try String(repeating: "1\n", count: 4).write(toFile: dir + "/small.csv", atomically: true, encoding: .utf8)
    let small = try runMeasured(["predict", "--model", dir + "/wide", "--input", dir + "/small.csv"], in: dir)
    #expect(small.status == 0 && small.output == String(repeating: "6\n", count: 4), "\(small.error)")
    let big = try runMeasured(["predict", "--model", dir + "/wide", "--input", dir + "/big.csv"], in: dir)
    #expect(big.status == 0 && big.output == String(repeating: "6\n", count: rows), "\(big.error)")
    let outputBytes = rows * width * 4
    let growth = big.peakBytes - small.peakBytes
    #expect(
      growth < outputBytes * 3 / 2,
      "peak memory grew by \(growth >> 20) MiB for an output of \(outputBytes >> 20) MiB (\(small.peakBytes >> 20) -> \(big.peakBytes >> 20) MiB)")
  }
}
