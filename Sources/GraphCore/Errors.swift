import ArrayCore

/// A place in the user's Swift source: where a graph operation was built.
///
/// Plain data (no reference inside), so that recording, copying and dropping one costs no
/// reference counting: every operation records its location, and most are never printed.
public struct SourceLocation: Sendable, Hashable, CustomStringConvertible {
  /// The file as the compiler gave it, converted to a `String` only when asked for.
  private var literal: StaticString?
  /// A file given as a `String` (``init(file:line:)``, the ``file`` setter): its index among
  /// the names kept once per process (``FileNames``), or -1.
  private var named: Int32 = -1

  /// The file, as `#fileID` gives it (`MyModule/Model.swift`).
  public var file: String {
    get { named >= 0 ? FileNames.name(named) : literal.map { "\($0)" } ?? "" }
    set {
      named = FileNames.index(of: newValue)
      literal = nil
    }
  }
  /// The line number.
  public var line: Int
  /// Creates a location.
  public init(file: String, line: Int) {
    self.named = FileNames.index(of: file)
    self.line = line
  }
  /// Creates a location from the compiler's `#fileID` and `#line`.
  public init(_ file: StaticString, _ line: UInt) {
    self.literal = file
    self.line = Int(line)
  }
  /// Same file and line.
  public static func == (a: SourceLocation, b: SourceLocation) -> Bool { a.line == b.line && a.file == b.file }
  /// Hashes the file and the line.
  public func hash(into hasher: inout Hasher) {
    hasher.combine(file)
    hasher.combine(line)
  }
  /// `File.swift:12`.
  public var description: String { "\(file):\(line)" }
}

/// The file names given to ``SourceLocation`` as strings, each kept once for the process (a
/// program names few files), so that a location holds an index instead of a string.
private enum FileNames {
  nonisolated(unsafe) private static var names: [String] = []
  nonisolated(unsafe) private static var indices: [String: Int32] = [:]
  private static let lock = Lock()

  /// The index of `name`, adding it the first time.
  static func index(of name: String) -> Int32 {
    lock.withLock {
      if let i = indices[name] { return i }
      let i = Int32(truncatingIfNeeded: names.count)
      names.append(name)
      indices[name] = i
      return i
    }
  }

  /// The name at `index`.
  static func name(_ index: Int32) -> String { lock.withLock { names[Int(index)] } }
}

/// A description of one input of an operation, for error messages.
public struct InputDescription: Sendable, Hashable, CustomStringConvertible {
  /// The input tensor's name (`mul:0`).
  public var name: String
  /// Its static shape (`?` for unknown sizes).
  public var shape: PartialShape
  /// Its dtype.
  public var dtype: DType
  /// Where the input was built.
  public var location: SourceLocation?
  /// `'x:0' float32 [?, 3] (built at Model.swift:4)`.
  public var description: String {
    "'\(name)' \(dtype) \(shape)" + (location.map { " (built at \($0))" } ?? "")
  }
}

/// An error raised while building a graph: invalid shapes or dtypes, tensors from another graph,
/// or asking for something the graph cannot give.
public enum GraphError: Error, Sendable, CustomStringConvertible, Equatable {
  /// An operation's inputs or attributes are invalid (e.g. shapes that cannot be broadcast).
  case invalidOperation(
    op: String, name: String, inputs: [InputDescription], reason: String, location: SourceLocation?)
  /// A tensor that belongs to another graph was used.
  case foreignTensor(op: String, tensor: String, location: SourceLocation?)
  /// A tensor was used where a variable is required.
  case notAVariable(op: String, tensor: String, location: SourceLocation?)
  /// An argument is invalid (a learning rate that is not finite, an empty list...).
  case invalidArgument(op: String, reason: String, location: SourceLocation?)

