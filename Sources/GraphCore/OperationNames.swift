/// A symbolic graph's operation names and name scopes, by TF1's rules: a name is made unique
/// with `_1`, `_2`... suffixes, and a scope is pushed by `Graph.withNameScope`.
///
/// A class held by the graph only once it names something (eager graphs, which do not name
/// their operations, never make one: an eager step creates and frees graphs, and each
/// collection here would be one more field to destroy with each of them).
final class OperationNames {
  /// The name-scope stack, outermost first.
  private var scopes: [String] = []
  private var usedNames: Set<String> = []
  /// For a scoped base name, the suffix `unique` tries first (every smaller one is taken:
  /// names are never released, so the first free suffix only grows). Keeps naming O(1)
  /// amortized per name instead of a scan of `base_1`, `base_2`... each time.
  private var nextSuffix: [String: Int] = [:]
  /// Every operation name and every prefix of one that ends just before a `/`: the names and
  /// scopes in use, for `uniqueScope`.
  private var usedScopes: Set<String> = []
  /// For a scope name, the suffix `uniqueScope` tries first (as `nextSuffix`).
  private var nextScopeSuffix: [String: Int] = [:]
  /// The suffixes naming has tried (`unique`, `uniqueScope`): linear in the names made, which
  /// the tests check (a count, not a time).
  private(set) var probes = 0

  /// Pushes a scope.
  func push(_ scope: String) { scopes.append(scope) }

  /// Pops the innermost scope.
  func pop() { scopes.removeLast() }

  /// `base` in the current scopes, not made unique (for error messages about an operation that
  /// was not added).
  func scoped(_ base: String) -> String { (scopes + [base]).joined(separator: "/") }

  /// A name not yet used: the scoped `base`, or `base_1`, `base_2`... (TF1 rules); recorded.
  func unique(_ base: String) -> String {
    let scoped = scoped(base)
    let name: String
    if usedNames.insert(scoped).inserted {
      name = scoped
    } else {
      var i = nextSuffix[scoped] ?? 1
      while !usedNames.insert("\(scoped)_\(i)").inserted {
        i += 1
        probes += 1
      }
      probes += 1
      nextSuffix[scoped] = i + 1
      name = "\(scoped)_\(i)"
    }
    recordScopes(of: name)
    return name
  }

  /// Adds `name` and each prefix of it ending just before a `/` to `usedScopes`.
  private func recordScopes(of name: String) {
    var prefix = ""
    for c in name {
      if c == "/" { usedScopes.insert(prefix) }
      prefix.append(c)
    }
    usedScopes.insert(name)
  }

  /// `name`, or `name_1`, `name_2`...: the first that is neither an operation's name nor a
  /// scope of one (no operation is named `name/...`), in O(1) amortized (the layers' scopes).
  func uniqueScope(_ name: String) -> String {
    if !usedScopes.contains(name) { return name }
    var i = nextScopeSuffix[name] ?? 1
    while usedScopes.contains("\(name)_\(i)") {
      i += 1
      probes += 1
    }
    probes += 1
    nextScopeSuffix[name] = i
    return "\(name)_\(i)"
  }
}
