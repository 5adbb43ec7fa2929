import ArrayCore

// Per-operation timings of a session's runs (``Session/Options/profiles``): where a training
// step's time goes, operation by operation, as TF1's `RunMetadata` step stats and PyTorch's
// profiler table report it.

/// One operation's share of the runs a session profiled.
public struct OperationProfile: Sendable, Hashable {
  /// The operation's name in the graph (`gradients/conv2/Conv2D_grad/Conv2DBackpropFilter`);
  /// for a fused kernel, the name of the last operation of its chain.
  public var name: String
  /// The kernel that ran: the operation's type (`MatMul`), or a fused kernel's
  /// (`Conv2D+Add+Relu`).
  public var type: String
  /// How many times it ran.
  public var calls: Int
  /// The time its kernel took over all those calls, in seconds (wall clock, the kernel's own
  /// threads included).
  public var seconds: Double
}

/// The operations a session ran while profiling (``Session/Options/profiles``), the slowest
/// first, with a table for printing.
///
/// ```swift
/// let session = Session(graph: graph, options: Session.Options(profiles: true))
/// for _ in 0..<100 { try session.run(train, feeding: [x: batch, y: labels]) }
/// print(session.profile)          // share, total, calls and type of every operation
/// ```
public struct RunProfile: Sendable, CustomStringConvertible {
  /// The operations that ran, by total time, the slowest first (equal times in the graph's
  /// creation order).
  public var operations: [OperationProfile]
  /// What the entries are, for the table's last line: `operations`, or `kernel types`
  /// (``groupedByType()``).
  var entriesName = "operations"
  /// The entries of `unordered`, the slowest first; equal times keep their order there (a
  /// stable sort: the graph's creation order, or the order types first appear).
  init(slowestFirst unordered: [OperationProfile], entriesName: String = "operations") {
    let order = unordered.indices.sorted { a, b in
      unordered[a].seconds != unordered[b].seconds ? unordered[a].seconds > unordered[b].seconds : a < b
    }
    operations = order.map { unordered[$0] }
    self.entriesName = entriesName
  }

  /// The sum of the operations' times, in seconds.
  public var totalSeconds: Double { operations.reduce(0) { $0 + $1.seconds } }

  /// A table of the `limit` slowest operations (all by default): share of the total, total
  /// milliseconds, calls, milliseconds per call, type and name (the type alone when they are
  /// the same); then the total.
  public func table(limit: Int? = nil) -> String {
    let total = totalSeconds
    let shown = operations.prefix(max(0, limit ?? operations.count))
    var lines = ["  share   total ms    calls   ms/call  type / name"]
    for op in shown {
      let share = total > 0 ? 100 * op.seconds / total : 0
      let ms = op.seconds * 1e3
      lines.append(
        "\(pad(fixed(share, 1), 6))%  \(pad(fixed(ms, 2), 9))  \(pad(String(op.calls), 7))  "
          + "\(pad(fixed(ms / Double(max(op.calls, 1)), 3), 8))  \(op.type)" + (op.name == op.type ? "" : "  \(op.name)"))
    }
    if shown.count < operations.count { lines.append("  (\(operations.count - shown.count) more)") }
    lines.append("total \(fixed(total * 1e3, 2)) ms in \(operations.count) \(entriesName)")
    return lines.joined(separator: "\n")
  }

  /// The same times summed by kernel type (PyTorch's `key_averages()`, TensorBoard's "by
  /// operation type" view): one entry per type, named by the type, its calls and seconds the
  /// sums of its operations'; the slowest first (equal times in the order the types first
  /// appear in ``operations``).
  public func groupedByType() -> RunProfile {
    var grouped: [OperationProfile] = []
    var index: [String: Int] = [:]  // (only finds a type's entry: the order is `grouped`'s)
    for op in operations {
      if let i = index[op.type] {
        grouped[i].calls += op.calls
        grouped[i].seconds += op.seconds
      } else {
        index[op.type] = grouped.count
        grouped.append(OperationProfile(name: op.type, type: op.type, calls: op.calls, seconds: op.seconds))
      }
    }
    return RunProfile(slowestFirst: grouped, entriesName: "kernel types")
  }

  /// ``table(limit:)`` of every operation.
  public var description: String { table() }
}

/// One node's accumulated timings (see ``Session/profileEntries``).
struct ProfileEntry {
  var seconds: Double = 0
  var calls = 0
  var type = ""
}

extension Session {
  /// What the runs since the session was made, or since ``resetProfile()``, spent in each
  /// operation (empty unless ``Options/profiles`` is on).
  public var profile: RunProfile {
    lock.withLock {
      var operations: [OperationProfile] = []
      for (node, entry) in profileEntries.enumerated() where entry.calls > 0 {
        operations.append(
          OperationProfile(name: graph.nodes[node].name, type: entry.type, calls: entry.calls, seconds: entry.seconds))
      }
      return RunProfile(slowestFirst: operations)
    }
  }

  /// Forgets the timings gathered so far (to profile only the steps after a warm-up).
  public func resetProfile() {
    lock.withLock { profileEntries.removeAll() }
  }

  /// Adds one execution of `step` (the caller holds the lock).
  func recordProfile(_ step: Plan.Step, seconds: Double) {
    if profileEntries.count <= step.node {
      profileEntries.append(contentsOf: repeatElement(ProfileEntry(), count: step.node + 1 - profileEntries.count))
    }
    if profileEntries[step.node].calls == 0 {
      profileEntries[step.node].type = step.fused?.typeName ?? step.primitive.typeName
    }
    profileEntries[step.node].calls += 1
    profileEntries[step.node].seconds += seconds
  }
}

extension Duration {
  /// The duration in seconds.
  var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}

/// `value` (a time or a share: not negative) with `digits` decimals.
private func fixed(_ value: Double, _ digits: Int) -> String {
  var scale = 1
  for _ in 0..<digits { scale *= 10 }
  guard value.isFinite, value >= 0, value * Double(scale) < 1e15 else { return String(value) }
  let n = Int((value * Double(scale)).rounded())
  let fraction = String(n % scale)
  return digits == 0 ? String(n) : "\(n / scale)." + String(repeating: "0", count: digits - fraction.count) + fraction
}

/// `text` right-aligned in `width` columns.
private func pad(_ text: String, _ width: Int) -> String {
  String(repeating: " ", count: max(0, width - text.count)) + text
}
