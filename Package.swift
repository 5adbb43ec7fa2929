// swift-tools-version: 6.1
// Backprop: TensorFlow-style computational graphs and reverse-mode automatic differentiation
// in Swift. Targets are listed in layer order; every dependency points down the list.
import PackageDescription

let strict: [SwiftSetting] = [.swiftLanguageMode(.v6)]

let package = Package(
  name: "Backprop",
  platforms: [.macOS(.v15)],
  products: [
    .library(name: "Backprop", targets: ["Backprop"]),
    .executable(name: "backprop", targets: ["BackpropCLI"]),
    // The command-line tool's commands, for the fuzz package (Fuzz/): parsing and validation of
    // `backprop`'s options without running them. Its one public type is `BackpropCommand`.
    .library(name: "BackpropCommands", targets: ["BackpropCommands"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-numerics", from: "1.0.0"),
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    // Documentation only: `swift package generate-documentation --target Backprop`.
    .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
  ],
  targets: [
    // Layer 1: concrete n-dimensional arrays, dtypes, broadcasting, random numbers, CPU kernels.
    // C kernels of ArrayCore: matrix products, elementwise loops and sums, with AVX2+FMA
    // versions picked at run time and portable versions for every other CPU (no flags).
    // A system CBLAS may be dlopen'ed at run time when BACKPROP_BLAS asks (libdl: glibc < 2.34).
    .target(name: "CBackpropKernels", linkerSettings: [.linkedLibrary("dl", .when(platforms: [.linux]))]),
    .target(
      name: "ArrayCore",
      dependencies: ["CBackpropKernels", .product(name: "RealModule", package: "swift-numerics")],
      swiftSettings: strict),
    // Layer 1 (beside ArrayCore): data sets, CSV loading, batching. Knows nothing of graphs.
    .target(name: "Datasets", dependencies: ["ArrayCore"], swiftSettings: strict),
    // Layer 2: graphs, primitives with their gradients, symbolic autodiff, sessions, and the
    // collectives of data-parallel training (MPI dlopen'ed at run time by CBackpropKernels).
    .target(name: "GraphCore", dependencies: ["ArrayCore", "CBackpropKernels"], swiftSettings: strict),
    // Layer 3: optimizers, losses, initializers, layers.
    .target(name: "Training", dependencies: ["GraphCore"], swiftSettings: strict),
    // Beside the graph core: SVG charts, CSV/JSONL step logs, sparklines, progress lines, and
    // Graphviz DOT pictures of graphs (the only reason it depends on GraphCore). No packages.
    .target(name: "Plotting", dependencies: ["GraphCore"], swiftSettings: strict),
    // Layer 4: the runnable recipes (a library, so tests can run them headless).
    .target(name: "Recipes", dependencies: ["Training", "Datasets", "Plotting"], swiftSettings: strict),
    // The umbrella most users import.
    .target(
      name: "Backprop", dependencies: ["ArrayCore", "GraphCore", "Training", "Datasets", "Plotting"],
      swiftSettings: strict),
    // The heap allocation count `backprop bench` reports: -1 (not counted) unless the program
    // also links CAllocInterposer, which interposes malloc (Linux/glibc) and counts.
    .target(name: "CAllocCounter"),
    .target(name: "CAllocInterposer"),
    // Layer 5: the command-line tool's commands: options, validation, running the recipes.
    .target(
      name: "BackpropCommands",
      dependencies: [
        "Backprop", "Recipes", "CAllocCounter", "CBackpropKernels",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      swiftSettings: strict),
    // The thin `backprop` executable: `BackpropCommand.main()`, with the counting allocator.
    .executableTarget(
      name: "BackpropCLI", dependencies: ["BackpropCommands", "CAllocInterposer"], swiftSettings: strict),
    // The README's sample, built so it never rots: `swift run regression-example`.
    .executableTarget(
      name: "regression-example", dependencies: ["Backprop"], path: "Examples/Regression",
      swiftSettings: strict),
    // The notebook's recipes in eager style (issue 16): `swift run eager-regression-example`.
    .executableTarget(
      name: "eager-regression-example", dependencies: ["Backprop"], path: "Examples/EagerRegression",
      swiftSettings: strict),
    .executableTarget(
      name: "eager-classification-example", dependencies: ["Backprop"], path: "Examples/EagerClassification",
      swiftSettings: strict),
    .executableTarget(
      name: "eager-digits-example", dependencies: ["Backprop"], path: "Examples/EagerDigits",
      swiftSettings: strict),

    .target(
      name: "TestSupport", dependencies: ["Backprop"], path: "Tests/TestSupport",
      swiftSettings: strict),
    .testTarget(
      name: "ArrayCoreTests", dependencies: ["ArrayCore", "TestSupport"], swiftSettings: strict),
    // Saves checkpoints in a loop until killed: the subject of a crash-safety test.
    .executableTarget(
      name: "CheckpointTorture", dependencies: ["GraphCore"], path: "Tests/CheckpointTorture",
      swiftSettings: strict),
    .testTarget(
      name: "GraphCoreTests", dependencies: ["GraphCore", "Training", "TestSupport"], swiftSettings: strict),
    .testTarget(
      name: "TrainingTests", dependencies: ["Training", "TestSupport"], swiftSettings: strict),
    .testTarget(
      name: "DatasetsTests", dependencies: ["Datasets", "TestSupport"], swiftSettings: strict),
    .testTarget(
      name: "PlottingTests", dependencies: ["Plotting", "TestSupport"], swiftSettings: strict),
    .testTarget(
      name: "RecipesTests", dependencies: ["Recipes", "TestSupport"], swiftSettings: strict),
  ]
)
