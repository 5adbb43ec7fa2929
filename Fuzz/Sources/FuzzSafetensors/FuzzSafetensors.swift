// libFuzzer target: safetensors decoding. Any input must decode or throw; a decoded file must
// encode and decode again to the same tensors (a failure of that is a bug, reported by trapping).
import Backprop
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafetensors(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
  let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
  guard let file = try? SafetensorsFile(bytes: bytes, source: "fuzz") else { return 0 }
  guard let again = try? SafetensorsFile(bytes: file.encoded(), source: "fuzz-again") else {
    fatalError("a decoded file did not re-encode and decode")
  }
  for (name, tensor) in file.tensors {
    guard let other = again.tensors[name], other.isBitIdentical(to: tensor) else {
      fatalError("tensor \(name) changed in a round trip")
    }
  }
  return 0
}

@_cdecl("FuzzSafetensors_main")
public func fuzzerMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
  runFuzzer(argc, argv, fuzzSafetensors)
}
