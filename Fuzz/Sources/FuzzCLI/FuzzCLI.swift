// libFuzzer target: the `backprop` command line. The input is split into arguments on NUL bytes
// (or on newlines when it has no NUL byte), parsed and validated as `backprop` would
// (`parseAsRoot` runs every `validate()`), never run: training is too slow for a fuzzer. A thrown
// error is rendered as the tool would print it (`fullMessage(for:)`: the message, or the help
// text when help was asked for) with its exit code. Any input must parse or throw, never trap.
import ArgumentParser
import BackpropCommands
import FuzzSupport

/// The arguments in `bytes`: split on NUL when there is one, else on newlines (so a seed can be
/// written as lines); invalid UTF-8 is repaired, as the command line's own decoding does.
func arguments(_ bytes: [UInt8]) -> [String] {
  let separator: UInt8 = bytes.contains(0) ? 0 : UInt8(ascii: "\n")
  return bytes.split(separator: separator, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCLI(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
  let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
  do {
    _ = try BackpropCommand.parseAsRoot(arguments(bytes))
  } catch {
    let message = BackpropCommand.fullMessage(for: error)
    let code = BackpropCommand.exitCode(for: error)
    if message.isEmpty && code != .success { fatalError("an error with no message: \(error)") }
  }
  return 0
}

@_cdecl("FuzzCLI_main")
public func fuzzerMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
  runFuzzer(argc, argv, fuzzCLI)
}
