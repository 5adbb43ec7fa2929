import ArrayCore
import RealModule

/// Saves and restores the values of a session's variables in the safetensors format, so that a
/// run can stop and resume exactly, and Python's `safetensors` and NumPy can read the files.
///
/// A checkpoint holds every variable of the graph, trainable or not (optimizer slots such as
/// `A/Adam` and step counters such as `Adam/iterations` are ordinary variables), under its
/// operation's name, which is stable for a graph built by the same code. A session's checkpoint
/// also carries the state of its random operations' generators (dropout masks, random values
/// drawn at each step; not those of the variables' initial values, which a restore replaces), in
/// the metadata under `backprop.random_state/<operation name>`, so that training resumed from it
/// draws the masks the uninterrupted run would have drawn (a random operation the file has no
/// state for starts again from its seed). Writing is atomic
/// (``SafetensorsFile/write(toPath:)``): a crash leaves the previous file in place, never a
/// half-written one.
///
/// ```swift
/// try Checkpoint.save(session: session, to: "run.safetensors", metadata: ["step": "500"])
/// // ... later, in a new process, with the same graph-building code:
/// let metadata = try Checkpoint.restore(session: session, from: "run.safetensors")
/// ```
public enum Checkpoint {
  /// The contents of a checkpoint of `session`: each variable's current value under its
  /// operation's name, with `metadata`.
  /// - Throws: ``SessionError/uninitializedVariable(name:)`` when a variable has no value yet.
  ///
  /// The values are one consistent snapshot: they are read together under the session's lock,
  /// which every run holds from start to end, so a training step running on another thread is
  /// either wholly in the checkpoint or not at all (never variable A after step n and B after
  /// step n + 1). The values are copy-on-write arrays: the lock is held only while they are
  /// collected, not while the file is written.
  public static func contents(of session: Session, metadata: [String: String] = [:]) throws -> SafetensorsFile {
    let variables = session.graph.variables
    let (values, randomStates) = try session.variableSnapshot(variables)
    var tensors: [String: NDArray] = [:]
    for (v, value) in zip(variables, values) { tensors[v.operation.name] = value }
    var metadata = metadata
    for (name, state) in randomStates { metadata[randomStatePrefix + name] = state }
    return SafetensorsFile(tensors: tensors, metadata: metadata)
  }

  /// The metadata keys of the random operations' generator states: the prefix of
  /// `backprop.random_state/<operation name>`.
  public static let randomStatePrefix = "backprop.random_state/"

  /// The state of each generator of `session`'s random operations that has drawn (not the
  /// variables' initializers'), as the metadata entries ``contents(of:metadata:)`` adds: for a
  /// file of your own format that should resume training exactly.
  public static func randomStateMetadata(of session: Session) -> [String: String] {
    var metadata: [String: String] = [:]
    for (name, state) in session.randomStates() { metadata[randomStatePrefix + name] = state }
    return metadata
  }

  /// Sets the generators of `session`'s random operations from the entries of `metadata` that
  /// ``randomStateMetadata(of:)`` wrote (other entries are ignored); a random operation without
  /// an entry starts again from its seed, as ``restore(session:from:source:)`` does.
  /// - Throws: ``ArrayCore/ArrayFileError/malformed(format:source:reason:)`` for a state that
  ///   is not one (`source` names the file).
  public static func restoreRandomStates(session: Session, from metadata: [String: String], source: String = "<checkpoint>") throws {
    try session.setValues([], randomStates: randomStates(in: metadata, source: source))
  }

  /// The generator states in `metadata`, by operation name.
  /// - Throws: ``ArrayCore/ArrayFileError/malformed(format:source:reason:)`` for a state that
  ///   ``ArrayCore/SeededGenerator`` cannot have written.
  static func randomStates(in metadata: [String: String], source: String) throws -> [String: SeededGenerator] {
    var states: [String: SeededGenerator] = [:]
    for (key, text) in metadata where key.hasPrefix(randomStatePrefix) {
      let name = String(key.dropFirst(randomStatePrefix.count))
      guard let generator = SeededGenerator(stateText: text) else {
        throw ArrayFileError.malformed(
          format: "checkpoint", source: source, reason: "the random state of '\(name)' is not four or five hexadecimal words: '\(text)'")
      }
      states[name] = generator
    }
    return states
  }

