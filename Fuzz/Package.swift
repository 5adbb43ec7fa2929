// swift-tools-version: 6.1
// libFuzzer targets for Backprop's loaders of outside data and its command line (issue 6), the
// IDX reader (issue 11), and the decoders of TensorFlow's and ONNX's formats (issue 15). Not
// part of the main build: run them with Scripts/fuzz.sh, which builds this package with
// `-sanitize=fuzzer,address` (each target's `LLVMFuzzerTestOneInput` is libFuzzer's entry point).
import PackageDescription

let package = Package(
  name: "BackpropFuzz",
  platforms: [.macOS(.v15)],
  dependencies: [
    .package(name: "Backprop", path: ".."),
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
  ],
  targets: [
    .target(name: "FuzzSupport"),
    .executableTarget(name: "FuzzSafetensors", dependencies: ["FuzzSupport", .product(name: "Backprop", package: "Backprop")]),
    .executableTarget(name: "FuzzNPY", dependencies: ["FuzzSupport", .product(name: "Backprop", package: "Backprop")]),
    .executableTarget(name: "FuzzCSV", dependencies: ["FuzzSupport", .product(name: "Backprop", package: "Backprop")]),
    .executableTarget(name: "FuzzInterchange", dependencies: ["FuzzSupport", .product(name: "Backprop", package: "Backprop")]),
    .executableTarget(name: "FuzzIDX", dependencies: ["FuzzSupport", .product(name: "Backprop", package: "Backprop")]),
    .executableTarget(
      name: "FuzzCLI",
      dependencies: [
        "FuzzSupport", .product(name: "BackpropCommands", package: "Backprop"),
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]),
  ],
  swiftLanguageModes: [.v6]
)
