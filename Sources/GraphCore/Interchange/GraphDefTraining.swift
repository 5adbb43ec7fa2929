import ArrayCore

// TF1 training graphs (`tf.compat.v1.train.*Optimizer(...).minimize(loss)`): TensorFlow's own
// gradient subgraph (`gradients/...`) computes shapes when it runs (`Shape` of a batch of unknown
// size, `BroadcastGradientArgs`), which Backprop's static shapes cannot hold node by node. The
// importer recognizes the pattern instead: each update operation (`ApplyGradientDescent`,
// `ApplyMomentum`, `ApplyAdam`, `ApplyAdagrad`, `ApplyRMSProp`, `ApplyCenteredRMSProp` and their
// `Resource*` forms), its variable, slots and constant
// hyper-parameters, and the one loss whose gradient it applies (traced from the gradient
// subgraph's seed, `Fill(Shape(loss), 1)`); it skips the gradient subgraph and rebuilds each
// update with Backprop's gradients and the update rules its optimizers build
// (`GradientDescentOptimizer`, `MomentumOptimizer`, `AdamOptimizer`, `AdagradOptimizer`,
// `RMSPropOptimizer` in Training call the same `gradientDescentUpdate`, `momentumUpdate`,
// `adamStepSize` and `applyAdam`, `adagradUpdate`, `rmsPropUpdate`, UpdateRules.swift),
// so that an imported training operation trains bit for bit as the optimizer does on the
// imported loss (`GraphDefProbeTests` compares the two). Anything else is refused, naming the
// node and what was expected.

/// The TensorFlow update operations the importer rebuilds.
enum TrainingUpdateKind {
  case gradientDescent
  case momentum(nesterov: Bool)
  case adam
  case adagrad
  case rmsProp(centered: Bool)
}

/// One TensorFlow update operation of a recognized training pattern.
struct TrainingUpdate {
  /// The update node's index in the importer's `defs`.
  let node: Int
  let kind: TrainingUpdateKind
  /// The variable's node name, and its slots' (Momentum's accumulator; Adam's m and v;
  /// Adagrad's accumulator; RMSProp's mean square, then the centered form's mean gradient, then
  /// the momentum accumulator).
  let variable: String
  let slots: [String]
  /// The learning rate; Momentum's momentum; Adam's β₁, β₂, ε; RMSProp's decay ρ, momentum μ, ε.
  let learningRate: LearningRateInput
  let hyperparameters: [Double]

  /// The position of the gradient among the update node's data inputs.
  var gradientIndex: Int {
    switch kind {
    case .gradientDescent: 2
    case .momentum: 3
    case .adam: 9
    case .adagrad: 3
    case .rmsProp(let centered): centered ? 8 : 7
    }
  }
}

/// An update's learning rate: a constant (possibly cast), or a tensor the file computes (a TF1
/// learning-rate schedule of the step counter, `tf.compat.v1.train.exponential_decay`), by its
/// input name.
enum LearningRateInput {
  case constant(Double)
  case tensor(String)
}

/// The update operations that apply the gradients of one TensorFlow gradient subgraph.
struct TrainingGroup {
  /// The gradient subgraph's name scope (`gradients`, `gradients_1`, `opt/gradients`).
  let scope: String
  /// The loss, as an input name (`loss`, `xent:0`).
  let loss: String
  /// The seed's dtype and, when TensorFlow wrote it as a constant, its shape.
  let seedType: DType
  let seedShape: [Int]?
  var updates: [TrainingUpdate] = []
  /// The nodes the rebuilt updates need (the loss, variables, slots, hyper-parameters).
  var dependencies: [Int] = []
  var built = false
  /// Adam's TensorFlow variables `beta1_power`, `beta2_power`, by node name.
  var betaPowers = Set<String>()
  /// Adam's step counter (AdamOptimizer's `<name>/iterations`), its initial value, and its
  /// initializer, made once a file's `NoOp` initializes the beta powers.
  var counter: (variable: Tensor, start: Tensor)?
  var counterInitializer: Operation?
}

/// What ``GraphDefImporter/recognizeTraining(initialValue:)`` found.
struct TrainingPatterns {
  /// Indices in `defs` of the gradient subgraphs' nodes, which are not built.
  var skipped = Set<Int>()
  var groups: [TrainingGroup] = []
  /// The group of each recognized update node, by name.
  var groupOf: [String: Int] = [:]
}

extension GraphDefImporter {
  static let updateTypes: Set<String> = [
    "ApplyGradientDescent", "ResourceApplyGradientDescent", "ApplyMomentum", "ResourceApplyMomentum", "ApplyAdam",
    "ResourceApplyAdam", "ApplyAdagrad", "ResourceApplyAdagrad", "ApplyRMSProp", "ResourceApplyRMSProp", "ApplyCenteredRMSProp",
    "ResourceApplyCenteredRMSProp",
  ]

  /// Whether a name component is a gradient subgraph's scope (`gradients`, `gradients_3`).
  static func isGradientScopeComponent(_ c: Substring) -> Bool {
    guard c.hasPrefix("gradients") else { return false }
    let rest = c.dropFirst("gradients".count)
    return rest.isEmpty || (rest.hasPrefix("_") && rest.count > 1 && rest.dropFirst().allSatisfy { ("0"..."9").contains($0) })
  }

