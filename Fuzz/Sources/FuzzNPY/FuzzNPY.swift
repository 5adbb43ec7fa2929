// libFuzzer target: .npy decoding. Any input must decode or throw; a decoded array's elements
// are all read (so a wrong element count shows up under AddressSanitizer).
import Backprop
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNPY(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
  let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
  guard let array = try? NPYFormat.decode(bytes, source: "fuzz") else { return 0 }
  let count = array.shape.reduce(1, *)
  if array.doubles.count != count { fatalError("\(array.shape) holds \(array.doubles.count) values") }
  return 0
}

@_cdecl("FuzzNPY_main")
public func fuzzerMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
  runFuzzer(argc, argv, fuzzNPY)
}
