import ArrayCore

/// Which column of a CSV file holds the labels.
public enum LabelColumn: Sendable, Equatable {
  /// The last column (the default, as in the UCI digits file).
  case last
  /// The column at a 0-based index; negative indices count from the end (`-1` is the last).
  case index(Int)
  /// The column with this header name (needs a header row).
  case name(String)
}

/// How CSV labels are stored.
public enum LabelKind: Sendable, Equatable {
  /// Class indices: each label must be a non-negative integer; stored as int32, shape `[n]`.
  case classIndex
  /// Real-valued targets (regression), stored as float32, shape `[n]`.
  case value
}

/// A CSV file of numbers, parsed: an optional header and a matrix of `Double` values, with the
/// file line number of every row so later errors can name it.
///
/// The dialect: one record per line (`\n` or `\r\n`), cells separated by `separator` (`,` by
/// default), optional double quotes around a cell (`""` inside quotes is a quote), spaces around
/// cells ignored, blank lines skipped, a UTF-8 byte order mark at the start skipped. Every data
/// cell must be a finite number (`1`, `-0.5`, `3e-4`); every row must have as many cells as the
/// first. Files are read whole, up to ``SizeLimits/maximumAllocationBytes`` (regular files
/// only); a gzip file's decompressed contents are limited to ``maximumDecompressedBytes``.
public struct NumericTable: Sendable {
  /// The name used in error messages (the path, or `<csv>`).
  public let source: String
  /// The header cells, if the file has a header row.
  public let header: [String]?
  /// The number of data rows.
  public let rowCount: Int
  /// The number of columns.
  public let columnCount: Int
  /// The values, row-major: row `i`, column `j` at `i · columnCount + j`.
  public let values: [Double]
  /// The 1-based line number in the file of each data row.
  public let lineNumbers: [Int]

  /// Reads and parses a CSV file; a gzip-compressed file (`.csv.gz`, recognized by its magic
  /// number) is decompressed first.
  /// - Throws: ``DatasetError`` (unreadable or corrupt file, no data rows, ragged row,
  ///   non-numeric cell).
  public init(contentsOfFile path: String, hasHeader: Bool = false, separator: Character = ",") throws(DatasetError) {
    let bytes: [UInt8]
    do {
      let raw = try FileIO.readBytes(atPath: path)
      bytes = Gzip.isGzip(raw) ? try Gzip.decompress(raw, source: path, maxOutputSize: Self.maximumDecompressedBytes) : raw
    } catch {
      switch error {
      case let .fileSystem(_, _, message): throw .unreadableFile(path: path, reason: message)
      case let .malformed(format, _, reason), let .unsupported(format, _, reason):
        throw .unreadableFile(path: path, reason: "not a valid \(format) file: \(reason)")
      case .invalidArgument: throw .unreadableFile(path: path, reason: error.description)
      }
    }
    try self.init(bytes: bytes, source: path, hasHeader: hasHeader, separator: separator)
  }

  /// The largest decompressed size of a gzip-compressed CSV file: 1 GiB, or
  /// ``SizeLimits/maximumAllocationBytes`` when that is smaller (all members of the file together).
  public static var maximumDecompressedBytes: Int { Swift.min(1 << 30, SizeLimits.maximumAllocationBytes) }

  /// Parses CSV text.
  /// - Throws: ``DatasetError`` (no data rows, ragged row, non-numeric cell).
  public init(text: String, source: String = "<csv>", hasHeader: Bool = false, separator: Character = ",") throws(DatasetError) {
    try self.init(bytes: Array(text.utf8), source: source, hasHeader: hasHeader, separator: separator)
  }

  /// Parses CSV bytes (UTF-8).
  public init(bytes: [UInt8], source: String, hasHeader: Bool, separator: Character = ",") throws(DatasetError) {
    guard let sep = separator.asciiValue, separator != "\"", separator != "\n" else {
      throw .invalidArgument(operation: "CSV", reason: "the separator must be an ASCII character other than '\"' and newline")
    }
    // Text has no NUL bytes; a binary file (an IDX image file given where a CSV belongs) would
    // otherwise be reported as its first bytes, escaped, "not a number".
    if bytes.contains(0) {
      throw .malformedFile(source: source, reason: "not CSV text: it contains NUL bytes (a binary file, such as IDX images?)")
    }
    self.source = source
    var header: [String]?
    var columns = -1
    var values: [Double] = []
    var lines: [Int] = []
    var lineNumber = 0
    // A UTF-8 byte order mark (EF BB BF, as spreadsheet programs write) is skipped.
    var start = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
    var cells: [String] = []
    while start < bytes.count {
      var end = start
      while end < bytes.count, bytes[end] != 0x0A { end += 1 }
      lineNumber += 1
      var lineEnd = end
      if lineEnd > start, bytes[lineEnd - 1] == 0x0D { lineEnd -= 1 }
      defer { start = end + 1 }
      if bytes[start..<lineEnd].allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
      // At most `columns` cells (or `maximumColumns` on the first line) become strings; the
      // rest are only counted, so a line of a billion separators costs no memory.
      let found = Self.splitCells(
        bytes[start..<lineEnd], separator: sep, into: &cells, keeping: columns < 0 ? Self.maximumColumns : columns)
      if columns < 0 {
        guard found <= Self.maximumColumns else {
          throw .unreadableFile(
            path: source, reason: "line \(lineNumber) has \(found) cells; a CSV table has at most \(Self.maximumColumns) columns")
        }
        columns = cells.count
        if hasHeader {
          header = cells
          continue
        }
      } else if found != columns {
        throw .raggedRow(source: source, line: lineNumber, expectedColumns: columns, foundColumns: found)
      }
      guard values.count <= Self.maximumValues - columns else {
        throw .unreadableFile(
          path: source,
          reason: "more than \(Self.maximumValues) values (at line \(lineNumber)); a CSV table holds at most \(Self.maximumValues) numbers (1 GiB of doubles)")
      }
      for (j, text) in cells.enumerated() {
        guard let v = Double(text), v.isFinite else {
          throw .nonNumericCell(source: source, line: lineNumber, column: j + 1, columnName: header?[j], text: text)
        }
        values.append(v)
      }
      lines.append(lineNumber)
    }
    guard !lines.isEmpty else { throw .emptyFile(source: source) }
    self.header = header
    self.columnCount = columns
    self.rowCount = lines.count
    self.values = values
    self.lineNumbers = lines
  }

