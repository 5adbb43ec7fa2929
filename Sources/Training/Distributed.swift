import ArrayCore
import GraphCore

/// Data-parallel training (Horovod's recipe for TensorFlow 1 graphs, Sergeev & Del Balso 2018,
/// "Horovod: fast and easy distributed deep learning in TensorFlow"): every rank builds the same
/// graph, rank 0's initial variables are broadcast to all (`Session.broadcastVariables(from:over:)`),
/// each rank computes the gradients of its shard of the global batch, and the gradients are
/// averaged across the ranks by one all-reduce before the wrapped optimizer applies them. Every
/// rank then makes the same update, so the variables stay identical.
///
/// With `N` ranks each taking `B` samples of a global batch of `N·B`, and a loss that is a mean
/// over the batch, the averaged gradient `(1/N) Σ_r (1/B) Σ_{i∈r} ∇ℓ_i = (1/(N·B)) Σ_i ∇ℓ_i` is the
/// gradient of one rank training on the whole global batch: the runs agree up to rounding.
///
/// The learning rate is the user's: nothing is scaled. The usual convention when moving from a
/// per-rank batch `B` to `N` ranks (a global batch `N·B`) is the linear scaling rule of Goyal et
/// al. 2017 ("Accurate, Large Minibatch SGD"): multiply the single-process learning rate by `N`,
/// with a warm-up; choose it explicitly.
///
/// Tensor fusion: all the gradients of one dtype travel in one flat buffer, reduced by a single
/// `AllReduce` per step (one per dtype when the variables mix float32 and float64).
public struct DistributedOptimizer: Optimizer {
  /// The optimizer that applies the averaged gradients.
  public let base: any Optimizer
  /// The ranks.
  public let communicator: any Communicator
  /// How the ranks' gradients are combined (`mean` by default).
  public let reduction: CollectiveReduction

  /// The wrapped optimizer's name, so slots and checkpoints are named as without the wrapper.
  public var name: String { base.name }

  /// Wraps `base`.
  public init(_ base: any Optimizer, communicator: any Communicator, reduction: CollectiveReduction = .mean) {
    self.base = base
    self.communicator = communicator
    self.reduction = reduction
  }

  /// Averages the gradients across the ranks (one fused `AllReduce` per dtype), then
  /// lets the wrapped optimizer apply them.
  public func applyGradients(_ pairs: [GradientAndVariable], name: String, location: SourceLocation) throws -> Operation {
    guard let graph = pairs.first?.gradient.graph else {
      throw GraphError.invalidArgument(op: "DistributedOptimizer", reason: "no gradients to apply", location: location)
    }
    var reduced = pairs
    var dtypes: [DType] = []
    for p in pairs where !dtypes.contains(p.gradient.dtype) { dtypes.append(p.gradient.dtype) }
    try graph.withNameScope("\(name)_allreduce") {
      for dtype in dtypes {
        let indices = pairs.indices.filter { pairs[$0].gradient.dtype == dtype }
        let outputs = try graph.addOperation(
          AllReduce(reduction: reduction, root: nil, communicator: communicator),
          inputs: indices.map { pairs[$0].gradient }, name: "fused_\(dtype)", location: location
        ).outputs
        for (i, out) in zip(indices, outputs) { reduced[i].gradient = out }
      }
    }
    return try base.applyGradients(reduced, name: name, location: location)
  }
}

extension Session {
  /// Copies rank `root`'s value of every initialized variable (weights, optimizer slots, step
  /// counters) to every rank, in one broadcast per call through one flat buffer. Call it after
  /// initializing (or restoring) and before the first step, so all ranks start equal. It first
  /// checks that every rank built the same variables (`verifySameVariables(over:)`).
  /// - Throws: `DistributedError`.
  public func broadcastVariables(from root: Int = 0, over communicator: any Communicator) throws {
    try verifySameVariables(over: communicator)
    let variables = graph.variables
    var values: [NDArray] = []
    for v in variables {
      do {
        values.append(try value(of: v))
      } catch {
        throw DistributedError.invalidArgument(
          operation: "broadcastVariables", reason: "variable '\(v.name)' is not initialized; initialize before broadcasting")
      }
    }
    let received = try communicator.broadcast(values, root: root)
    for (v, value) in zip(variables, received) { try setValue(value, for: v) }
  }

