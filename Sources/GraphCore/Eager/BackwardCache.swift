import ArrayCore

/// The backward passes of ``valueWithGradient(at:file:line:of:)-([NDArray],_,_,_)`` already
/// built, kept per call site as prepared steps of a symbolic graph, so that a training loop
/// stops rebuilding the same gradient operations at every step.
///
/// Every call runs its body eagerly, as always (so Swift control flow that depends on values
/// still decides what is computed). Its tape is then compared with the tapes the call site has
/// cached: the same operations (``Primitive/isSame(as:)``: the same primitive with the same
/// settings), wired the same way, on leaves of the same dtypes and shapes. On a match, the
/// gradients come from the cached step, fed with the tape's values; otherwise they are built on
/// the tape, as without the cache, and the tape is remembered for the next call.
///
/// The cached step is built once from a copy of the tape (the same primitives in a symbolic
/// graph, its leaves placeholders) by the same ``gradients(of:withRespectTo:gradientSeeds:unconnected:file:line:)``,
/// from each primitive's one gradient definition; every forward value the gradient operations
/// read is fed, not recomputed. A session computes the same bits as eager kernels (the op
/// table's tests), so a gradient is the same with or without the cache (tested over the op
/// table too). This is the automatic form of what ``compile(_:)`` does on request (TF2's
/// `tf.function`), and of Swift for TensorFlow's LazyTensor trace cache, with the body still
/// run eagerly at every call.
///
/// Not cached: tapes reading variables or with control dependencies, primitives that cannot
/// compare themselves, calls under ``withNumericChecks(_:_:)`` (which names each eager operation)
/// or inside a ``compile(_:)`` trace. A call site whose tapes keep changing (more than
/// ``missLimit`` misses in a row) stops being cached, so it pays nothing more than the checks.
package enum BackwardCache {
  /// Runs `body` without the cache on this thread: every gradient is built on its tape (for
  /// tests and benchmarks that compare the two).
  package static func withoutCache<R>(_ body: () throws -> R) rethrows -> R {
    try EagerScope.withBackwardCache(off: true, body)
  }

  /// The tapes cached per call site.
  static let entriesPerSite = 4
  /// Misses in a row after which a call site stops being cached.
  static let missLimit = 8
  /// The most call sites remembered.
  static let siteLimit = 64

  /// A call site's cached backward passes, most recently used first.
  final class Site: @unchecked Sendable {
    let file: UnsafeRawPointer
    let line: UInt
    // Read and written only under ``BackwardCache/lock``.
    @exclusivity(unchecked) var entries: [Entry] = []
    @exclusivity(unchecked) var misses = 0
    @exclusivity(unchecked) var hits = 0
    @exclusivity(unchecked) var isDisabled = false

    init(file: UnsafeRawPointer, line: UInt) {
      self.file = file
      self.line = line
    }

    /// Keeps `entry` first, dropping the least recently used beyond ``entriesPerSite`` (threads
    /// that missed while an entry was out may have added their own meanwhile).
    func keep(_ entry: Entry) {
      entries.insert(entry, at: 0)
      if entries.count > entriesPerSite { entries.removeLast(entries.count - entriesPerSite) }
    }
  }

  /// The call sites (searched in order: a program has few), guarded by ``lock``.
  @exclusivity(unchecked) nonisolated(unsafe) private static var sites: [Site] = []
  private static let lock = Lock()

  /// A call site's state, for tests: its cached tapes, the calls that took their gradients
  /// from the cache, and whether it stopped caching; `nil` for a site never seen.
  package static func statistics(file: StaticString, line: UInt) -> (entries: Int, hits: Int, isDisabled: Bool)? {
    lock.withLock { findSite(file, line, creating: false).map { ($0.entries.count, $0.hits, $0.isDisabled) } }
  }

  /// Forgets every cached backward pass (for tests).
  package static func removeAll() {
    lock.withLock { sites.removeAll() }
  }

  /// The site of `file` and `line`, made if `creating` (and there is room).
  private static func findSite(_ file: StaticString, _ line: UInt, creating: Bool) -> Site? {
    guard file.hasPointerRepresentation else { return nil }
    let pointer = UnsafeRawPointer(file.utf8Start)
    for site in sites where site.file == pointer && site.line == line { return site }
    guard creating, sites.count < siteLimit else { return nil }
    let site = Site(file: pointer, line: line)
    sites.append(site)
    return site
  }

  /// Whether this call may use the cache at all.
  private static var applies: Bool { !EagerScope.skipsBackwardCache && !EagerScope.checksNumerics && !EagerScope.isTracing }

  /// The gradients of `y` with respect to `xs`, from a cached backward pass of this call site
  /// whose tape matches `tape`; `nil` when none does (the caller builds them on the tape, then
  /// calls ``remember(tape:forwardCount:y:xs:file:line:)``).
  /// - Throws: what the cached step throws at run time (an operation that fails).
  static func gradients(tape: Graph, y: Tensor, xs: [Tensor], file: StaticString, line: UInt) throws -> [NDArray]? {
    guard applies else { return nil }
    lock.lock()
    guard let site = findSite(file, line, creating: false), !site.isDisabled else {
      lock.unlock()
      return nil
    }
    // Taken out of the site while it runs (a step belongs to one thread at a time).
    guard let i = site.entries.firstIndex(where: { $0.matches(tape, y: y, xs: xs) }) else {
      site.misses += 1
      lock.unlock()
      return nil
    }
    let entry = site.entries.remove(at: i)
    lock.unlock()
    let results = try entry.run(tape)
    lock.lock()
    site.misses = 0
    site.hits += 1
    site.keep(entry)
    lock.unlock()
    return results
  }

  /// Remembers the backward pass of `tape` (its first `forwardCount` nodes: the body's
  /// operations) for this call site, unless the site has missed too often or the tape cannot be
  /// cached.
  static func remember(tape: Graph, forwardCount: Int, y: Tensor, xs: [Tensor], file: StaticString, line: UInt) {
    guard applies else { return }
    let site: Site? = lock.withLock {
      guard let site = findSite(file, line, creating: true), !site.isDisabled else { return nil }
      if site.misses > missLimit {
        site.isDisabled = true
        site.entries.removeAll()
        return nil
      }
      return site
    }
    guard let site else { return }
    // Built outside any tape: the copy is a symbolic graph, and a builder reading the running
    // tape must not put anything on it.
    guard let entry = EagerScope.withTape(nil, { Entry(tape: tape, forwardCount: forwardCount, y: y, xs: xs, file: file, line: line) })
    else {
      lock.withLock {
        site.isDisabled = true
        site.entries.removeAll()
      }
      return
    }
    lock.withLock { site.keep(entry) }
  }

  /// One cached backward pass: the tape it was built from, as much as a match needs, and the
  /// prepared step computing the gradients.
  final class Entry: @unchecked Sendable {
    /// One node of the tape: a leaf's type, or an operation's primitive and inputs.
    struct NodeSignature {
      /// The primitive's type.
      var type: ObjectIdentifier
      /// The primitive, when more than its type must be compared (``Primitive/isIdentifiedByType``).
      var primitive: (any Primitive)?
      /// Whether ``primitive`` is kept (a flag: testing the optional would copy the existential).
      var comparesSettings: Bool
      var inputs: NodeInputs
      /// A leaf's dtype and shape (a constant: fed).
      var leaf: TensorInfo?
    }
    let nodes: [NodeSignature]
    let y: ValueRef
    let xs: [ValueRef]
    /// The tape's values the step is fed, in its feed order.
    let feeds: [ValueRef]
    let step: PreparedStep

    /// Builds the backward pass of `tape`'s first `forwardCount` nodes; `nil` when the tape
    /// cannot be cached or building fails (the caller's own gradients, already computed on the
    /// tape, stand).
    init?(tape: Graph, forwardCount: Int, y: Tensor, xs: [Tensor], file: StaticString, line: UInt) {
      guard let store = tape.eager, y.node < forwardCount, xs.allSatisfy({ $0.graph === tape && $0.node < forwardCount })
      else { return nil }
      let copy = Graph()
      var signatures: [NodeSignature] = []
      var map: [[Tensor]] = []
      do {
        for i in 0..<forwardCount {
          let node = tape.nodes[i]
          guard !node.isVariable, node.controlInputs.isEmpty, !store.records[i].isVariable else { return nil }
          if node.inputs.isEmpty && type(of: node.primitive) == ConstantPrimitive.self {
            let info = node.outputs[0]
            guard info.shape.isFullyKnown else { return nil }
            signatures.append(
              NodeSignature(type: node.primitiveType, primitive: nil, comparesSettings: false, inputs: node.inputs, leaf: info))
            map.append([copy.placeholder(info.dtype, shape: info.shape, name: "x")])
          } else {
            // A primitive that cannot recognize itself is never matched: not worth building.
            guard node.primitive.isSame(as: node.primitive) else { return nil }
            let op = try copy.addOperation(
              node.primitive, inputs: node.inputs.map { map[$0.node][$0.output] }, name: node.name, location: node.location)
            for o in 0..<node.outputs.count where copy.nodes[op.id].outputs[o] != node.outputs[o] { return nil }
            signatures.append(
              NodeSignature(
                type: node.primitiveType, primitive: node.primitive, comparesSettings: !node.primitive.isIdentifiedByType,
                inputs: node.inputs))
            map.append((0..<node.outputs.count).map { Tensor(graph: copy, node: op.id, output: $0) })
          }
        }
        let grads = try GraphCore.gradients(
          of: [map[y.node][y.output]], withRespectTo: xs.map { map[$0.node][$0.output] }, unconnected: .zero,
          file: file, line: line
        ).map { $0! }
        // The forward values the gradient operations read (and any gradient that is one).
        var needed = Set<ValueRef>()
        for id in forwardCount..<copy.nodes.count {
          for input in copy.nodes[id].inputs where input.node < forwardCount { needed.insert(input) }
        }
        for g in grads where g.node < forwardCount { needed.insert(ValueRef(node: g.node, output: g.output)) }
        let feeds = needed.sorted { ($0.node, $0.output) < ($1.node, $1.output) }
        for ref in feeds where !store.records[ref.node].hasValue { return nil }
        let session = Session(graph: copy)
        step = try session.prepare(fetches: grads, feeds: feeds.map { map[$0.node][$0.output] })
        self.feeds = feeds
      } catch {
        return nil
      }
      nodes = signatures
      self.y = ValueRef(node: y.node, output: y.output)
      self.xs = xs.map { ValueRef(node: $0.node, output: $0.output) }
    }

    /// Whether `tape` (with its value `y` and its watched `xs`) is this entry's tape: the same
    /// operations with the same settings and wiring, on leaves of the same dtypes and shapes.
    func matches(_ tape: Graph, y: Tensor, xs: [Tensor]) -> Bool {
      guard tape.nodes.count == nodes.count, y.node == self.y.node, y.output == self.y.output, xs.count == self.xs.count
      else { return false }
      for i in xs.indices where xs[i].graph !== tape || xs[i].node != self.xs[i].node || xs[i].output != self.xs[i].output {
        return false
      }
      return tape.nodes.withUnsafeBufferPointer { taped in
        nodes.withUnsafeBufferPointer { signatures in
          // Both read in place: no node or signature copied.
          for i in signatures.indices {
            let node = taped.baseAddress! + i
            let cached = signatures.baseAddress! + i
            guard node.pointee.primitiveType == cached.pointee.type,
              node.pointee.inputs.isSame(as: cached.pointee.inputs), node.pointee.controlInputs.isEmpty,
              !node.pointee.isVariable
            else { return false }
            if let leaf = cached.pointee.leaf {
              guard node.pointee.outputs[0] == leaf else { return false }
            } else if cached.pointee.comparesSettings && !cached.pointee.primitive!.isSame(as: node.pointee.primitive) {
              return false
            }
          }
          return true
        }
      }
    }

    /// The gradients for `tape`'s values (a matching tape's).
    func run(_ tape: Graph) throws -> [NDArray] {
      let store = tape.eager!
      // No value of the caller's kept alive by the cache until the next call.
      defer { step.releaseSharedFeeds() }
      var gradients: [NDArray] = []
      // The tape's values read in place (no retain and release of each).
      try store.values.withUnsafeBufferPointer { values in
        try store.records.withUnsafeBufferPointer { records in
          try feeds.withUnsafeBufferPointer { feeds in
            try step.run(
              feedingFrom: { i in UnsafePointer(values.baseAddress! + records[feeds[i].node].firstSlot + feeds[i].output) },
              into: &gradients)
          }
        }
      }
      return gradients
    }
  }
}