  /// The most columns a CSV table may have: 1,048,576 (a first line with more is refused before
  /// its cells are stored).
  public static let maximumColumns = 1 << 20
  /// The most values a CSV table may hold: 2²⁷ (134,217,728: 1 GiB as doubles, and at most as
  /// much again for the line numbers), so that a small gzip file that decompresses to a
  /// gigabyte of `0\n` is refused rather than parsed into 8 GiB.
  public static let maximumValues = 1 << 27

  /// Splits one line into cells: quoted cells may contain the separator and `""`; unquoted cells
  /// are trimmed of spaces and tabs. Only the first `keeping` cells are stored in `cells`; the
  /// returned count includes the others.
  private static func splitCells(
    _ line: ArraySlice<UInt8>, separator: UInt8, into cells: inout [String], keeping limit: Int
  ) -> Int {
    cells.removeAll(keepingCapacity: true)
    var found = 0
    var i = line.startIndex
    while true {
      while i < line.endIndex, line[i] == 0x20 || line[i] == 0x09 { i += 1 }
      var cell: [UInt8] = []
      if i < line.endIndex, line[i] == 0x22 {
        i += 1
        while i < line.endIndex {
          if line[i] == 0x22 {
            if i + 1 < line.endIndex, line[i + 1] == 0x22 {
              cell.append(0x22)
              i += 2
              continue
            }
            i += 1
            break
          }
          cell.append(line[i])
          i += 1
        }
        while i < line.endIndex, line[i] != separator { i += 1 }
      } else {
        while i < line.endIndex, line[i] != separator { cell.append(line[i]); i += 1 }
        while let last = cell.last, last == 0x20 || last == 0x09 { cell.removeLast() }
      }
      found += 1
      if cells.count < limit { cells.append(String(decoding: cell, as: UTF8.self)) }
      if i < line.endIndex, line[i] == separator {
        i += 1
        continue
      }
      return found
    }
  }

  /// The 0-based index of `column`.
  /// - Throws: ``DatasetError/missingLabelColumn(source:requested:available:)``.
  public func index(of column: LabelColumn) throws(DatasetError) -> Int {
    switch column {
    case .last:
      return columnCount - 1
    case let .index(i):
      let j = i < 0 ? i + columnCount : i
      guard j >= 0, j < columnCount else {
        throw .missingLabelColumn(
          source: source, requested: "at index \(i)", available: "the file has \(columnCount) columns, indices 0...\(columnCount - 1)")
      }
      return j
    case let .name(name):
      guard let header else {
        throw .missingLabelColumn(
          source: source, requested: "named \"\(name)\"", available: "the file is read without a header; give the column index")
      }
      guard let j = header.firstIndex(of: name) else {
        throw .missingLabelColumn(
          source: source, requested: "named \"\(name)\"", available: "the header has " + header.prefix(20).map { "\"\(SafeText.excerpt($0))\"" }.joined(separator: ", ")
            + (header.count > 20 ? ", ... (\(header.count) columns)" : ""))
      }
      return j
    }
  }

  /// All columns as one `[rowCount, columnCount]` array of `dtype` (values are converted as
  /// they are: see ``checkedMatrix(dtype:)`` for a matrix that refuses values out of range).
  public func matrix(dtype: DType = .float32) -> NDArray {
    NDArray(converting: values, shape: [rowCount, columnCount], dtype: dtype)
  }

  /// All columns as one `[rowCount, columnCount]` array of `dtype`, after checking that `dtype`
  /// holds every value (`1e300` is finite as a Double but infinite as a float32; int32 takes
  /// integers in its range, bool 0 and 1).
  /// - Throws: ``DatasetError/valueOutOfRange(source:line:column:columnName:text:dtype:)``
  ///   naming the first such cell.
  public func checkedMatrix(dtype: DType = .float32) throws(DatasetError) -> NDArray {
    try checkRange(columns: 0..<columnCount, dtype: dtype)
    return matrix(dtype: dtype)
  }

