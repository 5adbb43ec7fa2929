// What every fuzz target shares: handing over to libFuzzer's driver.
//
// SwiftPM links an executable target's entry point as `<Target>_main` (`main` is defined as that
// symbol), so libFuzzer's own `main` is not used: each target defines `<Target>_main` and calls
// `runFuzzer` with its `LLVMFuzzerTestOneInput`.

@_silgen_name("LLVMFuzzerRunDriver")
private func runFuzzerDriver(
  _ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
  _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

/// Runs libFuzzer's driver with the command line and the target's test function.
public func runFuzzer(
  _ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
  _ testOneInput: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32 {
  var count = argc
  var arguments = argv
  return runFuzzerDriver(&count, &arguments, testOneInput)
}