  /// The data inputs of `d`.
  func dataInputs(_ d: TFNodeDef) -> [String] { d.inputs.filter { !$0.hasPrefix("^") } }

  /// The node `input` reads, following `ops` (pass-through operations) through their first input.
  func follow(_ input: String, through ops: Set<String>) -> (node: Int, casts: [DType])? {
    var j = byName[Self.split(input).0]
    var casts: [DType] = []
    for _ in 0..<64 {
      guard let k = j else { return nil }
      guard ops.contains(defs[k].op), let first = dataInputs(defs[k]).first else { return (k, casts) }
      if defs[k].op == "Cast" {
        guard let t = try? dtypeAttr(defs[k], "DstT") else { return nil }
        casts.append(t)
      }
      j = byName[Self.split(first).0]
    }
    return nil
  }

  /// The one value of a constant, possibly cast (TF1's optimizers hold a Python float as a
  /// float32 tensor and cast it to the variable's dtype), or `nil`.
  func castConstant(_ input: String) -> Double? {
    guard let (j, casts) = follow(input, through: ["Cast", "Identity"]), defs[j].op == "Const",
      case let .tensor(t)? = defs[j].attrs["value"], t.elementCount == 1, t.dtype != .bool
    else { return nil }
    let value = casts.reversed().reduce(t) { $0.converted(to: $1) }.scalarValue
    return value.isFinite ? value : nil
  }

  /// The forward node `X` whose gradient a node of scope `scope` belongs to
  /// (`<scope>/X_grad/...`, TensorFlow's naming of each operation's gradient), with the rest of
  /// the name after `X_grad/`.
  func gradientOwner(_ name: String, scope: String) -> (owner: String, tail: Substring)? {
    guard name.hasPrefix(scope + "/") else { return nil }
    let rest = name.dropFirst(scope.count + 1)
    var search = rest.startIndex
    while let r = rest[search...].firstRange(of: "_grad/") {
      let owner = String(rest[..<r.lowerBound])
      if let j = byName[owner], !defs[j].name.hasPrefix(scope + "/") { return (owner, rest[r.upperBound...]) }
      search = r.upperBound
    }
    return nil
  }

  /// The variable whose gradient `input` (a node of gradient subgraph `scope`) is: the
  /// gradient of one input of a forward operation (`<scope>/X_grad/tuple/control_dependency_k`
  /// for input k, or any node of `X_grad` when X has one input) that reads the variable through
  /// operations TensorFlow's gradients pass through (`Identity` as `w/read`, `ReadVariableOp`),
  /// or an `AddN` of such gradients of one variable (its uses summed); `nil` otherwise.
  func gradientVariable(_ input: String, scope: String, depth: Int = 0) -> String? {
    let name = Self.split(input).0
    guard depth < 64, let j = byName[name], name.hasPrefix(scope + "/") else { return nil }
    let d = defs[j]
    if d.op == "AddN", !name.dropFirst(scope.count + 1).contains("/") {
      let parts = dataInputs(d).map { gradientVariable($0, scope: scope, depth: depth + 1) }
      guard let first = parts.first ?? nil, parts.allSatisfy({ $0 == first }) else { return nil }
      return first
    }
    guard let (owner, tail) = gradientOwner(name, scope: scope), let o = byName[owner] else { return nil }
    let ownerInputs = dataInputs(defs[o])
    var index = 0
    if tail == "tuple/control_dependency" {
      index = 0
    } else if tail.hasPrefix("tuple/control_dependency_"), let k = Int(tail.dropFirst("tuple/control_dependency_".count)) {
      index = k
    } else {
      guard ownerInputs.count == 1 else { return nil }
    }
    guard index < ownerInputs.count, let (v, _) = follow(ownerInputs[index], through: ["Identity", "ReadVariableOp", "Snapshot"]),
      Self.isVariable(defs[v].op)
    else { return nil }
    return defs[v].name
  }

