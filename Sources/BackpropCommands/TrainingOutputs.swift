import ArgumentParser
import Backprop
import Foundation
import Recipes

/// Options that send a training run's history to files and the terminal.
struct TrainingOutputOptions: ParsableArguments {
  @Option(name: .customLong("plot"), help: ArgumentHelp("Write the learning curves as an SVG picture.", valueName: "file.svg"))
  var plotPath: String?

  @Option(
    name: .customLong("log"),
    help: ArgumentHelp("Write one record per step (per epoch for digits): JSON Lines, or CSV when the name ends in .csv.", valueName: "file.jsonl"))
  var logPath: String?

  @Option(name: .customLong("csv"), help: ArgumentHelp("Write one CSV row per step (per epoch for digits).", valueName: "file.csv"))
  var csvPath: String?

  @Option(
    name: .customLong("logdir"),
    help: ArgumentHelp(
      "Write a TensorBoard event file in this directory (created if missing): the graph, scalars per step, histograms of weights and gradients per epoch. View with `tensorboard --logdir DIR`.",
      valueName: "dir"))
  var logdir: String?

  @Flag(help: "No progress display and no closing sparkline (the recipe's own lines still print).")
  var quiet = false

  func validate() throws {
    if let plotPath, !plotPath.lowercased().hasSuffix(".svg") {
      throw ValidationError("--plot \(plotPath): the plot is written as SVG only; give a file name ending in .svg")
    }
    // Only rank 0 writes these (see `isLaterRank()`).
    if isLaterRank() { return }
    for (flag, path) in [("--plot", plotPath), ("--log", logPath), ("--csv", csvPath)] {
      if let path { try validateOutputPath(path, flag: flag) }
    }
    if let logdir {
      if logdir.isEmpty { throw ValidationError("--logdir needs a directory name") }
      var info = stat()
      if stat(logdir, &info) == 0, info.st_mode & S_IFMT != S_IFDIR {
        throw ValidationError("--logdir \(logdir): it exists and is not a directory; give a directory (created if missing)")
      }
    }
  }

  /// The output files (and the `--logdir` directory) asked for, for ``validateDistinctFiles(_:)``.
  var files: [FileArgument] {
    FileArgument.given(["--plot": plotPath, "--log": logPath, "--csv": csvPath, "--logdir": logdir])
  }

  /// Runs a recipe with the progress display, then writes the files asked for and, on a
  /// terminal, the loss sparkline. When the run fails part-way (`--check-numerics`, a failed
  /// checkpoint), the plot and logs of the steps done are still written, then the error is
  /// rethrown.
  /// The TensorBoard log asked for by `--logdir`, if any.
  func openTensorBoard() throws -> TensorBoardLog? {
    guard let logdir else { return nil }
    do {
      return try TensorBoardLog(logdir: logdir)
    } catch {
      throw CLIError("--logdir \(logdir): \(error)")
    }
  }

  func train(
    figure: (TrainingReport) -> Figure, tensorBoard: TensorBoardLog? = nil, learningRate: Double = .nan,
    _ run: (_ output: (String) -> Void, _ onStep: (TrainingStep) -> Void) throws -> TrainingReport
  ) throws {
    defer { try? tensorBoard?.close() }
    let progress = ProgressDisplay(quiet: quiet)
    var partial = TrainingReport()
    let report: TrainingReport
    do {
      report = try run(progress.print) { step in
        progress.update(step)
        try? tensorBoard?.writer.addScalars(
          [("loss", step.loss)] + step.parameters.map { ($0.name, $0.value) } + [("learning_rate", learningRate)],
          step: step.step)
        if partial.losses.isEmpty {
          partial.firstStep = step.step
          partial.parameterNames = step.parameters.map(\.name)
        }
        partial.losses.append(step.loss)
        partial.parameterHistory.append(step.parameters.map(\.value))
        partial.finalParameters = step.parameters
      }
    } catch {
      progress.finish()
      if !partial.losses.isEmpty && (plotPath != nil || logPath != nil || csvPath != nil) {
        try? finish(report: partial, figure: figure(partial))
        FileHandle.standardError.write(
          Data("the plot and logs hold the \(partial.losses.count) steps done before the error\n".utf8))
      }
      throw error
    }
    progress.finish()
    if let tensorBoard, let accuracy = report.accuracy {
      try tensorBoard.writer.addScalar("accuracy", accuracy, step: report.firstStep + report.losses.count - 1)
    }
    try tensorBoard?.close()
    try finish(report: report, figure: figure(report))
  }

  /// Writes the files asked for and, on a terminal, the loss sparkline.
  func finish(report: TrainingReport, figure: @autoclosure () -> Figure) throws {
    try write(figure: figure(), log: report.stepLog(), losses: report.losses, smoothed: report.smoothedLosses)
  }