  /// Writes a checkpoint of every variable of `session` to `path`, atomically.
  /// - Throws: ``SessionError/uninitializedVariable(name:)``, or ``ArrayFileError`` when the
  ///   file cannot be written (nothing is changed at `path` then).
  public static func save(session: Session, to path: String, metadata: [String: String] = [:]) throws {
    try contents(of: session, metadata: metadata).write(toPath: path)
  }

  /// Sets every variable of `session` from `file`, after checking that the file has exactly
  /// the graph's variables with their dtypes and shapes. On any difference nothing is changed
  /// and the error lists every missing name, unexpected name and mismatch. The variables, and
  /// the random operations' generators (see the type's description), are set together under
  /// the session's lock (no run sees half a checkpoint).
  /// - Parameter source: The file's name, for error messages.
  /// - Returns: The file's metadata (without the generator states).
  /// - Throws: ``CheckpointError``, or ``ArrayCore/ArrayFileError`` for a generator state that
  ///   is not one.
  @discardableResult
  public static func restore(session: Session, from file: SafetensorsFile, source: String = "<checkpoint>") throws
    -> [String: String]
  {
    let updates = try matching(session.graph.variables, file, source: source)
    try session.setValues(updates, randomStates: randomStates(in: file.metadata, source: source))
    return file.metadata.filter { !$0.key.hasPrefix(randomStatePrefix) }
  }

  /// Each variable with its value in `file`, after checking that the file has exactly these
  /// variables with their dtypes and shapes.
  /// - Throws: ``CheckpointError`` listing every difference.
  static func matching(_ variables: [Tensor], _ file: SafetensorsFile, source: String) throws -> [(Tensor, NDArray)] {
    // Names match as byte strings, as the format defines them (not by Swift's String
    // equality, under which NFC and NFD "é" are one name).
    var expected: [[UInt8]: Tensor] = [:]
    for v in variables { expected[Array(v.operation.name.utf8)] = v }
    let missing = variables.map(\.operation.name).filter { file.tensor(named: $0) == nil }
    let unexpected = file.sortedNames.filter { expected[Array($0.utf8)] == nil }
    var mismatched: [CheckpointError.Mismatch] = []
    for v in variables {
      guard let value = file.tensor(named: v.operation.name) else { continue }
      if value.dtype != v.dtype || !v.shape.accepts(value.shape) {
        mismatched.append(
          CheckpointError.Mismatch(
            name: v.operation.name, expected: "\(v.dtype) \(v.shape)", found: "\(value.dtype) \(value.shape)"))
      }
    }
    guard missing.isEmpty, unexpected.isEmpty, mismatched.isEmpty else {
      throw CheckpointError(source: source, missing: missing, unexpected: unexpected, mismatched: mismatched)
    }
    var updates: [(Tensor, NDArray)] = []
    for v in variables {
      guard let value = file.tensor(named: v.operation.name) else { continue }
      updates.append((v, value))
    }
    return updates
  }

  /// Writes the current values of the variables of an eager graph (``Graph/eager()``: a
  /// layer's parameters) to `path`, atomically, under their names.
  /// - Throws: ``GraphError/invalidArgument(op:reason:location:)`` for a symbolic graph (save
  ///   its session instead), or ``ArrayFileError`` when the file cannot be written.
  public static func save(variablesOf graph: Graph, to path: String, metadata: [String: String] = [:]) throws {
    try contents(variablesOf: graph, metadata: metadata).write(toPath: path)
  }

  /// The current values of the variables of an eager graph under their names, as
  /// ``save(variablesOf:to:metadata:)`` writes them (``contents(of:metadata:)`` for a session).
  /// - Throws: ``GraphError/invalidArgument(op:reason:location:)`` for a symbolic graph.
  public static func contents(variablesOf graph: Graph, metadata: [String: String] = [:]) throws -> SafetensorsFile {
    guard graph.isEager else {
      throw GraphError.invalidArgument(
        op: "Checkpoint.save", reason: "the graph is symbolic: save a Session of it", location: nil)
    }
    var tensors: [String: NDArray] = [:]
    for v in graph.variables { tensors[v.operation.name] = try v.value }
    return SafetensorsFile(tensors: tensors, metadata: metadata)
  }

  /// Sets the variables of an eager graph from the checkpoint at `path` (written by
  /// ``save(variablesOf:to:metadata:)`` or from a session of a graph built by the same code),
  /// after checking that it holds exactly those variables; on any difference nothing changes.
  /// - Returns: The file's metadata.
  /// - Throws: ``ArrayFileError``, ``CheckpointError``, or ``GraphError`` for a symbolic graph.
  @discardableResult
  public static func restore(variablesOf graph: Graph, from path: String) throws -> [String: String] {
    guard graph.isEager else {
      throw GraphError.invalidArgument(
        op: "Checkpoint.restore", reason: "the graph is symbolic: restore a Session of it", location: nil)
    }
    return try restore(variablesOf: graph, from: SafetensorsFile(contentsOfFile: path), source: path)
  }

