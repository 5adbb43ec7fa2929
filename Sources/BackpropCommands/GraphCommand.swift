import ArgumentParser
import Backprop
import Foundation
import Recipes

/// The recipes whose graphs `backprop graph` draws.
enum GraphRecipe: String, ExpressibleByArgument, CaseIterable {
  case regression, classification, digits, fashion
}

/// `backprop graph <recipe>`: draws a recipe's graph, forward and gradient operations, as DOT
/// (and SVG through Graphviz), optionally with the values and gradients of one training step.
struct GraphCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "graph",
    abstract: "Draw a recipe's graph, forward and gradient (backpropagation) operations, as Graphviz DOT or SVG.",
    discussion: """
      Forward operations are blue, gradient operations orange and dashed (in the "gradients" \
      cluster), the optimizer's update violet, variables green, placeholders yellow. With --values, one training step is run \
      and each edge shows the value of its tensor and the gradient of the loss with respect to it (digits: a batch of \
      the first 8 rows of Data/digits.csv; fashion: 2 blank images).
      """)

  @Argument(
    help: "The recipe: regression, classification, digits (the MLP with Adam, as `backprop digits` builds it) or fashion (the CNN with Adam, as `backprop fashion`).")
  var recipe: GraphRecipe

  @Option(
    name: .customLong("dot"),
    help: ArgumentHelp("Write the DOT text here (without --dot and --svg it goes to standard output).", valueName: "file.dot"))
  var dotPath: String?

  @Option(name: .customLong("svg"), help: ArgumentHelp("Render with Graphviz 'dot' to this SVG file.", valueName: "file.svg"))
  var svgPath: String?

  @Option(
    name: .customLong("pb"),
    help: ArgumentHelp(
      "Write the whole training graph as a TensorFlow GraphDef (binary protocol buffer) for tf.compat.v1.import_graph_def; the variables' initializer is the NoOp 'init'.",
      valueName: "file.pb"))
  var pbPath: String?

  @Flag(help: "Run one training step and annotate each edge with its value and gradient.")
  var values = false

  @Option(help: "The fashion recipe's model: mlp, cnn (the Keras example, the default) or cnn-bn (with batch normalization).")
  var model: FashionModelKind?

  @Option(parsing: .unconditional, help: "Seed for the data, the initial value of A and the sample, as the recipe: an integer from 0 to 2^64 - 1.")
  var seed: UInt64 = 42

  func validate() throws {
    if model != nil && recipe != .fashion { throw ValidationError("--model chooses the fashion recipe's model; \(recipe.rawValue) has one") }
    if let dotPath { try validateOutputPath(dotPath, flag: "--dot") }
    if let svgPath { try validateOutputPath(svgPath, flag: "--svg") }
    if let pbPath { try validateOutputPath(pbPath, flag: "--pb") }
    if let svgPath, !svgPath.lowercased().hasSuffix(".svg") {
      throw ValidationError("--svg \(svgPath): Graphviz is asked for SVG; give a file name ending in .svg")
    }
    try validateDistinctFiles(FileArgument.given(["--dot": dotPath, "--svg": svgPath, "--pb": pbPath]))
  }

  func run() throws {
    let (graph, loss, train, feeds, title): (Graph, Tensor, GraphCore.Operation, [Tensor: NDArray], String)
    switch recipe {
    case .regression, .classification:
      var c: NotebookRecipe.Configuration = recipe == .regression ? .regression : .classification
      c.seed = seed
      let model = try (recipe == .regression ? NotebookRecipe.regression(c) : .classification(c)).makeModel()
      var rng = SeededGenerator(seed: seed)
      let data = c.data.generate(&rng)
      let i = rng.choice(data.inputs.count)
      (graph, loss, train) = (model.graph, model.loss, model.train)
      title = recipe == .regression ? "regression: loss = (x·A − y)²" : "classification: loss = σ-cross-entropy(x + A, y)"
      feeds = [model.x: NDArray([data.inputs[i]]), model.y: NDArray([data.targets[i]])]
    case .digits:
      var c = DigitsRecipe.Configuration()
      c.seed = seed
      let t = try DigitsRecipe.trainingGraph(c)
      (graph, loss, train, feeds, title) = (t.graph, t.loss, t.train, t.feeds, "digits: 64-128-10 MLP, softmax cross-entropy, Adam")
    case .fashion:
      var c = FashionRecipe.Configuration()
      c.seed = seed
      c.model = model ?? c.model
      let t = try FashionRecipe.trainingGraph(c)
      let name =
        switch c.model {
        case .mlp: "an MLP 784-256-128-10"
        case .cnn: "the Keras example CNN"
        case .cnnBN: "the Keras example CNN with batch normalization"
        }
      (graph, loss, train, feeds, title) = (t.graph, t.loss, t.train, t.feeds, "fashion: \(name), softmax cross-entropy, Adam")
    }
    if let pbPath {
      // Before --values adds the annotations' gradient operations.
      let bytes = try graph.graphDef()
      do {
        try FileIO.writeAtomically(bytes, toPath: pbPath)
      } catch {
        throw CLIError("cannot write the GraphDef: \(error)")
      }
      print("wrote the GraphDef (\(bytes.count) bytes, \(graph.operationCount) operations) to \(pbPath)")
      if dotPath == nil && svgPath == nil && !values { return }
    }
    var annotations: [Tensor: EdgeAnnotation] = [:]
    var caption = title
    if values {
      // What is drawn is `train` and its ancestors, so the gradient operations added to
      // compute ∂loss/∂t for the annotations do not appear in the picture.
      let session = Session(graph: graph)
      try session.initializeVariables()
      annotations = try stepAnnotations(training: train, loss: loss, session: session, feeding: feeds)
      caption += "\nvalues during the first training step; ∂ = ∂loss/∂(tensor on the edge)"
    }
    let dot = graph.dot(title: caption, reachingFrom: [train], edgeAnnotations: annotations)
    if let dotPath { try writeText(dot, to: dotPath, what: "DOT graph") }
    if let svgPath { try renderSVG(dot: dot, to: svgPath) }
    if dotPath == nil && svgPath == nil { print(dot, terminator: "") }  // `| dot -Tpng > graph.png`
  }

  /// Runs Graphviz `dot -Tsvg`, reading the DOT text from standard input and writing the SVG
  /// it prints to `path` atomically (``writeText(_:to:what:)``).
  private func renderSVG(dot: String, to path: String) throws {
    guard let executable = findExecutable("dot") else {
      throw CLIError(
        "cannot write '\(path)': Graphviz's 'dot' program is not installed (Debian/Ubuntu: apt-get install graphviz); "
          + "--dot FILE.dot writes the graph's text without it.")
    }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = ["-Tsvg"]
    // A private directory (mkdtemp, mode 0700), not predictable names in /tmp: a link planted
    // at /tmp/backprop-graph-<pid>.dot would have made the write replace the file it names.
    var template = Array((FileManager.default.temporaryDirectory.path + "/backprop-graph-XXXXXX").utf8CString)
    guard let directory = template.withUnsafeMutableBufferPointer({ b in b.baseAddress.flatMap { mkdtemp($0) }.map { String(cString: $0) } })
    else {
      throw CLIError("cannot create a temporary directory for Graphviz: \(String(cString: strerror(errno)))")
    }
    let dotFile = directory + "/graph.dot"
    let errorFile = directory + "/dot.err"
    defer {
      unlink(dotFile)
      unlink(errorFile)
      rmdir(directory)
    }
    try FileIO.writeAtomically(Array(dot.utf8), toPath: dotFile)
    _ = FileManager.default.createFile(atPath: errorFile, contents: nil)
    let output = Pipe()
    process.standardInput = FileHandle(forReadingAtPath: dotFile)
    process.standardOutput = output
    process.standardError = FileHandle(forWritingAtPath: errorFile)
    try process.run()
    let svg = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
      let message = (try? FileIO.readBytes(atPath: errorFile, limit: 1 << 16)).map { String(decoding: $0, as: UTF8.self) } ?? ""
      throw CLIError("Graphviz 'dot' failed (exit \(process.terminationStatus)): \(SafeText.excerpt(message, limit: 500))")
    }
    try writeText(String(decoding: svg, as: UTF8.self), to: path, what: "SVG graph")
  }
}

/// The full path of an executable found on `PATH`, if any.
func findExecutable(_ name: String) -> String? {
  let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
  for directory in path.split(separator: ":") {
    let candidate = String(directory) + "/" + name
    if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
  }
  return nil
}
