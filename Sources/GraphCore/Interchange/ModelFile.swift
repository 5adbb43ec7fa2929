import ArrayCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension Session {
  /// The file names inside a model directory.
  public enum ModelFiles {
    /// The graph, a TensorFlow GraphDef (``Graph/graphDef(lenient:)``).
    public static let graph = "graph.pb"
    /// Every variable's value, optimizer slots and step counters included (``Checkpoint``).
    public static let variables = "variables.safetensors"
  }

  /// Whether `path` names a whole-model directory written by ``saveModel(to:metadata:)``: a
  /// directory (links followed) that holds ``ModelFiles/graph``.
  public static func isModelDirectory(_ path: String) -> Bool {
    var info = stat()
    guard !path.isEmpty, stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else { return false }
    return stat(path + "/" + ModelFiles.graph, &info) == 0
  }

  /// Saves the whole model to the directory `path` (created if missing): the graph as
  /// `graph.pb` (a TensorFlow GraphDef, which TensorFlow can import too) and every variable —
  /// weights, optimizer slots, step counters — as `variables.safetensors`, so that
  /// ``loadModel(from:options:)`` can run inference or continue training in another process without
  /// the code that built the graph. Both files are encoded, and both destinations checked,
  /// before either is written, so a save that fails (an operation without a GraphDef form, an
  /// uninitialized variable, a directory where a file goes) leaves an existing model as it
  /// was. Each file is written atomically; the graph is written first, so an interrupted
  /// save leaves the previous variables beside a graph that still matches them unless the
  /// graph itself changed.
  /// - Parameter metadata: free-form strings kept in the variables file (names of the
  ///   input, output and training operations, for example).
  /// - Throws: ``GraphDefError/unsupportedOperations(direction:_:)`` for operations with no
  ///   GraphDef form, ``SessionError`` for an uninitialized variable, ``ArrayFileError`` when
  ///   a file cannot be written.
  public func saveModel(to path: String, metadata: [String: String] = [:]) throws {
    // Everything that can fail before the files are replaced comes first: before, an
    // uninitialized variable failed after graph.pb was replaced, leaving the new graph beside
    // the old variables.
    let bytes = try graph.graphDef()
    let variables = try Checkpoint.contents(of: self, metadata: metadata).encoded()
    try FileIO.makeDirectories(atPath: path)
    let graphPath = path + "/" + ModelFiles.graph, variablesPath = path + "/" + ModelFiles.variables
    for file in [graphPath, variablesPath] { try FileIO.checkWritableDestination(file) }
    try FileIO.writeAtomically(bytes, toPath: graphPath)
    try FileIO.writeAtomically(variables, toPath: variablesPath)
  }

  /// Loads a model saved by ``saveModel(to:metadata:)``: imports the graph
  /// (``Graph/init(graphDef:source:)``), creates a session, initializes the variables and
  /// restores their saved values. Find tensors and operations by name with
  /// ``Graph/tensor(named:)`` and ``Graph/operation(named:)``.
  /// - Returns: the session (its ``graph`` is the model's graph) and the saved metadata.
  /// - Throws: ``ArrayFileError`` for a missing, unreadable or corrupt file,
  ///   ``GraphDefError`` for a corrupt graph, ``CheckpointError`` when the variables do not
  ///   match the graph.
  public static func loadModel(
    from path: String, options: Session.Options = Session.Options()
  ) throws -> (session: Session, metadata: [String: String]) {
    let graphPath = path + "/" + ModelFiles.graph
    let graph = try Graph(graphDef: FileIO.readBytes(atPath: graphPath, limit: 1 << 30), source: graphPath)
    let session = Session(graph: graph, options: options)
    try session.initializeVariables()
    let metadata = try Checkpoint.restore(session: session, from: path + "/" + ModelFiles.variables)
    return (session, metadata)
  }
}