  /// Writes the plot and logs asked for and, on a terminal unless `--quiet`, a sparkline of
  /// `losses` with the first and last `smoothed` values.
  func write(
    figure: @autoclosure () -> Figure, log: @autoclosure () -> StepLog, losses: [Double], smoothed: [Double]
  ) throws {
    if let plotPath { try writeText(figure().svg(), to: plotPath, what: "plot") }
    if let logPath {
      let log = log()
      try writeText(logPath.lowercased().hasSuffix(".csv") ? log.csv() : log.jsonLines(), to: logPath, what: "log")
    }
    if let csvPath { try writeText(log().csv(), to: csvPath, what: "CSV log") }
    if !quiet && Terminal.isTerminal(STDOUT_FILENO) && !losses.isEmpty {
      print(lossSummary(losses, smoothed: smoothed))
    }
  }
}

/// The `--profile` help of the training commands.
let profileHelp = ArgumentHelp(
  "After training, print where the time went: the 20 slowest operations of the training steps and evaluations, with their share, total and calls, then the 10 slowest kernel types (Session.Options(profiles: true)).")

/// Prints a training run's `--profile` table (nothing without one).
func printProfile(_ profile: RunProfile?) {
  guard let profile else { return }
  print("\nWhere the time went (training steps and evaluations, the 20 slowest operations):")
  print(profile.table(limit: 20))
  print("\nThe same by kernel type:")
  print(profile.groupedByType().table(limit: 10))
}

/// `loss ▇▆▅▄▃▂▁▁  98.59 → 0.8141 (smoothed)`: the loss's sparkline, on a logarithmic scale
/// when the positive finite losses span more than two decades, with the first and last
/// smoothed values.
func lossSummary(_ losses: [Double], smoothed: [Double]) -> String {
  let finite = losses.filter(\.isFinite)
  let positive = finite.filter { $0 > 0 }
  let logarithmic = positive.count == finite.count && (positive.max() ?? 0) > (positive.min() ?? 0) * 100
  let line = sparkline(losses, width: min(60, losses.count), scale: logarithmic ? .logarithmic : .linear)
  let ends = smoothed.filter(\.isFinite)
  let text = ends.first.map { "  \(formatCompact($0)) → \(formatCompact(ends.last ?? $0))" } ?? ""
  return "loss " + line + (logarithmic ? " (log scale)" : "") + text + (smoothed == losses ? "" : " (smoothed)")
}

/// An error of the command-line tool, printed as `Error: <message>`.
struct CLIError: Error, CustomStringConvertible {
  var description: String
  init(_ description: String) { self.description = description }
}

/// Checks, before a run, that `path` names a file in an existing directory, with a name the file
/// system takes, and that what exists there (links followed) is a regular file that the atomic
/// write may replace, so neither a typo nor a device costs a whole run.
func validateOutputPath(_ path: String, flag: String) throws {
  guard !path.isEmpty, !path.hasSuffix("/") else { throw ValidationError("\(flag) needs a file name, got '\(path)'") }
  do {
    try FileIO.checkWritableDestination(path)
  } catch {
    throw ValidationError("\(flag) \(error.description)")
  }
  let directory = directoryPart(of: path)
  var isDirectory: ObjCBool = false
  if !directory.isEmpty,
    !(FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) && isDirectory.boolValue)
  {
    throw ValidationError("\(flag) \(path): the directory '\(directory)' does not exist")
  }
  // A directory that takes no new file (read-only, /proc/self, no permission) fails now,
  // not after the run.
  do {
    try FileIO.checkCanCreateFile(besides: path)
  } catch {
    throw ValidationError("\(flag) \(error.description)")
  }
}

/// The directory part of `path`, as `NSString.deletingLastPathComponent` gives it: "" for a bare
/// file name, "/" for a file at the root, else everything before the last slash (and the
/// slashes before it). Written out because swift-corelibs-foundation's version traps on a
/// one-character path such as "g" (found by the fuzz target FuzzCLI: `--save g` crashed).
func directoryPart(of path: String) -> String {
  let bytes = path.utf8
  guard var end = bytes.lastIndex(of: UInt8(ascii: "/")) else { return "" }
  while end > bytes.startIndex, bytes[bytes.index(before: end)] == UInt8(ascii: "/") { end = bytes.index(before: end) }
  return end == bytes.startIndex ? "/" : String(decoding: bytes[..<end], as: UTF8.self)
}

/// Writes `text` to `path` through a temporary file renamed into place (``FileIO``'s atomic
/// write: links followed, permission bits kept, devices refused).
func writeText(_ text: String, to path: String, what: String) throws {
  do {
    try FileIO.writeAtomically(Array(text.utf8), toPath: path)
  } catch {
    throw CLIError("cannot write the \(what): \(error.description)")
  }
}

/// Terminal detection.
enum Terminal {
  /// Whether the file descriptor is a terminal (and `TERM` is not `dumb`).
  static func isTerminal(_ fd: Int32) -> Bool {
    isatty(fd) == 1 && ProcessInfo.processInfo.environment["TERM"] != "dumb"
  }
}