  /// The message: it starts with the operation's type in brackets, then names the operation,
  /// the problem, the inputs with their shapes, and the user's source line.
  public var description: String {
    switch self {
    case let .invalidOperation(op, name, inputs, reason, location):
      var s = "[\(op)] '\(name)': \(reason)"
      if !inputs.isEmpty {
        s += "; inputs: " + inputs.map(\.description).joined(separator: ", ")
      }
      if let location { s += "; at \(location)" }
      return s
    case let .foreignTensor(op, tensor, location):
      return "[\(op)] tensor '\(tensor)' belongs to another graph" + (location.map { "; at \($0)" } ?? "")
    case let .notAVariable(op, tensor, location):
      return "[\(op)] tensor '\(tensor)' is not a variable" + (location.map { "; at \($0)" } ?? "")
    case let .invalidArgument(op, reason, location):
      return "[\(op)] \(reason)" + (location.map { "; at \($0)" } ?? "")
    }
  }
}

/// An error raised while a ``Session`` runs a graph.
public enum SessionError: Error, Sendable, CustomStringConvertible, Equatable {
  /// Placeholders that the fetches need were not fed (every one is named).
  case missingFeeds([String])
  /// A fed value has the wrong shape or dtype for its placeholder.
  case feedMismatch(name: String, expected: String, got: String)
  /// A fed tensor is not needed by the fetches and targets, or is not from this graph.
  case unexpectedFeed(name: String, reason: String)
  /// A variable was read before it was initialized.
  case uninitializedVariable(name: String)
  /// A fetch or target belongs to another graph.
  case foreignTensor(name: String)
  /// An operation failed at run time (e.g. run-time shapes that do not broadcast).
  case executionFailed(op: String, name: String, reason: String, location: SourceLocation?)
  /// With ``Session/Options/checkNumerics`` on: the first operation (in execution order) that
  /// produced a NaN or an infinity.
  case nonFinite(op: String, name: String, location: SourceLocation?)

  /// A message that names the placeholders, variables or operation concerned.
  public var description: String {
    switch self {
    case let .missingFeeds(names):
      return "You must feed a value for placeholder" + (names.count > 1 ? "s " : " ")
        + names.map { "'\($0)'" }.joined(separator: ", ")
    case let .feedMismatch(name, expected, got):
      return "Feed for '\(name)': expected \(expected), got \(got)"
    case let .unexpectedFeed(name, reason):
      return "Cannot feed '\(name)': \(reason)"
    case let .uninitializedVariable(name):
      return "Attempting to use uninitialized variable '\(name)'; run the variables initializer first"
    case let .foreignTensor(name):
      return "'\(name)' belongs to another graph than this session's"
    case let .executionFailed(op, name, reason, location):
      return "[\(op)] '\(name)' failed: \(reason)" + (location.map { "; built at \($0)" } ?? "")
    case let .nonFinite(op, name, location):
      return "[\(op)] '\(name)' produced NaN or infinity" + (location.map { "; built at \($0)" } ?? "")
    }
  }
}

/// Refuses an operation's parameter that is not finite (or, with `positive`, not > 0) once stored
/// in `dtype`, the dtype of the tensors it meets: `1e300` is infinite and `1e-50` is 0 in float32,
/// so a parameter valid as a `Double` would give `∞ · 0 = NaN` or a division by zero at run time.
/// Integer and bool dtypes are left to the operation's own dtype check.
/// - Throws: ``GraphError/invalidArgument(op:reason:location:)`` naming the parameter, its
///   value and what it is in `dtype`.
package func checkParameter(
  _ value: Double, _ parameter: String, in dtype: DType, positive: Bool, op: String, location: SourceLocation?
) throws {
  guard dtype.isFloatingPoint else { return }
  let stored = NDArray(scalar: value, dtype: dtype).doubles[0]
  guard stored.isFinite, !positive || stored > 0 else {
    throw GraphError.invalidArgument(
      op: op,
      reason: "\(parameter) \(value) is \(stored) in \(dtype), the tensors' dtype (it must be finite\(positive ? " and > 0" : "") there)",
      location: location)
  }
}