  /// Finds TF1's training pattern (see the top of this file); `initialValue` is each variable's
  /// initial value's input name.
  /// - Throws: ``GraphDefError/malformed(source:reason:)`` naming the node and what was expected
  ///   when an update operation is not `minimize(loss)`'s (several losses, custom `grad_ys`, an
  ///   operation between the gradient and the update such as clipping, hyper-parameters that are
  ///   not constants), ``GraphDefError/unsupportedOperations(direction:_:)`` for Adam with
  ///   `use_nesterov`.
  func recognizeTraining(initialValue: [String: String]) throws -> TrainingPatterns {
    var result = TrainingPatterns()
    let candidates = defs.indices.filter { Self.updateTypes.contains(defs[$0].op) && defs[$0].attrs["_backprop_op"] == nil }
    if candidates.isEmpty { return result }
    let fileHasSeed = defs.contains { d in
      let parts = d.name.split(separator: "/")
      return parts.count >= 2 && parts.last == "grad_ys_0" && Self.isGradientScopeComponent(parts[parts.count - 2])
    }
    var scopes: [String: Int] = [:]
    for i in candidates {
      let d = defs[i]
      let name = d.name
      let data = dataInputs(d)
      let gradientIndex: Int, expected: Int
      switch d.op {
      case "ApplyGradientDescent", "ResourceApplyGradientDescent": (gradientIndex, expected) = (2, 3)
      case "ApplyMomentum", "ResourceApplyMomentum": (gradientIndex, expected) = (3, 5)
      case "ApplyAdagrad", "ResourceApplyAdagrad": (gradientIndex, expected) = (3, 4)
      case "ApplyRMSProp", "ResourceApplyRMSProp": (gradientIndex, expected) = (7, 8)
      case "ApplyCenteredRMSProp", "ResourceApplyCenteredRMSProp": (gradientIndex, expected) = (8, 9)
      default: (gradientIndex, expected) = (9, 10)
      }
      if d.op.hasSuffix("ApplyAdam"), boolAttr(d, "use_nesterov") {
        throw GraphDefError.unsupportedOperations(direction: "import", ["\(d.op) (use_nesterov): \(name)"])
      }
      if d.op.hasSuffix("ApplyAdagrad"), case .bool(false)? = d.attrs["update_slots"] {
        throw GraphDefError.unsupportedOperations(direction: "import", ["\(d.op) (update_slots false): \(name)"])
      }
      guard data.count == expected else { throw fail("node '\(name)' (\(d.op)) needs \(expected) inputs, has \(data.count)") }
      let gradient = data[gradientIndex]
      let gradientNode = Self.split(gradient).0
      let parts = gradientNode.split(separator: "/", omittingEmptySubsequences: false)
      let scopeEnds = parts.indices.filter { $0 < parts.count - 1 && Self.isGradientScopeComponent(parts[$0]) }
      guard !scopeEnds.isEmpty else {
        // TensorFlow's own Adam update with a gradient of the file's (not TensorFlow's
        // gradient subgraph): imported as that node (see `build`), as before.
        if d.op == "ApplyAdam" && !fileHasSeed { continue }
        let what = byName[gradientNode].map { " (\(defs[$0].op))" } ?? ""
        throw fail(
          "node '\(name)' (\(d.op)): its gradient input '\(gradient)'\(what) is not a node of TensorFlow's gradient subgraph ('gradients/...'): Backprop rebuilds a training operation only from optimizer.minimize(loss)'s pattern, where the update reads TensorFlow's gradient directly; an operation between the gradient and the update (gradient clipping, scaling, a sum) is not rebuilt"
        )
      }
      let candidateScopes = scopeEnds.reversed().map { parts[...$0].joined(separator: "/") }
      guard let scope = candidateScopes.first(where: { byName[$0 + "/grad_ys_0"] != nil }) else {
        throw fail(
          "node '\(name)' (\(d.op)): its gradient '\(gradient)' comes from the gradient subgraph '\(candidateScopes[0])', which has no seed '\(candidateScopes[0])/grad_ys_0' (Fill(Shape(loss), 1)): gradients with custom grad_ys are not rebuilt; Backprop rebuilds optimizer.minimize(loss)'s pattern only"
        )
      }
      let g: Int
      if let known = scopes[scope] {
        g = known
      } else {
        g = result.groups.count
        result.groups.append(try trainingGroup(scope: scope))
        scopes[scope] = g
      }
      // The variable and its slots: the file's variables (ref or resource).
      func variableInput(_ k: Int, _ role: String) throws -> String {
        let n = Self.split(data[k]).0
        guard let j = byName[n], Self.isVariable(defs[j].op) else {
          throw fail("node '\(name)' (\(d.op)): its \(role) '\(data[k])' must be a variable (VariableV2 or VarHandleOp)")
        }
        return n
      }
      func hyper(_ k: Int, _ role: String) throws -> Double {
        guard let v = castConstant(data[k]) else {
          throw fail(
            "node '\(name)' (\(d.op)): its \(role) '\(data[k])' must be a constant, possibly cast (as TF1's optimizers write a Python number); Backprop rebuilds the optimizer with constant hyper-parameters"
          )
        }
        return v
      }
      // A constant, or a tensor the file computes (outside the gradient subgraph: see below).
      func rate(_ k: Int) -> LearningRateInput { castConstant(data[k]).map { .constant($0) } ?? .tensor(data[k]) }
      let variable = try variableInput(0, "variable")
      guard let traced = gradientVariable(gradient, scope: scope) else {
        throw fail(
          "node '\(name)' (\(d.op)): its gradient '\(gradient)' is not recognized as TensorFlow's gradient of the loss with respect to '\(variable)' (expected '\(scope)/<op>_grad/tuple/control_dependency[_k]' of an operation reading the variable, or an AddN of such gradients)"
        )
      }
      guard traced == variable else {
        throw fail("node '\(name)' (\(d.op)): its gradient '\(gradient)' is TensorFlow's gradient with respect to '\(traced)', not to its variable '\(variable)'")
      }
      let update: TrainingUpdate
      switch d.op {
      case "ApplyGradientDescent", "ResourceApplyGradientDescent":
        update = TrainingUpdate(
          node: i, kind: .gradientDescent, variable: variable, slots: [], learningRate: rate(1), hyperparameters: [])
      case "ApplyMomentum", "ResourceApplyMomentum":
        update = TrainingUpdate(
          node: i, kind: .momentum(nesterov: boolAttr(d, "use_nesterov")), variable: variable, slots: [try variableInput(1, "accumulator")],
          learningRate: rate(2), hyperparameters: [try hyper(4, "momentum")])
      case "ApplyAdagrad", "ResourceApplyAdagrad":
        update = TrainingUpdate(
          node: i, kind: .adagrad, variable: variable, slots: [try variableInput(1, "accumulator")],
          learningRate: rate(2), hyperparameters: [])
      case "ApplyRMSProp", "ResourceApplyRMSProp":
        update = TrainingUpdate(
          node: i, kind: .rmsProp(centered: false), variable: variable,
          slots: [try variableInput(1, "mean square ms"), try variableInput(2, "momentum accumulator mom")],
          learningRate: rate(3), hyperparameters: [try hyper(4, "decay rho"), try hyper(5, "momentum"), try hyper(6, "epsilon")])
      case "ApplyCenteredRMSProp", "ResourceApplyCenteredRMSProp":
        // TensorFlow's order: the mean gradient mg, then the mean square ms.
        update = TrainingUpdate(
          node: i, kind: .rmsProp(centered: true), variable: variable,
          slots: [try variableInput(2, "mean square ms"), try variableInput(1, "mean gradient mg"), try variableInput(3, "momentum accumulator mom")],
          learningRate: rate(4), hyperparameters: [try hyper(5, "decay rho"), try hyper(6, "momentum"), try hyper(7, "epsilon")])
      default:
        let beta1 = try hyper(6, "beta1"), beta2 = try hyper(7, "beta2")
        // β₁ᵗ and β₂ᵗ: TensorFlow's variables starting at β₁ and β₂ (the optimizer multiplies
        // them once per step); Backprop's Adam counts its own steps from the same start.
        var powers: [String] = []
        for (k, beta, role) in [(3, beta1, "beta1_power"), (4, beta2, "beta2_power")] {
          guard let (p, _) = follow(data[k], through: ["Cast", "Identity", "ReadVariableOp", "Snapshot"]), Self.isVariable(defs[p].op),
            let start = initialValue[defs[p].name].flatMap(castConstant), start == beta
          else {
            throw fail(
              "node '\(name)' (\(d.op)): its \(role) '\(data[k])' must read a variable that starts at \(role.dropLast(6)) \(beta) (TF1's AdamOptimizer); Backprop's Adam counts its steps from the first"
            )
          }
          powers.append(defs[p].name)
        }
        result.groups[g].betaPowers.formUnion(powers)
        update = TrainingUpdate(
          node: i, kind: .adam, variable: variable, slots: [try variableInput(1, "first moment m"), try variableInput(2, "second moment v")],
          learningRate: rate(5), hyperparameters: [beta1, beta2, try hyper(8, "epsilon")])
      }
      // The settings Backprop's optimizers accept (their initializers' checks; applyAdam checks
      // β₁, β₂ and ε).
      if case let .constant(rate) = update.learningRate, !(rate > 0) {
        throw fail("node '\(name)' (\(d.op)): learning rate \(rate); Backprop's optimizers need a finite learning rate > 0")
      }
      if case .momentum = update.kind, !(update.hyperparameters[0] >= 0 && update.hyperparameters[0] < 1) {
        throw fail("node '\(name)' (\(d.op)): momentum \(update.hyperparameters[0]); Backprop's MomentumOptimizer needs a momentum in [0, 1)")
      }
      if case .rmsProp = update.kind {
        let (decay, momentum, epsilon) = (update.hyperparameters[0], update.hyperparameters[1], update.hyperparameters[2])
        guard decay >= 0 && decay < 1 && momentum >= 0 && momentum < 1 && epsilon > 0 else {
          throw fail(
            "node '\(name)' (\(d.op)): decay \(decay), momentum \(momentum), epsilon \(epsilon); Backprop's RMSPropOptimizer needs a decay and a momentum in [0, 1) and an epsilon > 0"
          )
        }
      }
      if let other = result.groups[g].updates.first(where: { $0.variable == variable }) {
        throw fail("nodes '\(defs[other.node].name)' and '\(name)' both update '\(variable)' from the gradient subgraph '\(scope)'")
      }
      result.groups[g].updates.append(update)
      result.groupOf[name] = g
    }
    // The gradient subgraphs' nodes are skipped; nothing else may read them.
    for group in result.groups {
      for (j, d) in defs.enumerated() where d.name.hasPrefix(group.scope + "/") { result.skipped.insert(j) }
    }
    for (j, d) in defs.enumerated() where !result.skipped.contains(j) {
      let recognized = result.groupOf[d.name]
      // A recognized update reads its gradient (a data input) from the skipped nodes.
      let gradientInput = recognized.flatMap { g in result.groups[g].updates.first { $0.node == j } }.map { dataInputs(d)[$0.gradientIndex] }
      for input in d.inputs {
        guard let n = byName[Self.split(input).0], result.skipped.contains(n), input != gradientInput else { continue }
        throw fail(
          "node '\(d.name)' (\(d.op)) reads '\(input)' of TensorFlow's gradient subgraph, which Backprop does not import (it rebuilds the training operations of optimizer.minimize(loss) with its own gradients): only the update operations may read TensorFlow's gradients"
        )
      }
    }
    // What each group's rebuilt updates need, built before them.
    for g in result.groups.indices {
      var needed = Set<Int>()
      if let l = byName[Self.split(result.groups[g].loss).0] { needed.insert(l) }
      for u in result.groups[g].updates {
        let d = defs[u.node]
        let gradient = dataInputs(d)[u.gradientIndex]
        for input in d.inputs where input != gradient {
          if let n = byName[Self.split(input).0] { needed.insert(n) }
        }
      }
      result.groups[g].dependencies = needed.sorted()
    }
    return result
  }