  /// ``restore(variablesOf:from:)`` from a file already read (`source` names it in errors).
  /// - Returns: The file's metadata.
  /// - Throws: ``CheckpointError``, or ``GraphError`` for a symbolic graph.
  @discardableResult
  public static func restore(variablesOf graph: Graph, from file: SafetensorsFile, source: String = "<checkpoint>") throws -> [String: String] {
    guard graph.isEager else {
      throw GraphError.invalidArgument(
        op: "Checkpoint.restore", reason: "the graph is symbolic: restore a Session of it", location: nil)
    }
    for (variable, value) in try matching(graph.variables, file, source: source) {
      try graph.assignEagerly(value, to: variable, location: nil)
    }
    return file.metadata
  }

  /// Reads the checkpoint at `path` and restores it into `session`
  /// (see ``restore(session:from:source:)``). `path` is a safetensors file, or a whole-model
  /// directory written by ``Session/saveModel(to:metadata:)`` (its variables file is read:
  /// resuming a run from the model it saved, with the graph built by the same code).
  /// - Returns: The file's metadata.
  /// - Throws: ``ArrayFileError`` when the file cannot be read or is not valid safetensors
  ///   (truncated, oversized header, unknown dtype...), ``CheckpointError`` when it does not
  ///   match the graph; in both cases no variable is changed.
  @discardableResult
  public static func restore(session: Session, from path: String) throws -> [String: String] {
    let file = Session.isModelDirectory(path) ? path + "/" + Session.ModelFiles.variables : path
    return try restore(session: session, from: SafetensorsFile(contentsOfFile: file), source: file)
  }
}

extension Checkpoint {
  /// Restores `session`'s variables from a TensorFlow checkpoint, by variable name: the prefix
  /// `tf.compat.v1.train.Saver.save` returns (`model.ckpt`, whose files are `model.ckpt.index`
  /// and `model.ckpt.data-00000-of-00001`; see ``ArrayCore/TensorBundle``). So a TF1 graph
  /// imported with ``Graph/init(graphDef:source:)`` goes on from the values TensorFlow trained,
  /// optimizer slots included. The file must hold exactly the graph's variables, as
  /// ``restore(session:from:source:)`` checks a safetensors file, with two conversions:
  ///
  /// - an int64 tensor (TensorFlow's `global_step`) restores into a float64 variable (the step
  ///   counter the importer made of it) when its values are integers of at most 2⁵³ in magnitude;
  /// - the step counter of an imported Adam update, which TensorFlow's file does not have, is set
  ///   from TensorFlow's `beta1_power` (`β₁ᵗ⁺¹` after `t` steps): `t = log(β₁ᵗ⁺¹) / log β₁ − 1`,
  ///   rounded, so the bias correction goes on where TensorFlow's was.
  ///
  /// Nothing changes when anything does not fit.
  /// - Throws: ``ArrayCore/ArrayFileError`` when the files cannot be read or are not a valid
  ///   bundle, ``CheckpointError`` listing every difference.
  public static func restore(session: Session, fromTensorFlow prefix: String) throws {
    try restore(session: session, from: TensorBundle(prefix: prefix), source: prefix)
  }

