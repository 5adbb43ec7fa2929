import ArrayCore
import Datasets
import Testing

/// The repository's copy of the UCI digits (see Data/README.md).
private let digitsPath: String = {
  let parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
  return parts.dropLast(3).joined(separator: "/") + "/Data/digits.csv"
}()

/// The error `body` throws, or a recorded issue.
private func thrownError(_ body: () throws(DatasetError) -> Dataset, sourceLocation: SourceLocation = #_sourceLocation) -> DatasetError? {
  do {
    let d = try body()
    Issue.record("loaded \(d.count) rows instead of throwing", sourceLocation: sourceLocation)
    return nil
  } catch {
    return error
  }
}

@Suite("CSV loading")
struct CSVTests {
  @Test("numeric columns, last column as int32 class labels by default")
  func defaults() throws {
    let d = try Dataset.parseCSV("1,2,0\n3,4.5,1\n\n-1e-3, 7 ,2\n")
    #expect(d.features.shape == [3, 2] && d.features.dtype == .float32)
    #expect(d.features.scalars(as: Float.self) == [1, 2, 3, 4.5, -0.001, 7])
    #expect(d.labels.dtype == .int32 && d.labels.scalars(as: Int32.self) == [0, 1, 2])
  }

  @Test("a header, a label column by name or index, float labels, quotes and CRLF")
  func options() throws {
    let text = "\"a\",price,\"b c\"\r\n1,10.5,2\r\n3,\"20\",4\r\n"
    let byName = try Dataset.parseCSV(text, hasHeader: true, labelColumn: .name("price"), labelKind: .value)
    #expect(byName.features.scalars(as: Float.self) == [1, 2, 3, 4])
    #expect(byName.labels.dtype == .float32 && byName.labels.scalars(as: Float.self) == [10.5, 20])
    let byIndex = try Dataset.parseCSV(text, hasHeader: true, labelColumn: .index(0), featureType: .float64)
    #expect(byIndex.labels.scalars(as: Int32.self) == [1, 3])
    #expect(byIndex.features.scalars(as: Double.self) == [10.5, 2, 20, 4])
    let negative = try Dataset.parseCSV("1;2;3\n", labelColumn: .index(-2), separator: ";")
    #expect(negative.labels.scalars(as: Int32.self) == [2])
    let table = try NumericTable(text: "x,y\n1,2\n", hasHeader: true)
    #expect(table.header == ["x", "y"] && table.matrix().shape == [1, 2])
  }

  @Test("a ragged row names its line in the file")
  func raggedRow() {
    // Line 1 header, line 2 data, line 3 blank, line 4 has too few cells.
    let e = thrownError { () throws(DatasetError) in try Dataset.parseCSV("a,b,c\n1,2,3\n\n4,5\n", source: "f.csv", hasHeader: true) }
    #expect(e == .raggedRow(source: "f.csv", line: 4, expectedColumns: 3, foundColumns: 2))
    #expect(e?.description == "f.csv, line 4: row has 2 columns, expected 3 like the first row")
  }

  @Test("a non-numeric cell names line, column and header name")
  func nonNumeric() {
    let e = thrownError { () throws(DatasetError) in
      try Dataset.parseCSV("x,y,label\n1,2,0\n3,abc,1\n", source: "f.csv", hasHeader: true)
    }
    #expect(e == .nonNumericCell(source: "f.csv", line: 3, column: 2, columnName: "y", text: "abc"))
    #expect(e?.description == "f.csv, line 3, column 2 (\"y\"): \"abc\" is not a number")
    let empty = thrownError { () throws(DatasetError) in try Dataset.parseCSV("1,2\n3,\n", source: "g.csv") }
    #expect(empty?.description == "g.csv, line 2, column 2: empty cell is not a number")
    let nan = thrownError { () throws(DatasetError) in try Dataset.parseCSV("1,nan\n", source: "g.csv") }
    #expect(nan == .nonNumericCell(source: "g.csv", line: 1, column: 2, columnName: nil, text: "nan"))
  }

  @Test("a binary file (IDX images given where a CSV belongs) is named as not text")
  func binaryFile() {
    let idxHead: [UInt8] = [0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 28, 0, 0, 0, 28]
    let e = thrownError { () throws(DatasetError) in try NumericTable(bytes: idxHead, source: "t10k-images", hasHeader: false).dataset() }
    #expect(e?.description == "t10k-images: not CSV text: it contains NUL bytes (a binary file, such as IDX images?)")
  }

  @Test("empty files, header-only files, missing label columns and bad class labels")
  func otherErrors() {
    #expect(thrownError { () throws(DatasetError) in try Dataset.parseCSV("", source: "e.csv") } == .emptyFile(source: "e.csv"))
    #expect(thrownError { () throws(DatasetError) in try Dataset.parseCSV("\n  \n", source: "e.csv") } == .emptyFile(source: "e.csv"))
    #expect(thrownError { () throws(DatasetError) in try Dataset.parseCSV("a,b\n", source: "e.csv", hasHeader: true) } == .emptyFile(source: "e.csv"))
    let missingName = thrownError { () throws(DatasetError) in
      try Dataset.parseCSV("a,b\n1,2\n", source: "m.csv", hasHeader: true, labelColumn: .name("label"))
    }
    #expect(missingName?.description == "m.csv: no label column named \"label\" (the header has \"a\", \"b\")")
    let noHeader = thrownError { () throws(DatasetError) in try Dataset.parseCSV("1,2\n", source: "m.csv", labelColumn: .name("label")) }
    #expect(noHeader?.description.contains("without a header") == true)
    let badIndex = thrownError { () throws(DatasetError) in try Dataset.parseCSV("1,2\n", source: "m.csv", labelColumn: .index(2)) }
    #expect(badIndex?.description == "m.csv: no label column at index 2 (the file has 2 columns, indices 0...1)")
    let badLabel = thrownError { () throws(DatasetError) in try Dataset.parseCSV("1,0\n2,1.5\n", source: "l.csv") }
    #expect(badLabel == .invalidLabel(source: "l.csv", line: 2, column: 2, columnName: nil, text: "1.5"))
    let negativeLabel = thrownError { () throws(DatasetError) in try Dataset.parseCSV("1,-1\n", source: "l.csv") }
    #expect(negativeLabel?.description == "l.csv, line 1, column 2: class label \"-1\" is not a non-negative integer")
    let missingFile = thrownError { () throws(DatasetError) in try Dataset.loadCSV(path: "/nonexistent/x.csv") }
    #expect(missingFile?.description.hasPrefix("/nonexistent/x.csv: cannot read:") == true)
  }

  @Test("the digits file loads: 1797 rows of 64 pixels, class counts as NumPy counts them")
  func digits() throws {
    let d = try Dataset.loadCSV(path: digitsPath)
    #expect(d.count == 1797 && d.featureCount == 64)
    var counts = [Int](repeating: 0, count: 10)
    for y in d.labels.scalars(as: Int32.self) { counts[Int(y)] += 1 }
    // np.bincount(np.loadtxt("Data/digits.csv", delimiter=",")[:, -1].astype(int))
    #expect(counts == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180])
    #expect(d.features.doubles.reduce(0, +) == 561_718)  // the pixel sum, from NumPy
  }

  @Test("a gzip-compressed CSV loads like the plain file")
  func gzip() throws {
    let plain = try Dataset.loadCSV(path: digitsPath)
    let compressed = try Dataset.loadCSV(path: digitsPath + ".gz")
    #expect(compressed.features == plain.features && compressed.labels == plain.labels)
  }
}
