import ArrayCore

/// The cache key of a plan: which values are fetched, which are fed, which operations are run.
struct PlanKey: Hashable {
  var fetches: [ValueRef]
  var feeds: [ValueRef]
  var targets: [Int]
}

/// A compiled run: the operations to execute in order, each input and output bound to a slot of
/// a frame of values that persists between runs, so kernels reuse their output buffers.
final class Plan {
  struct Step {
    var node: Int
    var primitive: any Primitive
    var inputStart: Int
    var inputCount: Int
    var outputStart: Int
    var outputCount: Int
    var releaseStart: Int
    var releaseCount: Int
    /// Bit `i` set: nothing reads output `i` (not fetched, no later step's input), so the
    /// kernel may skip it (``Results/isRead(_:)``).
    var unreadOutputs: UInt64 = 0
    /// The kernel that runs in place of ``primitive`` when the plan fused a chain ending here
    /// (see Fusion.swift); `nil` for a step that runs its own operation.
    var fused: (any FusedKernel)? = nil
  }
  struct Feed {
    var ref: ValueRef
    var slot: Int
    var info: TensorInfo
    var name: String
  }

  var steps: [Step] = []
  /// Input slots, output slots and slots to release, per step, in one flat array.
  var slotLists: [Int] = []
  /// Constants after `init` (`let`: a run reads them in place, without retaining the arrays).
  let feeds: [Feed]
  /// The feeds' dtypes and shapes as plain integers (every run checks every fed value).
  let feedChecks: FeedChecks
  let fetchSlots: [Int]
  let frame: UnsafeMutablePointer<NDArray>
  let slotCount: Int
  /// The number of graph nodes when the plan was built (every node it runs is below it).
  let nodeCount: Int
  /// The plan lowered to scalars, when every value has one element (built on first use by
  /// ``lowerToScalars(graph:)``; like everything a run touches, used under the session's lock).
  private(set) var scalarProgram: AnyScalarProgram?
  /// ``scalarProgram`` referenced without reference counting.
  @exclusivity(unchecked) private(set) var scalarHandle: UnownedScalarProgram?
  /// Whether ``lowerToScalars(graph:)`` has run.
  @exclusivity(unchecked) private(set) var loweredToScalars = false

  /// Lowers the plan to a ``ScalarProgram`` when it fits (the first call does the work; later
  /// calls return at once).
  @inline(__always) func lowerToScalars(graph: Graph) {
    if !loweredToScalars { lowerToScalarsOnce(graph: graph) }
  }

  /// The work of ``lowerToScalars(graph:)``.
  @inline(never) private func lowerToScalarsOnce(graph: Graph) {
    scalarProgram = AnyScalarProgram(plan: self, graph: graph)
    scalarHandle = scalarProgram.map(UnownedScalarProgram.init)
    loweredToScalars = true
  }

  /// Builds the plan for `fetches` and `targets` given the fed values, in named passes:
  /// ``reachability(_:fetches:fed:targets:)`` (which nodes run; every placeholder among them
  /// must be fed), ``assignSlots(_:needed:fed:fetches:)`` (the steps in graph order and a frame
  /// slot for every value), when `fusesKernels`, ``fuse(_:_:)`` (chains run as one kernel, see
  /// Fusion.swift) and ``releases(steps:outputSlots:lastUse:fetched:)`` (which slots each step drops).
  /// - Throws: ``SessionError/missingFeeds(_:)`` naming every placeholder that must be fed.
  init(graph: Graph, fetches: [ValueRef], feeds fed: [ValueRef], targets: [Int], fusesKernels: Bool = true) throws {
    let nodes = graph.nodes
    nodeCount = nodes.count
    let needed = try Self.reachability(nodes, fetches: fetches, fed: fed, targets: targets)
    var slots = Self.assignSlots(nodes, needed: needed, fed: fed, fetches: fetches)
    if fusesKernels { Self.fuse(nodes, &slots) }
    steps = slots.steps
    slotLists = slots.slotLists
    feeds = slots.feeds
    feedChecks = FeedChecks(slots.feeds)
    fetchSlots = slots.fetchSlots
    let (releases, unread) = Self.releases(
      steps: steps, outputSlots: slots.outputSlots, lastUse: slots.lastUse, fetched: Set(fetchSlots))
    for i in steps.indices {
      steps[i].unreadOutputs = unread[i]
      steps[i].releaseStart = slotLists.count
      steps[i].releaseCount = releases[i].count
      slotLists += releases[i]
    }
    slotCount = slots.count
    frame = .allocate(capacity: Swift.max(slotCount, 1))
    frame.initialize(repeating: NDArray.empty, count: Swift.max(slotCount, 1))
  }