  /// ``restore(session:fromTensorFlow:)`` from a bundle already read (`source` names it in errors).
  /// - Throws: ``CheckpointError`` listing every difference; nothing changes then.
  public static func restore(session: Session, from bundle: TensorBundle, source: String) throws {
    let graph = session.graph
    let variables = graph.variables
    var missing: [String] = [], mismatched: [CheckpointError.Mismatch] = []
    var updates: [(Tensor, NDArray)] = []
    func describe(_ value: TensorBundle.Value) -> String {
      switch value {
      case .array(let a): "\(a.dtype) \(a.shape)"
      case let .int64(_, shape): "int64 \(shape)"
      case let .unsupported(code, shape): "\(TFDataType.name(code)) \(shape)"
      }
    }
    for v in variables {
      let name = v.operation.name
      if let powers = graph.tensorFlowStepCounters[name], bundle.tensors[name] == nil {
        switch Self.stepCount(powers, bundle) {
        case .success(let t): updates.append((v, NDArray(scalar: Double(t), dtype: .float64)))
        case .failure(let problem):
          if let power = problem.missing { missing.append("\(name) (from TensorFlow's \(power))") }
          if let m = problem.mismatch { mismatched.append(m) }
        }
        continue
      }
      guard let saved = bundle.tensors[name] else {
        missing.append(name)
        continue
      }
      var value: NDArray?
      switch saved {
      case .array(let a): value = a
      case let .int64(values, shape):
        if v.dtype == .float64, values.allSatisfy({ $0.magnitude <= 1 << 53 }) { value = NDArray(values.map { Double($0) }, shape: shape) }
      case .unsupported: value = nil
      }
      guard let value, value.dtype == v.dtype, v.shape.accepts(value.shape) else {
        mismatched.append(.init(name: name, expected: "\(v.dtype) \(v.shape)", found: describe(saved)))
        continue
      }
      updates.append((v, value))
    }
    let names = Set(variables.map(\.operation.name))
    // `tf.train.Checkpoint`'s object graph (a string tensor) is no variable.
    let unexpected = bundle.sortedNames.filter { !names.contains($0) && $0 != "_CHECKPOINTABLE_OBJECT_GRAPH" }
    guard missing.isEmpty, unexpected.isEmpty, mismatched.isEmpty else {
      throw CheckpointError(source: source, missing: missing, unexpected: unexpected, mismatched: mismatched)
    }
    try session.setValues(updates)
  }
}

extension Checkpoint {
  /// Why a step count could not be read: a power the file lacks, or one that is no power.
  struct StepCountProblem: Error {
    var missing: String?
    var mismatch: CheckpointError.Mismatch?
  }

  /// The steps `t` an imported Adam update has taken, from TensorFlow's `β₁ᵗ⁺¹` and `β₂ᵗ⁺¹`
  /// (`powers`, float32 variables that TensorFlow multiplies by β at each step):
  /// `t = log(β^(t+1)) / log β − 1`, rounded, from the first power that is still a normal
  /// float (β₁'s, the more precise, underflows after about 900 steps of β₁ = 0.9; β₂ = 0.999's
  /// after about 87,000). Once both have underflowed, TensorFlow's bias corrections are exactly
  /// 1, and so are Backprop's from the first step where both powers are below float32's
  /// smallest value: that step is the count.
  static func stepCount(_ powers: [(power: String, beta: Double)], _ bundle: TensorBundle) -> Result<Int, StepCountProblem> {
    var beyond = 0
    for (power, beta) in powers {
      guard let saved = bundle.tensors[power] else { return .failure(StepCountProblem(missing: power)) }
      guard case .array(let p) = saved, p.dtype.isFloatingPoint, p.shape.elementCount == 1, p.scalarValue >= 0, beta > 0, beta < 1
      else {
        return .failure(
          StepCountProblem(mismatch: .init(name: power, expected: "a power \(beta)^(t+1) (float32 [])", found: "\(saved)")))
      }
      let value = p.scalarValue
      // Where this power leaves float32's range: its last step before 0 comes after this one.
      beyond = Swift.max(beyond, Int((Double.log(Double(Float.leastNonzeroMagnitude)) / Double.log(beta)).rounded(.up)))
      guard value >= Double(Float.leastNormalMagnitude) else { continue }
      let exponent = Double.log(value) / Double.log(beta)
      guard exponent >= 0.75, abs(exponent - exponent.rounded()) <= 0.25 else {
        return .failure(
          StepCountProblem(mismatch: .init(name: power, expected: "\(beta)^(t+1) for a whole t ≥ 0", found: "\(value), \(beta)^\(exponent)")))
      }
      return .success(Int(exponent.rounded()) - 1)
    }
    return .success(beyond)
  }
}

/// A checkpoint that does not fit the graph it is restored into: every variable of the graph
/// the file lacks, every tensor of the file that is no variable of the graph, and every
/// variable whose dtype or shape differs.
public struct CheckpointError: Error, Sendable, Equatable, CustomStringConvertible {
  /// A variable whose saved value has another dtype or shape.
  public struct Mismatch: Sendable, Equatable {
    /// The variable's name.
    public var name: String
    /// The variable's dtype and shape (`float32 [1]`).
    public var expected: String
    /// The saved value's dtype and shape.
    public var found: String

