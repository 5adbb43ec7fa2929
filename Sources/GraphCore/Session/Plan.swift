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
  var feeds: [Feed] = []
  var fetchSlots: [Int] = []
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
  func lowerToScalars(graph: Graph) {
    guard !loweredToScalars else { return }
    scalarProgram = AnyScalarProgram(plan: self, graph: graph)
    scalarHandle = scalarProgram.map(UnownedScalarProgram.init)
    loweredToScalars = true
  }

  /// Builds the plan for `fetches` and `targets` given the fed values.
  /// - Throws: ``SessionError/missingFeeds(_:)`` naming every placeholder that must be fed.
  init(graph: Graph, fetches: [ValueRef], feeds fed: [ValueRef], targets: [Int]) throws {
    let nodes = graph.nodes
    nodeCount = nodes.count
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

    // Slots: one per fed value and one per output of each needed node.
    var slotOf: [ValueRef: Int] = [:]
    var count = 0
    for ref in fed {
      slotOf[ref] = count
      feeds.append(Feed(ref: ref, slot: count, info: nodes[ref.node].outputs[ref.output], name: "\(nodes[ref.node].name):\(ref.output)"))
      count += 1
    }
    var lastUse: [Int: Int] = [:]  // slot -> step index of last read
    var outputSlotsOfStep: [[Int]] = []
    for id in nodes.indices where needed[id] {
      let node = nodes[id]
      let stepIndex = steps.count
      let inputStart = slotLists.count
      for input in node.inputs {
        let slot = slotOf[input]!
        slotLists.append(slot)
        lastUse[slot] = stepIndex
      }
      let outputStart = slotLists.count
      var outs: [Int] = []
      for o in node.outputs.indices {
        let ref = ValueRef(node: id, output: o)
        let slot: Int
        if let s = slotOf[ref], fedSet.contains(ref) {
          // A fed value whose node still runs (another output is needed): write elsewhere.
          _ = s
          slot = count
          count += 1
        } else {
          slot = count
          slotOf[ref] = slot
          count += 1
        }
        slotLists.append(slot)
        outs.append(slot)
      }
      outputSlotsOfStep.append(outs)
      steps.append(Step(
        node: id, primitive: node.primitive, inputStart: inputStart, inputCount: node.inputs.count,
        outputStart: outputStart, outputCount: node.outputs.count, releaseStart: 0, releaseCount: 0))
    }
    fetchSlots = fetches.map { slotOf[$0]! }
    let fetched = Set(fetchSlots)

    // Release lists. Outputs that may share memory (views, variable reads, constants) are
    // dropped after their last read, so the memory they share can be updated in place (a
    // variable by its optimizer, a fed buffer by the caller). Outputs nobody reads are dropped
    // at once. Every other slot keeps its buffer for the kernel to reuse in the next run.
    var releases = [[Int]](repeating: [], count: steps.count)
    for (i, step) in steps.enumerated() {
      let mayAlias = step.primitive.outputsMayAlias
      for slot in outputSlotsOfStep[i] where !fetched.contains(slot) {
        if let last = lastUse[slot] {
          if mayAlias { releases[last].append(slot) }
        } else {
          releases[i].append(slot)
        }
      }
    }
    for i in steps.indices {
      steps[i].releaseStart = slotLists.count
      steps[i].releaseCount = releases[i].count
      slotLists += releases[i]
    }

    slotCount = count
    frame = .allocate(capacity: Swift.max(count, 1))
    frame.initialize(repeating: NDArray.empty, count: Swift.max(count, 1))
  }

  deinit {
    frame.deinitialize(count: Swift.max(slotCount, 1))
    frame.deallocate()
  }
}