  /// The first pass: the nodes the fetches and targets need, through inputs and control
  /// inputs, stopping at fed values.
  /// - Returns: `needed[node]` for every node of the graph.
  /// - Throws: ``SessionError/missingFeeds(_:)`` naming every needed placeholder not fed.
  static func reachability(_ nodes: [Node], fetches: [ValueRef], fed: [ValueRef], targets: [Int]) throws -> [Bool] {
    let fedSet = Set(fed)
    var needed = [Bool](repeating: false, count: nodes.count)
    var stack: [Int] = []
    func need(value: ValueRef) {
      if fedSet.contains(value) { return }
      need(node: value.node)
    }
    func need(node: Int) {
      if !needed[node] {
        needed[node] = true
        stack.append(node)
      }
    }
    for f in fetches { need(value: f) }
    for t in targets { need(node: t) }
    while let id = stack.popLast() {
      for input in nodes[id].inputs { need(value: input) }
      for c in nodes[id].controlInputs { need(node: c) }
    }
    var missing: [String] = []
    for id in nodes.indices where needed[id] && nodes[id].primitive is PlaceholderPrimitive {
      missing.append(nodes[id].name)
    }
    if !missing.isEmpty { throw SessionError.missingFeeds(missing) }
    return needed
  }

  /// What ``assignSlots(_:needed:fed:fetches:)`` produces.
  struct Slots {
    var steps: [Step] = []
    /// Each step's input slots then output slots (release lists come later).
    var slotLists: [Int] = []
    var feeds: [Feed] = []
    var fetchSlots: [Int] = []
    /// Each step's output slots.
    var outputSlots: [[Int]] = []
    /// slot -> the index of the last step that reads it.
    var lastUse: [Int: Int] = [:]
    /// The number of slots.
    var count = 0
  }

  /// The second pass: one step per needed node, in graph order (an append-only graph lists
  /// inputs first), and one slot per fed value and per output of each step.
  static func assignSlots(_ nodes: [Node], needed: [Bool], fed: [ValueRef], fetches: [ValueRef]) -> Slots {
    var result = Slots()
    let fedSet = Set(fed)
    var slotOf: [ValueRef: Int] = [:]
    for ref in fed {
      slotOf[ref] = result.count
      result.feeds.append(
        Feed(ref: ref, slot: result.count, info: nodes[ref.node].outputs[ref.output], name: "\(nodes[ref.node].name):\(ref.output)"))
      result.count += 1
    }
    for id in nodes.indices where needed[id] {
      let node = nodes[id]
      let stepIndex = result.steps.count
      let inputStart = result.slotLists.count
      for input in node.inputs {
        let slot = slotOf[input]!
        result.slotLists.append(slot)
        result.lastUse[slot] = stepIndex
      }
      let outputStart = result.slotLists.count
      var outs: [Int] = []
      for o in node.outputs.indices {
        let ref = ValueRef(node: id, output: o)
        let slot = result.count
        result.count += 1
        // A fed value whose node still runs (another output is needed) is written elsewhere:
        // readers keep the fed slot.
        if !fedSet.contains(ref) { slotOf[ref] = slot }
        result.slotLists.append(slot)
        outs.append(slot)
      }
      result.outputSlots.append(outs)
      result.steps.append(Step(
        node: id, primitive: node.primitive, inputStart: inputStart, inputCount: node.inputs.count,
        outputStart: outputStart, outputCount: node.outputs.count, releaseStart: 0, releaseCount: 0))
    }
    result.fetchSlots = fetches.map { slotOf[$0]! }
    return result
  }

  /// The third pass: the slots each step drops after it runs. Outputs that may share memory
  /// (views, variable reads, constants) are dropped after their last read, so the memory they
  /// share can be updated in place (a variable by its optimizer, a fed buffer by the caller).
  /// Outputs nobody reads are dropped at once, and marked in the step's `unread` mask
  /// (``Step/unreadOutputs``: the kernel may skip them). Every other slot keeps its buffer for
  /// the kernel to reuse in the next run; fetched slots are never dropped.
  static func releases(
    steps: [Step], outputSlots: [[Int]], lastUse: [Int: Int], fetched: Set<Int>
  ) -> (releases: [[Int]], unread: [UInt64]) {
    var releases = [[Int]](repeating: [], count: steps.count)
    var unread = [UInt64](repeating: 0, count: steps.count)
    for (i, step) in steps.enumerated() {
      let mayAlias = step.primitive.outputsMayAlias
      for (o, slot) in outputSlots[i].enumerated() where !fetched.contains(slot) {
        if let last = lastUse[slot] {
          if mayAlias { releases[last].append(slot) }
        } else {
          releases[i].append(slot)
          if o < 64 { unread[i] |= 1 << UInt64(o) }
        }
      }
    }
    return (releases, unread)
  }

