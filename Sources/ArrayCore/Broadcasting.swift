/// NumPy broadcasting, the single rule used both at graph-build time (with unknown sizes)
/// and at run time.
///
/// Shapes are aligned at their trailing dimensions; two sizes are compatible when they are equal
/// or one of them is 1; the result takes the larger. A missing leading dimension counts as 1.
/// `nil` stands for a size not known until run time: `nil` with 1 gives `nil`, `nil` with `n > 1`
/// gives `n` (checked again at run time).
/// - Throws: ``ShapeError`` naming both shapes when a pair of sizes is incompatible.
public func broadcastDimensions(_ a: [Int?], _ b: [Int?]) throws(ShapeError) -> [Int?] {
  let rank = max(a.count, b.count)
  var out = [Int?](repeating: 1, count: rank)
  for i in 0..<rank {
    let da: Int? = i < rank - a.count ? 1 : a[i - (rank - a.count)]
    let db: Int? = i < rank - b.count ? 1 : b[i - (rank - b.count)]
    switch (da, db) {
    case let (x?, y?):
      if x == y || y == 1 { out[i] = x } else if x == 1 { out[i] = y } else {
        throw ShapeError("shapes \(format(a)) and \(format(b)) cannot be broadcast")
      }
    case let (x?, nil): out[i] = x == 1 ? nil : x
    case let (nil, y?): out[i] = y == 1 ? nil : y
    case (nil, nil): out[i] = nil
    }
  }
  return out
}

/// Broadcasts two concrete shapes (NumPy rules).
/// - Throws: ``ShapeError`` when they are incompatible.
public func broadcastShape(_ a: Shape, _ b: Shape) throws(ShapeError) -> Shape {
  // Common cases first, without allocating: one shape already is the result.
  if a == b || dominates(a, b) { return a }
  if dominates(b, a) { return b }
  let d = try broadcastDimensions(a.dimensions.map { $0 }, b.dimensions.map { $0 })
  return Shape(d.map { $0! })
}

/// Whether broadcasting `b` against `a` gives `a` (every size of `b` is 1 or equal to `a`'s).
@inlinable func dominates(_ a: Shape, _ b: Shape) -> Bool {
  guard b.rank <= a.rank else { return false }
  let lead = a.rank - b.rank
  for i in 0..<b.rank where b[i] != 1 && b[i] != a[lead + i] { return false }
  return true
}

/// The axes of `shape` that must be summed to reduce an array of shape `shape` to `target`
/// (the inverse of broadcasting `target` up to `shape`): the leading extra axes and the axes
/// where `target` has size 1 and `shape` does not.
/// - Throws: ``ShapeError`` when `target` does not broadcast to `shape`.
public func reductionAxes(from shape: Shape, to target: Shape) throws(ShapeError) -> [Int] {
  guard target.rank <= shape.rank else {
    throw ShapeError("cannot reduce \(shape) to \(target)")
  }
  let lead = shape.rank - target.rank
  var axes = Array(0..<lead)
  for i in 0..<target.rank {
    let s = shape[lead + i]
    let t = target[i]
    if t == s { continue }
    guard t == 1 else { throw ShapeError("cannot reduce \(shape) to \(target)") }
    axes.append(lead + i)
  }
  return axes
}

/// Strides (in elements) for reading an array of shape `shape` as if broadcast to `target`:
/// 0 along broadcast dimensions. `shape` must broadcast to `target`.
@inlinable func broadcastStrides(_ shape: Shape, to target: Shape) -> [Int] {
  let own = shape.strides
  let lead = target.rank - shape.rank
  var out = [Int](repeating: 0, count: target.rank)
  for i in 0..<shape.rank where shape[i] != 1 || target[lead + i] == 1 {
    out[lead + i] = shape[i] == 1 ? 0 : own[i]
  }
  return out
}

func format(_ dims: [Int?]) -> String {
  "[" + dims.map { $0.map(String.init) ?? "?" }.joined(separator: ", ") + "]"
}