  /// Checks that every rank's graph has the same variables: each rank hashes the names, shapes
  /// and dtypes of its variables (FNV-1a, 64 bits) and the hashes are gathered; when they
  /// differ, the ranks' descriptions are gathered too and the first difference is named.
  /// - Throws: `graphMismatch` on every rank, before any
  ///   training.
  public func verifySameVariables(over communicator: any Communicator) throws {
    let lines = graph.variables.map { "\($0.operation.name) \($0.dtype) \($0.shape)" }
    guard let (hashes, descriptions) = try communicator.differingLines(lines) else { return }
    var reasons: [String] = []
    for r in 1..<hashes.count where hashes[r] != hashes[0] {
      let mine = descriptions[0], theirs = descriptions[r]
      var detail = "\(theirs.count) variables on rank \(r), \(mine.count) on rank 0"
      for i in 0..<Swift.min(mine.count, theirs.count) where mine[i] != theirs[i] {
        detail = "variable \(i + 1) is '\(theirs[i])' on rank \(r) but '\(mine[i])' on rank 0"
        break
      }
      reasons.append("rank \(r) (variables hash \(hex(hashes[r])) vs \(hex(hashes[0]))): \(detail)")
    }
    throw DistributedError.graphMismatch(
      reason: reasons.joined(separator: "; ") + ". Start every rank with the same model options (layer sizes, dtype).")
  }
}

extension Communicator {
  /// Checks that every rank was given the same settings: each rank hashes its `name=value`
  /// lines (FNV-1a, 64 bits) and the hashes are gathered; when they differ, the lines are
  /// gathered too and the first setting that differs is named. Call it with everything that
  /// must agree for the ranks to take the same steps (the seed that orders the samples, the
  /// batch size, the epochs, the learning rate, the number of samples): the graph check
  /// (`Session.verifySameVariables(over:)`) sees only the variables, and ranks that differ in
  /// these would silently train on overlapping shards, apply different updates, or stop at
  /// different steps with their collectives mismatched.
  /// - Throws: `DistributedError.settingsMismatch` on every rank (all of them find it in the
  ///   same collectives), naming the setting, the rank and both values.
  public func verifySameSettings(_ settings: [(name: String, value: String)]) throws {
    let lines = settings.map { "\($0.name)=\($0.value)" }
    guard let (hashes, gathered) = try differingLines(lines) else { return }
    func parse(_ line: String) -> (String, String) {
      let parts = line.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
      return (String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
    }
    var reasons: [String] = []
    for r in 1..<hashes.count where hashes[r] != hashes[0] {
      let mine = gathered[0].map(parse), theirs = gathered[r].map(parse)
      var detail = "\(theirs.count) settings on rank \(r), \(mine.count) on rank 0"
      for i in 0..<Swift.min(mine.count, theirs.count) where mine[i] != theirs[i] {
        detail =
          mine[i].0 == theirs[i].0
          ? "\(theirs[i].0) is \(theirs[i].1) on rank \(r) but \(mine[i].1) on rank 0"
          : "setting \(i + 1) is '\(theirs[i].0)' on rank \(r) but '\(mine[i].0)' on rank 0"
        break
      }
      reasons.append("rank \(r): \(detail)")
    }
    throw DistributedError.settingsMismatch(
      reason: reasons.joined(separator: "; ") + ". Start every rank with the same options and the same data.")
  }
}

private func hex(_ x: UInt64) -> String {
  let s = String(x, radix: 16)
  return String(repeating: "0", count: 16 - s.count) + s
}