  /// The seed and the loss of gradient subgraph `scope`: `<scope>/grad_ys_0 = Fill(dims, 1)`
  /// with `dims` either `Shape(loss)` or (a loss of a known shape) a constant; then the loss is
  /// the operation `X` whose gradient reads the seed (`<scope>/X_grad/...`, TensorFlow's naming).
  func trainingGroup(scope: String) throws -> TrainingGroup {
    let seedName = scope + "/grad_ys_0"
    guard byName[scope + "/grad_ys_1"] == nil else {
      throw fail(
        "node '\(scope)/grad_ys_1': the gradient subgraph '\(scope)' differentiates several tensors; Backprop rebuilds the gradients of one loss (optimizer.minimize(loss)) only"
      )
    }
    guard let seedIndex = byName[seedName] else { throw fail("no node '\(seedName)'") }
    let seed = defs[seedIndex]
    let data = dataInputs(seed)
    guard seed.op == "Fill", data.count == 2, castConstant(data[1]) == 1, let dims = byName[Self.split(data[0]).0] else {
      throw fail("node '\(seedName)' (\(seed.op)): expected TensorFlow's seed Fill(Shape(loss), 1) (custom grad_ys are not rebuilt)")
    }
    let seedType = try dtypeAttr(seed, "T")
    if defs[dims].op == "Shape", let l = dataInputs(defs[dims]).first {
      guard let n = byName[Self.split(l).0], !defs[n].name.hasPrefix(scope + "/") else {
        throw fail("node '\(defs[dims].name)' (Shape): expected the shape of the loss, a node outside '\(scope)'")
      }
      return TrainingGroup(scope: scope, loss: l, seedType: seedType, seedShape: nil)
    }
    guard defs[dims].op == "Const", case let .tensor(t)? = defs[dims].attrs["value"], t.dtype == .int32, t.shape.rank == 1 else {
      throw fail("node '\(defs[dims].name)' (\(defs[dims].op)): expected the seed's shape, Shape(loss) or a constant")
    }
    let readers = defs.filter { d in d.name != seedName && dataInputs(d).contains { Self.split($0) == (seedName, 0) } }
    let owners = Set(readers.map { gradientOwner($0.name, scope: scope)?.owner ?? "" })
    guard owners.count == 1, let owner = owners.first, !owner.isEmpty else {
      let names = readers.map { "'\($0.name)'" }.joined(separator: ", ")
      throw fail(
        "node '\(seedName)' (Fill): expected it to be read by the gradient of one operation ('\(scope)/<loss>_grad/...'), the loss; it is read by \(names.isEmpty ? "nothing" : names)"
      )
    }
    return TrainingGroup(scope: scope, loss: owner, seedType: seedType, seedShape: t.doubles.map { Int($0) })
  }

