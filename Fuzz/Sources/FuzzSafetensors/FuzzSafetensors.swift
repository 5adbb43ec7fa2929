// libFuzzer target: safetensors decoding. Any input must decode or throw; a decoded file must
// encode and decode again to the same tensors (a failure of that is a bug, reported by trapping).
import Backprop

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

// SwiftPM links an executable target's entry point as `FuzzSafetensors_main` (`main` is defined
// as that symbol), so libFuzzer's own `main` is not used: this one hands over to its driver.
@_silgen_name("LLVMFuzzerRunDriver")
private func runFuzzerDriver(
  _ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
  _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

@_cdecl("FuzzSafetensors_main")
public func fuzzerMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
  var count = argc
  var arguments = argv
  return runFuzzerDriver(&count, &arguments, fuzzSafetensors)
}