  deinit {
    frame.deinitialize(count: Swift.max(slotCount, 1))
    frame.deallocate()
  }
}

/// What each of a plan's feeds accepts (its placeholder's dtype and partial shape) and where it
/// goes (its slot), as plain integers: a check reads them in place, without copying a
/// ``Plan/Feed`` (whose name and shape would be retained and released) or walking a
/// `[Int?]`, since every run checks every fed value.
struct FeedChecks: ~Copyable {
  /// One feed: the value fed (output `output` of node `node`), its dtype, its slot, its rank
  /// and where its sizes start in ``sizes``, and its byte count when its shape is fully known
  /// (`-1` otherwise).
  struct Entry {
    var node: Int
    var output: Int
    var dtype: DType
    var slot: Int
    var rank: Int
    var start: Int
    var byteCount: Int
    /// Where its register is in a scalar program's registers (``register(_:in:)``), in bytes,
    /// when its shape is static with one element (it takes a Swift scalar); `-1` otherwise.
    var scalarOffset: Int
  }

  let count: Int
  private let entries: UnsafeMutablePointer<Entry>
  /// Every feed's sizes, one after the other; `-1` is a size the placeholder leaves unknown.
  private let sizes: UnsafeMutablePointer<Int>

  init(_ feeds: [Plan.Feed]) {
    count = feeds.count
    entries = .allocate(capacity: Swift.max(feeds.count, 1))
    let total = feeds.reduce(0) { $0 + $1.info.shape.rank }
    sizes = .allocate(capacity: Swift.max(total, 1))
    var start = 0
    for (i, feed) in feeds.enumerated() {
      let dims = feed.info.shape.dimensions
      for (j, d) in dims.enumerated() { sizes[start + j] = d ?? -1 }
      let byteCount = feed.info.shape.concrete.map { $0.elementCount &* feed.info.dtype.byteSize } ?? -1
      let entry = Entry(
        node: feed.ref.node, output: feed.ref.output, dtype: feed.info.dtype, slot: feed.slot, rank: dims.count,
        start: start, byteCount: byteCount,
        scalarOffset: byteCount == feed.info.dtype.byteSize ? feed.slot &* byteCount : -1)
      (entries + i).initialize(to: entry)
      start += dims.count
    }
  }

  deinit {
    entries.deallocate()
    sizes.deallocate()
  }

  /// Feed `i`'s slot.
  /// - Precondition: `0 <= i < count`.
  @inline(__always) func slot(_ i: Int) -> Int { entries[i].slot }

  /// Where feed `i`'s value is in a scalar program's `registers`: the element numbered as its
  /// slot, of its byte count (the program's dtype is every feed's, and every shape is static).
  /// - Precondition: `0 <= i < count`, and the plan has a scalar program.
  @inline(__always) func register(_ i: Int, in registers: UnsafeMutableRawPointer) -> UnsafeMutableRawPointer {
    registers + entries[i].slot &* entries[i].byteCount
  }

  /// Copies `value`'s one element into feed `i`'s register (``register(_:in:)``) when feed `i`
  /// accepts it (``byteCount(ifAccepting:at:)``); `false`, writing nothing, when it does not.
  /// - Precondition: the plan has a scalar program, whose registers are `registers`.
  @inline(__always) func copy(ifAccepting value: UnsafePointer<NDArray>, at i: Int, into registers: UnsafeMutableRawPointer) -> Bool {
    guard let n = byteCount(ifAccepting: value, at: i) else { return false }
    NDArray.copyBytes(of: value, to: register(i, in: registers), byteCount: n)
    return true
  }

  /// Copies the one element of `value`, known to have feed `i`'s dtype and static shape (a
  /// ``CompiledFunction``'s signature matched it), into feed `i`'s register.
  /// - Precondition: as ``copy(ifAccepting:at:into:)``, and `value` is accepted by feed `i`.
  @inline(__always) func copy(accepted value: UnsafePointer<NDArray>, at i: Int, into registers: UnsafeMutableRawPointer) {
    NDArray.copyBytes(of: value, to: register(i, in: registers), byteCount: entries[i].byteCount)
  }