  /// Creates Adam's step counter for each group with Adam updates (AdamOptimizer's
  /// `<name>/iterations`, float64, 0 before the first step; `<name>` from the slots' names,
  /// `w/Adam`), before any node is built, so that the file's initializer can include it.
  mutating func createStepCounters() throws {
    for g in training.groups.indices {
      guard let adam = training.groups[g].updates.first(where: { if case .adam = $0.kind { true } else { false } }) else { continue }
      let prefix = adam.variable + "/"
      let slot = adam.slots[0]
      let optimizerName = slot.hasPrefix(prefix) && !slot.dropFirst(prefix.count).contains("/") ? String(slot.dropFirst(prefix.count)) : "Adam"
      let start = graph.constant(0, dtype: .float64, name: "\(optimizerName)/iterations/initial_value")
      let variable = try graph.variable(start, trainable: false, name: "\(optimizerName)/iterations")
      training.groups[g].counter = (variable, start)
      // TensorFlow's β₁ᵗ and β₂ᵗ variables: what a TensorFlow checkpoint holds of the count.
      let data = dataInputs(defs[adam.node])
      graph.tensorFlowStepCounters[variable.operation.name] = zip([3, 4], adam.hyperparameters.prefix(2)).compactMap { k, beta in
        follow(data[k], through: ["Cast", "Identity", "ReadVariableOp", "Snapshot"]).map { (defs[$0.node].name, beta) }
      }
    }
  }

