// libFuzzer target: CSV parsing (the first byte picks header or not; gzip input, one or several
// members, is decompressed first with a limit over the whole stream), then the data set built
// from it with the last column as class labels. Any input must parse or throw.
import Backprop
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCSV(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
  let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
  guard let first = bytes.first else { return 0 }
  var body = Array(bytes.dropFirst())
  // Gzip input (a `.csv.gz`, possibly of several members): decompressed as NumericTable's file
  // reader does, with a 1 MB limit over all members together.
  if Gzip.isGzip(body) {
    guard let plain = try? Gzip.decompress(body, source: "fuzz", maxOutputSize: 1 << 20) else { return 0 }
    if plain.count > 1 << 20 { fatalError("gzip output of \(plain.count) bytes passed the 1 MB limit") }
    body = plain
  }
  guard let table = try? NumericTable(bytes: body, source: "fuzz", hasHeader: first & 1 == 1) else { return 0 }
  if table.values.count != table.rowCount * table.columnCount { fatalError("\(table.values.count) values in a \(table.rowCount)x\(table.columnCount) table") }
  _ = table.matrix()
  _ = try? table.dataset()
  return 0
}

@_cdecl("FuzzCSV_main")
public func fuzzerMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
  runFuzzer(argc, argv, fuzzCSV)
}