  /// Whether feed `i` takes a Swift scalar: `i` is a feed whose placeholder has a static shape
  /// of one element (`[]`, `[1]`, `[1, 1]`...).
  @inline(__always) func takesScalar(at i: Int) -> Bool {
    UInt(bitPattern: i) < UInt(bitPattern: count) && entries[i].scalarOffset >= 0
  }

  /// Feed `i`'s dtype.
  /// - Precondition: `0 <= i < count`.
  @inline(__always) func dtype(_ i: Int) -> DType { entries[i].dtype }

  /// Stores the scalar of dtype `source` at `value` in feed `i`'s register, converted to the
  /// feed's dtype (``ArrayCore/DType/store(scalar:of:to:)``) when feed `i` takes a scalar
  /// (``takesScalar(at:)``); `false`, writing nothing, when it does not or the conversion is
  /// not exact.
  /// - Precondition: the plan has a scalar program, whose registers are `registers`.
  @inline(__always) func store(
    scalar value: UnsafeRawPointer, of source: DType, at i: Int, into registers: UnsafeMutableRawPointer
  ) -> Bool {
    guard UInt(bitPattern: i) < UInt(bitPattern: count) else { return false }
    let entry = entries + i
    guard entry.pointee.scalarOffset >= 0 else { return false }
    return entry.pointee.dtype.store(scalar: value, of: source, to: registers + entry.pointee.scalarOffset)
  }

  /// Stores `element` (an array of one element) in feed `i`'s register when feed `i` accepts
  /// the array, as ``byteCount(ifAccepting:at:)`` would: a feed of a static shape of one
  /// element (``takesScalar(at:)``), of the array's dtype and rank. `false`, writing nothing,
  /// otherwise.
  /// - Precondition: the plan has a scalar program, whose registers are `registers`.
  @inline(__always) func store(element: OneElement, at i: Int, into registers: UnsafeMutableRawPointer) -> Bool {
    guard UInt(bitPattern: i) < UInt(bitPattern: count) else { return false }
    let entry = entries + i
    guard entry.pointee.scalarOffset >= 0, entry.pointee.dtype == element.dtype, entry.pointee.rank == element.rank
    else { return false }
    NDArray.storeElementBits(element.bits, byteCount: entry.pointee.byteCount, to: registers + entry.pointee.scalarOffset)
    return true
  }

  /// Where feed `i` takes a Swift scalar in the registers, and its dtype (a prepared step's
  /// table for its inlined ``PreparedStep/setFeed(_:to:)-(_,Scalar)``).
  /// - Precondition: `0 <= i < count`.
  func scalarSlot(_ i: Int) -> ScalarFeedSlot {
    ScalarFeedSlot(offset: entries[i].scalarOffset, dtype: entries[i].dtype, rank: entries[i].rank)
  }

  /// The position of the feed of output `output` of node `node`: `hint` when it is there
  /// (pairs written in the plan's order), else the first found; `nil` when none is.
  @inline(__always) func position(node: Int, output: Int, hint: Int) -> Int? {
    if hint < count, entries[hint].node == node, entries[hint].output == output { return hint }
    for i in 0..<count where entries[i].node == node && entries[i].output == output { return i }
    return nil
  }

  /// The byte count of `value` when feed `i` accepts it (its dtype, its rank, and every size
  /// the placeholder knows), `nil` when it does not or `i` is not a feed. The value is read
  /// where it is: passed on, or read through a pointer the caller also writes through, it
  /// would be copied (and its shape and storage retained and released).
  @inline(__always) func byteCount(ifAccepting value: UnsafePointer<NDArray>, at i: Int) -> Int? {
    guard i >= 0, i < count else { return nil }
    let entry = entries[i]
    guard value.pointee.dtype == entry.dtype else { return nil }
    let sizes = sizes + entry.start
    let accepted = value.pointee.shape.dimensions.withUnsafeBufferPointer { d in
      guard d.count == entry.rank else { return false }
      for j in 0..<d.count where sizes[j] != d[j] && sizes[j] != -1 { return false }
      return true
    }
    guard accepted else { return nil }
    return entry.byteCount >= 0 ? entry.byteCount : value.pointee.shape.elementCount &* entry.dtype.byteSize
  }
}