  /// The initializers of the step counters for `NoOp` node `d` when it initializes TensorFlow's
  /// beta powers they stand for (`init` waits for `beta1_power/Assign`): so the file's own
  /// initializer (`session.run(init)`, as in TensorFlow) initializes the counter too, and stays
  /// the graph's reusable initializer.
  mutating func stepCounterInitializers(for d: TFNodeDef) throws -> [Operation] {
    var result: [Operation] = []
    for g in training.groups.indices {
      guard let (counter, start) = training.groups[g].counter,
        training.groups[g].betaPowers.contains(where: { d.inputs.contains("^" + $0 + "/Assign") })
      else { continue }
      if training.groups[g].counterInitializer == nil {
        training.groups[g].counterInitializer = try assign(counter, start, name: counter.operation.name + "/Assign").operation
      }
      if let op = training.groups[g].counterInitializer { result.append(op) }
    }
    return result
  }

  /// Builds group `g`'s updates (called when its first update node is built): Backprop's
  /// gradients of the loss with respect to the group's variables, then each variable's update
  /// as Backprop's optimizer of the same kind builds it, grouped under the TensorFlow update
  /// node's name (so the file's training `NoOp`, which waits for those names, runs them).
  mutating func buildTrainingGroup(_ g: Int) throws {
    guard !training.groups[g].built else { return }
    training.groups[g].built = true
    let group = training.groups[g]
    let graph = self.graph
    let (lossNode, lossOutput) = Self.split(group.loss)
    guard let outs = try outputs[lossNode] ?? constant(named: lossNode), lossOutput < outs.count else {
      throw fail("the loss '\(group.loss)' of the gradient subgraph '\(group.scope)' has no such output")
    }
    let loss = outs[lossOutput]
    let updateNames = group.updates.map { defs[$0.node].name }
    guard loss.dtype == group.seedType, loss.dtype.isFloatingPoint,
      group.seedShape.map({ s in loss.shape.dimensions.count == s.count && zip(loss.shape.dimensions, s).allSatisfy { $0 == nil || $0 == $1 } }) ?? true
    else {
      throw fail(
        "the loss '\(loss.name)' \(loss.dtype) \(loss.shape) of the gradient subgraph '\(group.scope)' does not fit its seed '\(group.scope)/grad_ys_0' (\(group.seedType)\(group.seedShape.map { " \($0)" } ?? ""))"
      )
    }
    func variable(_ name: String) throws -> Tensor {
      guard let t = outputs[name]?.first, t.isVariable else { throw fail("'\(name)' is not a variable") }
      return t
    }
    let variables = try group.updates.map { try variable($0.variable) }
    // Backprop's gradients go under the first component of the update nodes' common scope
    // (`train/gradients/...`), each update under its node's name.
    var common = updateNames[0].split(separator: "/").dropLast().map(String.init)
    for n in updateNames.dropFirst() {
      let parts = n.split(separator: "/").dropLast().map(String.init)
      common = Array(zip(common, parts).prefix { $0 == $1 }.map(\.0))
    }
    let scope = common.prefix(1).joined(separator: "/")
    func inScope<R>(_ body: () throws -> R) rethrows -> R { scope.isEmpty ? try body() : try graph.withNameScope(scope, body) }
    let gradients = try inScope { try GraphCore.gradients(of: [loss], withRespectTo: variables) }
    let counter = group.counter?.variable
    /// Update `u`'s learning rate in `dtype`: its constant, or the file's tensor (TensorFlow's
    /// update operations take it in the variable's dtype; Adam's step size takes it in float64).
    func rate(_ u: TrainingUpdate, dtype: DType) throws -> Tensor {
      switch u.learningRate {
      case .constant(let value): return graph.constant(value, dtype: dtype, name: "learning_rate")
      case .tensor(let input):
        let (n, k) = Self.split(input)
        guard let outs = try outputs[n] ?? constant(named: n), k < outs.count else {
          throw fail("node '\(defs[u.node].name)' (\(defs[u.node].op)): its learning rate '\(input)' has no such output")
        }
        let t = outs[k]
        guard t.dtype.isFloatingPoint, t.shape.dimensions.allSatisfy({ $0 == 1 }) else {
          throw fail(
            "node '\(defs[u.node].name)' (\(defs[u.node].op)): its learning rate '\(input)' is \(t.dtype) \(t.shape); expected one floating-point value")
        }
        return t.dtype == dtype ? t : try cast(t, to: dtype)
      }
    }
    var stepSizes: [String: Tensor] = [:]
    var perVariable: [[Operation]] = []
    for (u, (v, gradient)) in zip(group.updates, zip(variables, gradients)) {
      let name = defs[u.node].name
      guard let gradient else {
        throw fail("node '\(name)' (\(defs[u.node].op)): the loss '\(loss.name)' does not depend on its variable '\(v.name)'")
      }
      let ops: [Operation] = try graph.withNameScope(name) {
        switch u.kind {
        case .gradientDescent:
          let lr = try rate(u, dtype: v.dtype)
          return [try gradientDescentUpdate(v, gradient: gradient, learningRate: lr)]
        case let .momentum(nesterov):
          let lr = try rate(u, dtype: v.dtype)
          return try momentumUpdate(
            v, accumulator: variable(u.slots[0]), gradient: gradient, learningRate: lr, momentum: u.hyperparameters[0],
            nesterov: nesterov)
        case .adam:
          let (beta1, beta2, epsilon) = (u.hyperparameters[0], u.hyperparameters[1], u.hyperparameters[2])
          let key = "\(u.learningRate)/\(beta1)/\(beta2)/\(v.dtype)"
          let stepSize: Tensor
          if let known = stepSizes[key] {
            stepSize = known
          } else {
            // η_t from the step counter, as AdamOptimizer's (`adamStepSize`).
            let lr = try rate(u, dtype: .float64)
            guard let counter else { throw fail("node '\(name)': no step counter") }
            let p1 = try graph.apply(StepPower(base: beta1), [counter + 1.0], name: "beta1_power")
            let p2 = try graph.apply(StepPower(base: beta2), [counter + 1.0], name: "beta2_power")
            stepSize = try adamStepSize(learningRate: lr, beta1Power: p1, beta2Power: p2, dtype: v.dtype)
            stepSizes[key] = stepSize
          }
          return [
            try applyAdam(
              v, m: variable(u.slots[0]), v: variable(u.slots[1]), gradient: gradient, stepSize: stepSize, beta1: beta1, beta2: beta2,
              epsilon: epsilon, name: "update")
          ]
        case .adagrad:
          let lr = try rate(u, dtype: v.dtype)
          return try adagradUpdate(v, accumulator: variable(u.slots[0]), gradient: gradient, learningRate: lr)
        case let .rmsProp(centered):
          let lr = try rate(u, dtype: v.dtype)
          return try rmsPropUpdate(
            v, meanSquare: variable(u.slots[0]), meanGradient: centered ? variable(u.slots[1]) : nil,
            momentumAccumulator: variable(u.slots[u.slots.count - 1]), gradient: gradient, learningRate: lr,
            decay: u.hyperparameters[0], momentum: u.hyperparameters[1], epsilon: u.hyperparameters[2])
        }
      }
      perVariable.append(ops)
    }
    let increment = try counter.map { c in
      try inScope { try assignAdd(c, graph.constant(1, dtype: .float64, name: "one"), name: "increment_iterations") }
    }
    for (u, ops) in zip(group.updates, perVariable) {
      let d = defs[u.node]
      var all = ops
      if case .adam = u.kind, let increment { all.append(increment) }
      let op = try graph.addOperation(NoOp(), inputs: [], controlDependencies: all + controlOperations(d), name: d.name)
      graph.nodes[op.id].name = d.name
      operations[d.name] = op
      outputs[d.name] = []
    }
    for j in training.skipped where defs[j].name.hasPrefix(group.scope + "/") {
      graph.skippedTensorFlowNodes[defs[j].name] =
        "is a node of TensorFlow's gradient subgraph '\(group.scope)', which importing skipped: the updates \(updateNames.map { "'\($0)'" }.joined(separator: ", ")) were rebuilt with Backprop's gradients of their loss, so TensorFlow's gradient nodes have no value here (compute gradients with gradients(of:withRespectTo:))"
    }
  }
}

