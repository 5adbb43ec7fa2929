import ArrayCore

/// An error from the data pipeline: a file that cannot be read or parsed, or an invalid
/// argument. Every CSV message names the source, the 1-based line number in the file and the
/// 1-based column (with its header name when there is one):
/// `digits.csv, line 12, column 5 ("pixel_4"): "abc" is not a number`.
public enum DatasetError: Error, Sendable, Equatable, CustomStringConvertible {
  /// The file could not be read (`reason` is the system's explanation).
  case unreadableFile(path: String, reason: String)
  /// The source has no data rows (it is empty, blank, or only a header).
  case emptyFile(source: String)
  /// A row has a different number of cells than the first row.
  case raggedRow(source: String, line: Int, expectedColumns: Int, foundColumns: Int)
  /// A cell is not a finite number.
  case nonNumericCell(source: String, line: Int, column: Int, columnName: String?, text: String)
  /// A number the dtype it is converted to cannot hold (`1e300` in float32, `2.7` or `3e9` in
  /// int32, `0.5` in bool).
  case valueOutOfRange(source: String, line: Int, column: Int, columnName: String?, text: String, dtype: String)
  /// A class label is not a non-negative integer that fits `Int32`.
  case invalidLabel(source: String, line: Int, column: Int, columnName: String?, text: String)
  /// The requested label column does not exist (`available` describes what does).
  case missingLabelColumn(source: String, requested: String, available: String)
  /// An argument is out of range or arrays do not fit together (`operation` names the call).
  case invalidArgument(operation: String, reason: String)
  /// A binary file (IDX) does not follow its format: bad magic number, a header that does not
  /// match the file's size, truncation.
  case malformedFile(source: String, reason: String)
  /// Files a data set needs are missing (`help` says how to get them).
  case missingFiles(paths: [String], help: String)

  /// A one-line message naming the source, row and column; text from the file is quoted as a
  /// short escaped excerpt (``SafeText``), so the message is safe to print.
  public var description: String { SafeText.printable(rawDescription) }

  private var rawDescription: String {
    func cell(_ line: Int, _ column: Int, _ name: String?) -> String {
      "line \(line), column \(column)" + (name.map { " (\"\(SafeText.excerpt($0))\")" } ?? "")
    }
    switch self {
    case let .unreadableFile(path, reason):
      return "\(path): cannot read: \(reason)"
    case let .emptyFile(source):
      return "\(source): no data rows (the file is empty or has only a header)"
    case let .raggedRow(source, line, expected, found):
      return "\(source), line \(line): row has \(found) columns, expected \(expected) like the first row"
    case let .nonNumericCell(source, line, column, name, text):
      return "\(source), \(cell(line, column, name)): \(text.isEmpty ? "empty cell" : "\"\(SafeText.excerpt(text))\"") is not a number"
    case let .valueOutOfRange(source, line, column, name, text, dtype):
      let rule =
        switch dtype {
        case "int32": "it must be an integer from -2147483648 to 2147483647"
        case "bool": "it must be 0 or 1"
        default: "its magnitude must be below 3.4e38"
        }
      return "\(source), \(cell(line, column, name)): \(text) is out of the range of \(dtype) (\(rule))"
    case let .invalidLabel(source, line, column, name, text):
      return "\(source), \(cell(line, column, name)): class label \"\(SafeText.excerpt(text))\" is not a non-negative integer"
    case let .missingLabelColumn(source, requested, available):
      return "\(source): no label column \(requested) (\(available))"
    case let .invalidArgument(operation, reason):
      return "\(operation): \(reason)"
    case let .malformedFile(source, reason):
      return "\(source): \(reason)"
    case let .missingFiles(paths, help):
      return "missing \(paths.count == 1 ? "file" : "files") \(paths.joined(separator: ", ")); \(help)"
    }
  }
}
