// libFuzzer target: the IDX reader (MNIST's and Fashion-MNIST's format, issue 11); gzip input,
// one or several members, is decompressed first with a 1 MB limit over the whole stream, as
// `IDXArray(contentsOfFile:)` does with its own limit. Any input must parse or throw; a parsed
// array holds exactly as many values as its dimensions say.
import Backprop
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzIDX(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
  var bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
  if Gzip.isGzip(bytes) {
    guard let plain = try? Gzip.decompress(bytes, source: "fuzz", maxOutputSize: 1 << 20) else { return 0 }
    if plain.count > 1 << 20 { fatalError("gzip output of \(plain.count) bytes passed the 1 MB limit") }
    bytes = plain
  }
  guard let array = try? IDXArray(bytes: bytes, source: "fuzz") else { return 0 }
  let stored = array.typeCode == 0x08 ? array.bytes.count : array.values.count
  if stored != array.elementCount || array.doubles.count != array.elementCount {
    fatalError("\(stored) values for the dimensions \(array.dimensions)")
  }
  return 0
}

@_cdecl("FuzzIDX_main")
public func fuzzerMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
  runFuzzer(argc, argv, fuzzIDX)
}