extension Graph {
  /// The tensor named `name`, as ``tensor(named:)`` finds it, or an error saying why there is
  /// none: a node of TensorFlow's Saver (skipped when importing), a node of TensorFlow's own
  /// gradient subgraph in an imported TF1 training graph
  /// (``init(graphDef:source:)`` skips those nodes and rebuilds the training operation with
  /// Backprop's gradients, so their values have no name here: compute the gradients you need
  /// with ``gradients(of:withRespectTo:gradientSeeds:unconnected:file:line:)``), or no such
  /// tensor at all.
  /// - Throws: ``GraphError/invalidArgument(op:reason:location:)`` saying which.
  public func requiredTensor(named name: String) throws -> Tensor {
    if let t = tensor(named: name) { return t }
    let node = GraphDefImporter.split(name).0
    if let reason = skippedTensorFlowNodes[node] {
      throw GraphError.invalidArgument(op: "tensor(named:)", reason: "'\(name)' " + reason, location: nil)
    }
    throw GraphError.invalidArgument(op: "tensor(named:)", reason: "no tensor is named '\(name)'", location: nil)
  }
}

extension GraphDefImporter {
  /// TF1's step counter (`tf.train.get_or_create_global_step()`, which `minimize(loss,
  /// global_step:)` increments and learning-rate schedules read) is an int64 variable, a dtype
  /// Backprop does not have. A variable used only as a counter is imported as a float64 one
  /// (exact up to 2⁵³ steps, where int32 would wrap after 2³¹): the int64 variable whose every
  /// reader is an assignment or increment by an int64 constant (`Assign`, `AssignAdd`,
  /// `AssignSub` and their `*VariableOp` forms), an initialization check, or a read (`ReadVariableOp`,
  /// `Identity`, `Snapshot`) that only `Cast`s read; its constants must be read by those
  /// assignments alone and hold integers of at most 2⁵³ in magnitude. Their nodes are rewritten
  /// here, before anything else reads the file: the variable, its reads and constants become
  /// float64 (each cast then converts from float64, which rounds as from int64 for such
  /// integers), and the variable is not trainable (as TensorFlow's global step). Any other int64
  /// tensor is still refused, naming its node. The `skipped` nodes (the Saver's) do not count as
  /// readers.
  mutating func convertStepCounters(ignoring skipped: Set<Int>) {
    var readers: [String: [Int]] = [:]
    for (i, d) in defs.enumerated() where !skipped.contains(i) {
      for input in dataInputs(d) { readers[Self.split(input).0, default: []].append(i) }
    }
    let assignments: Set<String> = [
      "Assign", "AssignAdd", "AssignSub", "AssignVariableOp", "AssignAddVariableOp", "AssignSubVariableOp",
    ]
    /// Whether `name`'s data readers are all `Cast`s.
    func readByCastsOnly(_ name: String) -> Bool {
      (readers[name] ?? []).allSatisfy { defs[$0].op == "Cast" }
    }
    for (v, d) in defs.enumerated() where Self.isVariable(d.op) {
      guard case let .type(code)? = d.attrs["dtype"], code == 9 || code == 109 else { continue }
      var reads: [Int] = [], constants: [Int] = [], casts: [Int] = []
      var isCounter = true
      for r in readers[d.name] ?? [] {
        let reader = defs[r], data = dataInputs(reader)
        guard Self.split(data.first ?? "").0 == d.name, !data.dropFirst().contains(where: { Self.split($0).0 == d.name }) else {
          isCounter = false
          break
        }
        switch reader.op {
        case _ where assignments.contains(reader.op):
          guard data.count == 2, let c = byName[Self.split(data[1]).0], defs[c].op == "Const",
            case let .int64Tensor(values, _)? = defs[c].attrs["value"], values.allSatisfy({ $0.magnitude <= 1 << 53 }),
            (readers[defs[c].name] ?? []).allSatisfy({ assignments.contains(defs[$0].op) && Self.split(dataInputs(defs[$0])[0]).0 == d.name }),
            readByCastsOnly(reader.name)
          else {
            isCounter = false
            break
          }
          reads.append(r)
          constants.append(c)
          casts += readers[reader.name] ?? []
        case "ReadVariableOp", "Identity", "Snapshot":
          guard readByCastsOnly(reader.name) else {
            isCounter = false
            break
          }
          reads.append(r)
          casts += readers[reader.name] ?? []
        case "VarIsInitializedOp", "IsVariableInitialized":
          break
        default:
          isCounter = false
        }
        if !isCounter { break }
      }
      guard isCounter else { continue }
      defs[v].attrs["dtype"] = .type(2)
      defs[v].attrs["_backprop_trainable"] = .bool(false)
      for r in reads {
        for key in ["T", "dtype"] where defs[r].attrs[key] != nil { defs[r].attrs[key] = .type(2) }
      }
      for c in constants {
        guard case let .int64Tensor(values, shape)? = defs[c].attrs["value"] else { continue }
        defs[c].attrs["value"] = .tensor(NDArray(values.map { Double($0) }, shape: Shape(shape)))
        defs[c].attrs["dtype"] = .type(2)
      }
      for c in casts { defs[c].attrs["SrcT"] = .type(2) }
    }
  }
}