    /// The variable `name`, expected as `expected` and found as `found`.
    package init(name: String, expected: String, found: String) {
      self.name = name
      self.expected = expected
      self.found = found
    }
  }
  /// The file (or `<checkpoint>`).
  public var source: String
  /// Variables of the graph that the file lacks, in creation order.
  public var missing: [String]
  /// Names in the file that are no variable of the graph, sorted.
  public var unexpected: [String]
  /// Variables whose saved dtype or shape differs, in creation order.
  public var mismatched: [Mismatch]

  /// The differences between `source` and what it is restored into.
  package init(source: String, missing: [String], unexpected: [String], mismatched: [Mismatch]) {
    self.source = source
    self.missing = missing
    self.unexpected = unexpected
    self.mismatched = mismatched
  }

  /// `run.safetensors does not match the graph: missing variables: b; unexpected tensors: W;
  /// mismatched: A is float32 [1] in the graph but float32 [2] in the file`.
  public var description: String {
    var parts: [String] = []
    if !missing.isEmpty { parts.append("missing variables: " + missing.joined(separator: ", ")) }
    if !unexpected.isEmpty { parts.append("unexpected tensors: " + unexpected.joined(separator: ", ")) }
    if !mismatched.isEmpty {
      parts.append(
        "mismatched: "
          + mismatched.map { "\($0.name) is \($0.expected) in the graph but \($0.found) in the file" }
          .joined(separator: ", "))
    }
    return "\(source) does not match the graph: " + parts.joined(separator: "; ")
  }
}

extension Session {
  /// The values of `variables` (of this session's graph) and the state of each random
  /// operation's generator that has drawn (by operation name; not the variables' initializers'),
  /// read together under the session's lock: one consistent snapshot between runs.
  /// - Throws: ``SessionError/uninitializedVariable(name:)``, ``SessionError/foreignTensor(name:)``.
  func variableSnapshot(_ variables: [Tensor]) throws -> (values: [NDArray], randomStates: [String: String]) {
    let nodes = try variables.map { try ownVariableNode($0, "Checkpoint") }
    let initializers = initializerNodes()
    return try lock.withLock { (try nodes.map { try context.variable(node: $0) }, generatorStates(excluding: initializers)) }
  }

  /// The state of each random operation's generator that has drawn, by operation name, but the
  /// variables' initializers'.
  func randomStates() -> [String: String] {
    let initializers = initializerNodes()
    return lock.withLock { generatorStates(excluding: initializers) }
  }

  /// The generators' states but those of `excluded` nodes (the caller holds the lock).
  private func generatorStates(excluding excluded: Set<Int>) -> [String: String] {
    var states: [String: String] = [:]
    for (node, generator) in context.generators where !excluded.contains(node) {
      states[graph.nodes[node].name] = generator.stateText
    }
    return states
  }

  /// The operations that compute the variables' initial values (and what they read): their
  /// random draws are replaced by a restore, so a checkpoint does not carry their generators.
  private func initializerNodes() -> Set<Int> {
    var seen = Set<Int>()
    var pending = graph.initialValues.map(\.value.node)
    while let node = pending.popLast() {
      guard seen.insert(node).inserted else { continue }
      pending += graph.nodes[node].inputs.map(\.node) + graph.nodes[node].controlInputs
    }
    return seen
  }

  /// Sets each variable to its value, all under one hold of the session's lock, after checking
  /// every one (nothing is set when one does not fit).
  /// - Throws: as ``setValue(_:for:)``.
  func setValues(_ updates: [(Tensor, NDArray)], randomStates: [String: SeededGenerator]? = nil) throws {
    var nodes: [Int] = []
    for (variable, value) in updates {
      nodes.append(try ownVariableNode(variable, "Checkpoint"))
      guard value.dtype == variable.dtype, variable.shape.accepts(value.shape) else {
        throw SessionError.feedMismatch(
          name: variable.name, expected: "\(variable.dtype) \(variable.shape)", got: "\(value.dtype) \(value.shape)")
      }
    }
    // A random operation of the file's is given its state; any other (but the initializers')
    // starts again from its seed, as it did in the session that wrote a file without its state.
    let initializers = randomStates == nil ? [] : initializerNodes()
    var restored: [Int: SeededGenerator] = [:]
    for (i, node) in graph.nodes.enumerated() { if let state = randomStates?[node.name] { restored[i] = state } }
    lock.withLock {
      for (node, (_, value)) in zip(nodes, updates) { context.writeVariable(node: node, value) }
      if randomStates != nil {
        context.generators = context.generators.filter { initializers.contains($0.key) }.merging(restored) { $1 }
      }
    }
  }
}