  /// Throws for the first value of `columns` that `dtype` cannot hold: float32 beyond
  /// ±3.4028235e38 (infinite once converted), int32 a fraction or a value beyond its range (the
  /// conversion truncated 2.7 to 2 and saturated 3e9 to 2147483647, silently), bool anything but
  /// 0 and 1 (0.5 became `true`). Every value is a finite `Double` already.
  func checkRange(columns: Range<Int>, dtype: DType) throws(DatasetError) {
    let fits: (Double) -> Bool =
      switch dtype {
      case .float32: { Float($0).isFinite }
      case .float64: { _ in true }
      case .int32: { $0.rounded(.towardZero) == $0 && $0 >= Double(Int32.min) && $0 <= Double(Int32.max) }
      case .bool: { $0 == 0 || $0 == 1 }
      }
    let c = columnCount
    for i in 0..<rowCount {
      for j in columns where !fits(values[i * c + j]) {
        throw .valueOutOfRange(
          source: source, line: lineNumbers[i], column: j + 1, columnName: header?[j], text: String(values[i * c + j]),
          dtype: "\(dtype)")
      }
    }
  }

  /// The columns except `labelColumn` as features (`[n, columnCount - 1]` of `featureType`), and
  /// `labelColumn` as labels (`[n]`: int32 class indices or float32 values).
  /// - Throws: ``DatasetError/missingLabelColumn(source:requested:available:)``,
  ///   ``DatasetError/invalidLabel(source:line:column:columnName:text:)`` naming the row and
  ///   column of a class label that is not a non-negative integer, or
  ///   ``DatasetError/valueOutOfRange(source:line:column:columnName:text:dtype:)`` naming a
  ///   feature that `featureType` cannot hold (see ``checkedMatrix(dtype:)``).
  public func dataset(labelColumn: LabelColumn = .last, labelKind: LabelKind = .classIndex, featureType: DType = .float32)
    throws(DatasetError) -> Dataset
  {
    let l = try index(of: labelColumn)
    let n = rowCount, c = columnCount
    for j in 0..<c where j != l { try checkRange(columns: j..<(j + 1), dtype: featureType) }
    if labelKind == .value { try checkRange(columns: l..<(l + 1), dtype: .float32) }
    var features = [Double]()
    features.reserveCapacity(n * (c - 1))
    var labels = [Double]()
    labels.reserveCapacity(n)
    for i in 0..<n {
      for j in 0..<c where j != l { features.append(values[i * c + j]) }
      let y = values[i * c + l]
      if labelKind == .classIndex, !(y >= 0 && y <= Double(Int32.max) && y.rounded(.towardZero) == y) {
        throw .invalidLabel(source: source, line: lineNumbers[i], column: l + 1, columnName: header?[l], text: Self.format(y))
      }
      labels.append(y)
    }
    return try Dataset(
      features: NDArray(converting: features, shape: [n, c - 1], dtype: featureType),
      labels: NDArray(converting: labels, shape: [n], dtype: labelKind == .classIndex ? .int32 : .float32))
  }

  private static func format(_ v: Double) -> String {
    v.rounded(.towardZero) == v && Swift.abs(v) < 1e15 ? String(Int(v)) : String(v)
  }
}

extension Dataset {
  /// Loads a CSV file of numbers: every column but the label column is a feature.
  ///
  /// ```swift
  /// let digits = try Dataset.loadCSV(path: "Data/digits.csv")   // 64 pixels, then the class
  /// let houses = try Dataset.loadCSV(path: "houses.csv", hasHeader: true,
  ///                                  labelColumn: .name("price"), labelKind: .value)
  /// ```
  /// - Throws: ``DatasetError`` naming the file, the 1-based line and column of a ragged row,
  ///   a non-numeric cell or a bad class label; an empty file; a missing label column.
  public static func loadCSV(
    path: String, hasHeader: Bool = false, labelColumn: LabelColumn = .last, labelKind: LabelKind = .classIndex,
    featureType: DType = .float32, separator: Character = ","
  ) throws(DatasetError) -> Dataset {
    try NumericTable(contentsOfFile: path, hasHeader: hasHeader, separator: separator)
      .dataset(labelColumn: labelColumn, labelKind: labelKind, featureType: featureType)
  }

  /// Parses CSV text like ``loadCSV(path:hasHeader:labelColumn:labelKind:featureType:separator:)``.
  public static func parseCSV(
    _ text: String, source: String = "<csv>", hasHeader: Bool = false, labelColumn: LabelColumn = .last,
    labelKind: LabelKind = .classIndex, featureType: DType = .float32, separator: Character = ","
  ) throws(DatasetError) -> Dataset {
    try NumericTable(text: text, source: source, hasHeader: hasHeader, separator: separator)
      .dataset(labelColumn: labelColumn, labelKind: labelKind, featureType: featureType)
  }
}