extension GraphDefImporter {
  /// The operations of TF1's `tf.compat.v1.train.Saver`, which write and read checkpoints.
  static let saverOperations: Set<String> = [
    "SaveV2", "RestoreV2", "Save", "SaveSlices", "Restore", "RestoreSlice", "MergeV2Checkpoints", "ShardedFilename",
    "ShardedFilespec", "StringJoin",
  ]

  /// The nodes of TF1's Saver, which importing skips (Backprop reads the checkpoint itself:
  /// ``Checkpoint/restore(session:fromTensorFlow:)``): its save and restore operations, every
  /// node that reads them (the restored values' `Assign`s, `save/restore_all`, the saved path's
  /// `Identity`), and the string-typed nodes only those read (file and tensor names).
  func saverNodes() -> Set<Int> {
    var skipped = Set(defs.indices.filter { Self.saverOperations.contains(defs[$0].op) })
    if skipped.isEmpty { return [] }
    var readers: [String: [Int]] = [:]
    for (i, d) in defs.enumerated() {
      for input in d.inputs { readers[Self.split(input).0, default: []].append(i) }
    }
    var pending = Array(skipped)
    while let i = pending.popLast() {
      for r in readers[defs[i].name] ?? [] where skipped.insert(r).inserted { pending.append(r) }
    }
    func isString(_ d: TFNodeDef) -> Bool {
      if case .unsupportedTensor(7)? = d.attrs["value"] { return true }
      return ["dtype", "T"].contains { key in if case .type(7)? = d.attrs[key] { true } else { false } }
    }
    var changed = true
    while changed {
      changed = false
      for (i, d) in defs.enumerated() where !skipped.contains(i) && isString(d) {
        let readBy = readers[d.name] ?? []
        if !readBy.isEmpty && readBy.allSatisfy(skipped.contains) {
          skipped.insert(i)
          changed = true
        }
      }
    }
    return skipped
  }
}
