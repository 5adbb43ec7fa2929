import ArrayCore

/// A table of per-step records (one row per logged step, one column per quantity) that
/// renders as CSV or as JSON Lines.
///
/// ```swift
/// var log = StepLog(columns: ["step", "loss", "A"])
/// log.append([1, 26.12, 5.4])
/// print(log.csv())         // step,loss,A\n1,26.12,5.4\n
/// print(log.jsonLines())   // {"step":1,"loss":26.12,"A":5.4}\n
/// ```
public struct StepLog: Sendable {
  /// The column names, in output order.
  public var columns: [String]
  /// The rows; each has one value per column.
  public private(set) var rows: [[Double]] = []

  /// Creates an empty log with the given columns.
  public init(columns: [String]) { self.columns = columns }

  /// Appends a row. Missing trailing values are written as NaN; extra values are dropped.
  public mutating func append(_ row: [Double]) {
    var r = Array(row.prefix(columns.count))
    while r.count < columns.count { r.append(.nan) }
    rows.append(r)
  }

  /// CSV text (RFC 4180): a header line, then one line per row. Numbers use the shortest text
  /// that reads back as the same value: a value exactly representable as a `Float` (a float32
  /// result) in `Float`'s shortest form, which parses back to that same `Float`
  /// (`98.58919`, not `98.58918762207031`), others in `Double`'s (`0.1`, `1e-05`); NaN and infinities are written `nan`, `inf`, `-inf`, which
  /// NumPy and pandas read back as floats.
  public func csv() -> String {
    var text = StepLog.csvLine(columns)
    for row in rows { text += StepLog.csvLine(row.map(StepLog.numberText)) }
    return text
  }

  /// JSON Lines text: one object per row, keys in column order. Non-finite numbers (which
  /// JSON cannot represent) are written as `null`.
  public func jsonLines() -> String {
    rows.map { StepLog.jsonLine(zip(columns, $0).map { ($0, $1) }) }.joined()
  }

  /// One CSV line (with its newline) from fields, quoting those that need it.
  public static func csvLine(_ fields: [String]) -> String {
    fields.map { field in
      if field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) {
        return "\"" + field.replacing("\"", with: "\"\"") + "\""
      }
      return field
    }.joined(separator: ",") + "\n"
  }

  /// One JSON object on one line (with its newline) from ordered key-value pairs.
  public static func jsonLine(_ fields: [(String, Double)]) -> String {
    "{" + fields.map { "\"\(escapeJSON($0.0))\":\(jsonNumber($0.1))" }.joined(separator: ",") + "}\n"
  }

  /// A number as JSON: the shortest text that reads back as exactly `v` (see `csv()`), or
  /// `null` when `v` is not finite.
  public static func jsonNumber(_ v: Double) -> String {
    guard v.isFinite else { return "null" }
    return numberText(v)
  }

  /// The shortest text that reads back as `v`: integral values below 2⁵³ without a fraction,
  /// values exactly representable as a `Float` (float32 results) in `Float`'s shortest form
  /// (`98.58919` rather than `98.58918762207031`; parsed as a float32 it is exactly `v`),
  /// others in `Double`'s shortest round-trip form.
  static func numberText(_ v: Double) -> String {
    if v.isFinite, v == v.rounded(), abs(v) < 9_007_199_254_740_992 { return String(Int64(v)) }
    if v.isFinite, let f = Float(exactly: v) { return f.description }
    return v.description
  }
}

