// libFuzzer target: CSV parsing (the first byte picks header or not), then the data set built
// from it with the last column as class labels. Any input must parse or throw.
import Backprop
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCSV(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
  let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
  guard let first = bytes.first else { return 0 }
  guard let table = try? NumericTable(bytes: Array(bytes.dropFirst()), source: "fuzz", hasHeader: first & 1 == 1) else { return 0 }
  if table.values.count != table.rowCount * table.columnCount { fatalError("\(table.values.count) values in a \(table.rowCount)x\(table.columnCount) table") }
  _ = table.matrix()
  _ = try? table.dataset()
  return 0
}

@_cdecl("FuzzCSV_main")
public func fuzzerMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
  runFuzzer(argc, argv, fuzzCSV)
}
