// Issue 12: hostile input and the file system. One suite per class of the issue (traps,
// unbounded reads, outputs that destroy inputs, quadratic cost, silent wrong results, unsafe
// messages); each test failed before the change that closed its class. RELIABILITY.md,
// section 5, "Hostile input", lists them.
import ArrayCore
import Datasets
import Foundation
import GraphCore
import Recipes
import Testing
import TestSupport
import Training

#if canImport(Glibc)
  import Glibc
#endif

/// `rows` rows of 64 pixels (0...16) and a class (0...9), deterministic.
private func digitsCSV(rows: Int, pixel: (Int, Int) -> String = { i, j in String((i * 7 + j * 3) % 17) }) -> String {
  (0..<rows).map { i in ((0..<64).map { j in pixel(i, j) } + [String(i % 10)]).joined(separator: ",") }.joined(separator: "\n") + "\n"
}


// MARK: 1. Traps on reachable paths

@Suite struct HostileTrapTests {
  /// Window arithmetic (dilation × window, SAME padding) and results whose shape is only known at
  /// run time are checked: each trapped before (an arithmetic overflow in
  /// `WindowGeometry.outputSize`, a failed 4 TB allocation in `NDArray.prepare`).
  @Test func windowArithmeticAndRunTimeResultSizesAreChecked() throws {
    func expectThrows(_ words: [String], _ body: () throws -> Void) {
      do {
        try body()
        Issue.record("no error; expected one mentioning \(words)")
      } catch {
        for w in words { #expect("\(error)".contains(w), "\(error)") }
      }
    }
    let g = Graph()
    let x = g.placeholder(.float32, shape: [1, 5, 5, 1])
    let f = g.constant(try NDArray(repeating: 1, shape: [3, 3, 1, 1]))
    expectThrows(["Conv2D", "dilation 9223372036854775807", "spans more than"]) {
      _ = try conv2d(x, f, padding: .same, dilations: [Int.max, 1])
    }
    expectThrows(["MaxPool", "spans more than"]) { _ = try maxPool2d(x, window: [Int.max, 2], padding: .same) }
    let dy = g.placeholder(.float32, shape: [1, 3, 3, 1])
    expectThrows(["Conv2DBackpropInput", "not the input's"]) {
      _ = try conv2dTranspose(dy, f, outputShape: [1, Int.max, 5, 1], strides: [Int.max / 2, 1], padding: .same)
    }
    // SAME padding at the largest strides still gives ⌈input / stride⌉ outputs.
    #expect(try WindowGeometry.outputSize(input: Int.max, window: 3, stride: Int.max / 2, dilation: 1, padding: .same).size == 3)
    // A 1x1 convolution to 2^20 channels of a fed 1024x1024 image: 4 TiB of float32 at run time.
    let image = g.placeholder(.float32, shape: [nil, nil, nil, 1])
    let wide = g.constant(try NDArray(repeating: 1, shape: [1, 1, 1, 1 << 20]))
    let y = try conv2d(image, wide, padding: .same)
    expectThrows(["Conv2D", "[1, 1024, 1024, 1048576]", "Shape.maximumByteCount"]) {
      _ = try Session(graph: g).run(y, feeding: [image: try NDArray(repeating: 1, shape: [1, 1024, 1024, 1])])
    }
  }

  @Test func sizeArithmeticIsCheckedAndEmptySplitsAreErrors() throws {
    // Batching with the largest batch size: one batch of every row (it overflowed before).
    let data = try Dataset(features: NDArray([Float](repeating: 1, count: 10), shape: [5, 2]), labels: NDArray([Int32](repeating: 0, count: 5)))
    let batches = try data.batches(size: Int.max)
    #expect(batches.count == 1)
    #expect(batches[0].features.shape == [5, 2])
    #expect(try data.batches(size: Int.max, includeRemainder: false).count == 0)
    // Checked products and the allocation limit.
    #expect(throws: SizeLimitError.self) { try SizeLimits.checkedProduct([64, Int.max], what: "x") }
    #expect(throws: SizeLimitError.self) { try SizeLimits.checkAllocation(elements: 1 << 40, bytesPerElement: 4, what: "x") }
    #expect(SizeLimits.maximumAllocationBytes == SizeLimits.physicalMemoryBytes / 2)
    // The recipe refuses what would overflow or exceed the limit, before allocating.
    for hidden in [[Int.max], [1_000_000, 1_000_000]] {
      var c = DigitsRecipe.Configuration()
      c.hiddenSizes = hidden
      #expect(throws: RecipeError.self) { try c.validate() }
    }
    // A data file of 2 rows: an empty test split is a clear error, not a NaN accuracy.
    let dir = try makeScratchDirectory("hostile")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try digitsCSV(rows: 2).write(toFile: dir + "/two.csv", atomically: false, encoding: .utf8)
    var c = DigitsRecipe.Configuration()
    c.dataPath = dir + "/two.csv"
    #expect { _ = try DigitsRecipe(c).run { _ in } } throws: { "\($0)".contains("test rows") }
  }

  @Test(.enabled(if: backpropToolIsBuilt, "needs the backprop tool built beside the tests"))
  func theToolRefusesSizesItCannotHold() throws {
    let dir = try makeScratchDirectory("hostile")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try digitsCSV(rows: 2).write(toFile: dir + "/two.csv", atomically: false, encoding: .utf8)
    try digitsCSV(rows: 30).write(toFile: dir + "/thirty.csv", atomically: false, encoding: .utf8)
    try expectToolRefuses(["digits", "--data", dir + "/two.csv"], "both sets need at least one row")
    try expectToolRefuses(["digits", "--hidden", "9223372036854775807"], "overflows")
    try expectToolRefuses(["digits", "--hidden", "1000000,1000000"], "more than the limit")
    let big = try runBackpropTool(["digits", "--data", dir + "/thirty.csv", "--batch-size", "9223372036854775807", "--epochs", "1", "--quiet"])
    #expect(!big.signaled && big.status == 0, "\(big.error)")
  }

  /// An IDX file of zero images given to `predict`: the same error for a Fashion-MNIST model file
  /// and for its whole-model directory (the file's path printed an empty line and "accuracy 0.0
  /// (0/0)" with status 0).
  @Test(.enabled(if: backpropToolIsBuilt, "needs the backprop tool built beside the tests"))
  func predictingZeroImagesIsAnErrorForEveryModelKind() throws {
    let dir = try makeScratchDirectory("hostile")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let mini = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false).dropLast(2).joined(separator: "/") + "/Fixtures/fashion-mini"
    let trained = try runBackpropTool([
      "fashion", "--data", mini, "--model", "mlp", "--epochs", "1", "--quiet",
      "--save", dir + "/f.safetensors", "--save-model", dir + "/fm",
    ])
    try #require(trained.status == 0, "\(trained.error)")
    func idx(_ magic: UInt32, _ dimensions: [UInt32]) -> Data {
      Data(([magic] + dimensions).flatMap { word in withUnsafeBytes(of: word.bigEndian) { Array($0) } })
    }
    try idx(0x803, [0, 28, 28]).write(to: URL(fileURLWithPath: dir + "/none-images"))
    try idx(0x801, [0]).write(to: URL(fileURLWithPath: dir + "/none-labels"))
    for model in [dir + "/f.safetensors", dir + "/fm"] {
      try expectToolRefuses(["predict", "--model", model, "--input", dir + "/none-images"], "no rows to predict")
      try expectToolRefuses(["predict", "--model", model, "--input", dir + "/none-images", "--labels", dir + "/none-labels"], "no rows to predict")
    }
  }
}

// MARK: 2. Unbounded reads

/// A gzip member holding `payload` in stored (uncompressed) DEFLATE blocks.
private func gzipMember(_ payload: [UInt8]) -> [UInt8] {
  var out: [UInt8] = [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 255]
  var offset = 0
  repeat {
    let n = min(65535, payload.count - offset)
    let last: UInt8 = offset + n == payload.count ? 1 : 0
    out += [last, UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8((~n >> 8) & 0xFF)]
    out += payload[offset..<offset + n]
    offset += n
  } while offset < payload.count
  let crc = Gzip.crc32(payload), size = UInt32(payload.count)
  for shift in stride(from: 0, to: 32, by: 8) { out.append(UInt8((crc >> UInt32(shift)) & 0xFF)) }
  for shift in stride(from: 0, to: 32, by: 8) { out.append(UInt8((size >> UInt32(shift)) & 0xFF)) }
  return out
}

@Suite struct HostileReadTests {
  @Test func devicesPipesAndMultiMemberBombsAreRefused() throws {
    // Devices are refused before a byte is read (these read until memory ran out).
    for device in ["/dev/zero", "/dev/urandom", "/dev/null"] {
      #expect { _ = try FileIO.readBytes(atPath: device) } throws: { "\($0)".contains("character device, not a regular file") }
      #expect(throws: DatasetError.self) { _ = try NumericTable(contentsOfFile: device) }
    }
    // A FIFO with no writer: refused at once, not a hang.
    let dir = try makeScratchDirectory("hostile")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    #expect(mkfifo(dir + "/fifo", 0o600) == 0)
    #expect { _ = try FileIO.readBytes(atPath: dir + "/fifo") } throws: { "\($0)".contains("pipe") }
    // A link to a regular file is read through.
    try "1,2\n".write(toFile: dir + "/a.csv", atomically: false, encoding: .utf8)
    #expect(symlink(dir + "/a.csv", dir + "/link.csv") == 0)
    #expect(try NumericTable(contentsOfFile: dir + "/link.csv").values == [1, 2])
    // The gzip limit covers all members together: 3 members of 60,000 bytes each are under a
    // 100,000-byte limit one by one, not together.
    let member = gzipMember([UInt8](repeating: UInt8(ascii: "1"), count: 60_000))
    let three = member + member + member
    #expect(try Gzip.decompress(three, maxOutputSize: 200_000).count == 180_000)
    #expect { _ = try Gzip.decompress(three, maxOutputSize: 100_000) } throws: { "\($0)".contains("exceeds the limit") }
  }

  @Test(.enabled(if: backpropToolIsBuilt, "needs the backprop tool built beside the tests"))
  func theToolRefusesDevicesAsInputs() throws {
    let dir = try makeScratchDirectory("hostile")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try digitsCSV(rows: 3).write(toFile: dir + "/in.csv", atomically: false, encoding: .utf8)
    try expectToolRefuses(["predict", "--model", "/dev/zero", "--input", dir + "/in.csv"], "character device")
    try expectToolRefuses(["predict", "--model", dir + "/in.csv", "--input", "/dev/zero"], "character device")
    try expectToolRefuses(["regression", "--restore", "/dev/urandom"], "character device")
    try expectToolRefuses(["digits", "--data", "/dev/zero"], "character device")
  }
}

// MARK: 3. Outputs that destroy inputs

@Suite struct HostileOutputTests {
  @Test func atomicWritesKeepLinksModesAndDevices() throws {
    let dir = try makeScratchDirectory("hostile")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    // A symbolic link is followed: the target is replaced, the link stays a link.
    try FileIO.writeAtomically(Array("old".utf8), toPath: dir + "/target")
    #expect(symlink("target", dir + "/link") == 0)
    try FileIO.writeAtomically(Array("new".utf8), toPath: dir + "/link")
    var info = stat()
    #expect(lstat(dir + "/link", &info) == 0 && info.st_mode & S_IFMT == S_IFLNK)
    #expect(try FileIO.readBytes(atPath: dir + "/target") == Array("new".utf8))
    // Permission bits are kept.
    #expect(chmod(dir + "/target", 0o600) == 0)
    try FileIO.writeAtomically(Array("newer".utf8), toPath: dir + "/target")
    #expect(stat(dir + "/target", &info) == 0 && info.st_mode & 0o7777 == 0o600)
    // A device or a pipe is never replaced by a regular file (the tests run as root, so
    // /dev/null would have been replaced).
    #expect { try FileIO.writeAtomically(Array("x".utf8), toPath: "/dev/null") } throws: { "\($0)".contains("refusing to replace") }
    #expect(stat("/dev/null", &info) == 0 && info.st_mode & S_IFMT == S_IFCHR)
    #expect(mkfifo(dir + "/fifo", 0o600) == 0)
    #expect(throws: ArrayFileError.self) { try FileIO.writeAtomically(Array("x".utf8), toPath: dir + "/fifo") }
    #expect(lstat(dir + "/fifo", &info) == 0 && info.st_mode & S_IFMT == S_IFIFO)
    // A legal 250-byte name whose temporary name would be too long: written all the same.
    let long = dir + "/" + String(repeating: "n", count: 250)
    try FileIO.writeAtomically(Array("long".utf8), toPath: long)
    #expect(try FileIO.readBytes(atPath: long) == Array("long".utf8))
    #expect(throws: ArrayFileError.self) { try FileIO.checkWritableDestination(dir + "/" + String(repeating: "n", count: 256)) }
    // Leftovers of a dead process's save (SIGKILL) are removed by the next save to the path.
    let stale = dir + "/.target.tmp-999999999-1-0"
    try "partial".write(toFile: stale, atomically: false, encoding: .utf8)
    try FileIO.writeAtomically(Array("again".utf8), toPath: dir + "/target")
    #expect(!FileManager.default.fileExists(atPath: stale))
    let names = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
    #expect(names == ["fifo", "link", String(repeating: "n", count: 250), "target"])
  }

  @Test(.enabled(if: backpropToolIsBuilt, "needs the backprop tool built beside the tests"))
  func theToolRefusesTwoArgumentsNamingTheSameFile() throws {
    let dir = try makeScratchDirectory("hostile")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let ck = dir + "/ck.svg", train = dir + "/train.csv"  // a checkpoint named .svg, so --plot accepts its name
    #expect(try runBackpropTool(["regression", "--steps", "2", "--save", ck]).status == 0)
    try digitsCSV(rows: 30).write(toFile: train, atomically: false, encoding: .utf8)
    #expect(symlink(train, dir + "/alias.csv") == 0)
    let before = try FileIO.readBytes(atPath: ck), trainBefore = try FileIO.readBytes(atPath: train)
    try expectToolRefuses(["regression", "--restore", ck, "--plot", ck], "name the same file")
    try expectToolRefuses(["regression", "--save", dir + "/o", "--log", dir + "/o"], "name the same file")
    try expectToolRefuses(["digits", "--data", train, "--csv", train], "name the same file")
    try expectToolRefuses(["digits", "--data", train, "--save", train], "name the same file")
    try expectToolRefuses(["digits", "--data", train, "--log", dir + "/alias.csv"], "through a link")
    try expectToolRefuses(["regression", "--plot", dir + "/p.png"], "SVG only")
    try expectToolRefuses(["regression", "--save", "/dev/null"], "refusing to replace")
    try expectToolRefuses(["regression", "--save", dir + "/" + String(repeating: "x", count: 300)], "longer than 255 bytes")
    // export and predict too (export --onnx over its own --model replaced the model file).
    let model = dir + "/d.safetensors"
    #expect(try runBackpropTool(["digits", "--data", train, "--epochs", "1", "--quiet", "--save", model]).status == 0)
    let modelBefore = try FileIO.readBytes(atPath: model)
    try expectToolRefuses(["export", "--onnx", model, "--model", model], "name the same file")
    try expectToolRefuses(["export", "--onnx", dir + "/m.onnx", "--model", model, "--input", train, "--logits", train], "name the same file")
    try expectToolRefuses(["export", "--onnx", dir + "/m.onnx", "--model", model, "--input", train, "--logits", dir + "/m.onnx"], "one output would overwrite the other")
    try expectToolRefuses(["export", "--onnx", dir + "/m.onnx", "--model", "/dev/zero"], "character device")
    try expectToolRefuses(["predict", "--model", model, "--input", train, "--labels", "/dev/zero"], "character device")
    // A --save-model directory exports its metadata's input and output (its values are compared
    // with onnxruntime by Scripts/check_onnx.py --classes); --logits is for model files.
    let directory = dir + "/reg"
    #expect(try runBackpropTool(["regression", "--steps", "2", "--save-model", directory]).status == 0)
    let exported = try runBackpropTool(["export", "--onnx", dir + "/reg.onnx", "--model", directory])
    #expect(exported.status == 0 && exported.output.contains("input 'x_data:0' [?]"), "\(exported.error)")
    #expect(try FileIO.readBytes(atPath: dir + "/reg.onnx").count > 0)
    try expectToolRefuses(["export", "--onnx", dir + "/r.onnx", "--model", directory, "--input", train, "--logits", dir + "/l.npy"], "--logits is for model files")
    try expectToolRefuses(["export", "--onnx", dir + "/r.onnx", "--model", dir], "is a directory without a model's graph.pb")
    #expect(try FileIO.readBytes(atPath: model) == modelBefore)
    #expect(try FileIO.readBytes(atPath: ck) == before)
    #expect(try FileIO.readBytes(atPath: train) == trainBefore)
    // --restore ck --save ck stays allowed: it resumes and saves the continued run.
    #expect(try runBackpropTool(["regression", "--steps", "4", "--restore", ck, "--save", ck]).status == 0)
  }

  @Test(.enabled(if: backpropToolIsBuilt && FileManager.default.fileExists(atPath: "/dev/full"), "needs the tool and /dev/full"))
  func aWriteErrorOnStandardOutputIsAnErrorExit() throws {
    let dir = try makeScratchDirectory("hostile")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let outcome = try runBackpropTool(["regression", "--steps", "3", "--print-every", "1"], standardOutputPath: "/dev/full")
    #expect(!outcome.signaled)
    #expect(outcome.status == 1)
    #expect(outcome.error.contains("cannot write to standard output"), "\(outcome.error)")
  }

  @Test func interruptedSavesRemoveTheirTemporaryFile() throws {
    // CheckpointTorture saves 8 MB checkpoints in a loop: send SIGINT or SIGTERM while a
    // temporary file exists (in the middle of a write), and nothing but the checkpoint is left.
    let products = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    let helper = products.appendingPathComponent("CheckpointTorture").path
    try #require(FileManager.default.isExecutableFile(atPath: helper), "CheckpointTorture is not built")
    let dir = try makeScratchDirectory("hostile")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    var interruptedMidWrite = 0
    for signal in [SIGINT, SIGTERM, SIGINT, SIGTERM] {
      let process = Process()
      process.executableURL = URL(fileURLWithPath: helper)
      process.arguments = [dir + "/ck.safetensors"]
      let output = Pipe()
      process.standardOutput = output
      try process.run()
      _ = output.fileHandleForReading.availableData  // the first complete save
      // Stop the writer while its temporary file exists, signal it, let it go on: the signal
      // lands in the middle of a write without timing luck.
      let sawTemporary = stopProcess(process.processIdentifier) {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).contains { $0.hasPrefix(".ck.safetensors.tmp-") }
      }
      kill(process.processIdentifier, signal)
      kill(process.processIdentifier, SIGCONT)
      process.waitUntilExit()
      #expect(process.terminationReason == .uncaughtSignal && process.terminationStatus == signal)
      if sawTemporary { interruptedMidWrite += 1 }
      let left = try FileManager.default.contentsOfDirectory(atPath: dir)
      #expect(left == ["ck.safetensors"], "signal \(signal) left \(left)")
    }
    #expect(interruptedMidWrite == 4, "only \(interruptedMidWrite) of 4 signals were sent during a write")
  }
}

// MARK: 4. Quadratic cost

@Suite struct HostileGraphSizeTests {
  @Test func twentyThousandOperationsBuildInUnderASecond() throws {
    // 18,000 operations of one default name (`Add`, `Add_1`, ... `Add_17999`: the old naming
    // scanned every suffix taken, O(N²)), then Dense layers (`dense`, `dense_1`, ...: the old
    // scope search scanned every operation per layer) up to 20,000 operations.
    let clock = ContinuousClock()
    let start = clock.now
    let graph = Graph()
    let x = graph.placeholder(.float32, shape: [nil, 2], name: "x")
    var t = x
    var adds: [Tensor] = []
    for _ in 0..<18_000 {
      t = try t + x
      adds.append(t)
    }
    var layers: [Dense] = []
    var h = t
    while graph.operationCount < 20_000 {
      let layer = try Dense(graph: graph, inputSize: 2, units: 2, activation: .relu, seed: 1)
      h = try layer(h)
      layers.append(layer)
    }
    let elapsed = clock.now - start
    // The issue's target is under a second: this debug build measured 0.9-1.3 s while up to 8
    // builds shared the machine's 2 cores. A time is not a unit test's measure (a loaded machine
    // can exceed any tight bound), so the bound only catches the quadratic cost, which took
    // minutes for these 18,000 names (2,000 layers took 4.6 s); the probe count below is the
    // exact check.
    #expect(elapsed < .seconds(60), "building \(graph.operationCount) operations took \(elapsed)")
    // The deterministic check of linearity: the suffixes tried while naming, at most a few per
    // operation (a scan would try each taken suffix again: about N²/2 = 1.6e8 here).
    #expect(graph.namingProbes <= 2 * graph.operationCount, "\(graph.namingProbes) naming probes for \(graph.operationCount) operations")
    #expect(adds[0].operation.name == "Add" && adds[1].operation.name == "Add_1" && adds[17_999].operation.name == "Add_17999")
    #expect(layers[0].name == "dense" && layers[1].name == "dense_1" && layers.last?.name == "dense_\(layers.count - 1)")
  }
}

// MARK: 5. Silent wrong results

@Suite struct HostileSilentResultTests {
  @Test func valuesThatBecomeGarbageAreErrors() throws {
    // A finite double that overflows float32.
    let table = try NumericTable(text: "1,2\n1e300,3\n")
    #expect { _ = try table.checkedMatrix() } throws: { "\($0)".contains("line 2, column 1") && "\($0)".contains("float32") }
    #expect(throws: DatasetError.self) { _ = try table.dataset() }
    // A subnormal standard deviation.
    #expect(throws: DatasetError.self) { _ = try Standardizer(mean: [0], standardDeviation: [Double("1e-320")!]) }
    // Learning rates that round to 0 or overflow in float32.
    for rate in [1e-50, 1e39] {
      var c = DigitsRecipe.Configuration()
      c.learningRate = rate
      #expect(throws: RecipeError.self) { try c.validate() }
      // The Fashion-MNIST recipe too (it accepted 1e-50 and trained with a rate of 0).
      var f = FashionRecipe.Configuration()
      f.learningRate = rate
      #expect(throws: RecipeError.self) { try f.validate() }
    }
    // In float64 the digits recipe takes both (they are normal doubles), and refuses a subnormal.
    for rate in [1e-50, 1e39] {
      var c = DigitsRecipe.Configuration()
      (c.learningRate, c.dtype) = (rate, .float64)
      try c.validate()
    }
    var subnormal = DigitsRecipe.Configuration()
    (subnormal.learningRate, subnormal.dtype) = (Double.leastNormalMagnitude / 4, .float64)
    #expect { try subnormal.validate() } throws: { "\($0)".contains("too small for float64") }
    // A UTF-8 byte order mark at the start of a CSV is accepted.
    #expect(try NumericTable(bytes: [0xEF, 0xBB, 0xBF] + Array("1,2\n3,4\n".utf8), source: "bom.csv", hasHeader: false).values == [1, 2, 3, 4])
    // A seed that merely broadcasts to y is refused (it gave twice the gradient).
    let g = Graph()
    let x = try g.variable(NDArray([Float(1), 2, 3], shape: [1, 3]), name: "x")
    let y = try x * x
    let seed = g.constant(NDArray([Float](repeating: 1, count: 6), shape: [2, 3]))
    #expect(throws: GraphError.self) { _ = try gradients(of: [y], withRespectTo: [x], gradientSeeds: [seed]) }
  }

  @Test func modelFilesWithNaNWeightsOrAnotherActivationAreRefused() throws {
    let dir = try makeScratchDirectory("hostile")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    var c = DigitsRecipe.Configuration()
    c.epochs = 1
    c.rowLimit = 100
    c.hiddenSizes = [8]
    let model = try DigitsRecipe(c).run { _ in }.model
    var file = model.file
    file.metadata["activation"] = "tanh"
    try file.write(toPath: dir + "/tanh.safetensors")
    #expect { _ = try DigitsModel(contentsOfFile: dir + "/tanh.safetensors") } throws: { "\($0)".contains("tanh") }
    file = model.file
    var kernel = try #require(file.tensors["layer1/kernel"]).scalars(as: Float.self)
    kernel[5] = .nan
    file.tensors["layer1/kernel"] = NDArray(kernel, shape: [64, 8])
    try file.write(toPath: dir + "/nan.safetensors")
    #expect { _ = try DigitsModel(contentsOfFile: dir + "/nan.safetensors") } throws: { "\($0)".contains("must be finite") }
  }

  @Test func safetensorsNamesAreByteStrings() throws {
    // "é" precomposed (NFC) and decomposed (NFD): two names for the format, equal for Swift.
    let nfc = "caf\u{E9}", nfd = "cafe\u{301}"
    let file = SafetensorsFile(tensors: [nfc: NDArray([Float(1)])])
    #expect(file.tensor(named: nfc) != nil)
    #expect(file.tensor(named: nfd) == nil)
    // A checkpoint holding the NFD name does not restore into the NFC variable.
    let dir = try makeScratchDirectory("hostile")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try SafetensorsFile(tensors: [nfd: NDArray([Float(5)])]).write(toPath: dir + "/ck.safetensors")
    let g = Graph()
    _ = try g.variable(NDArray([Float(1)]), name: nfc)
    let s = Session(graph: g)
    try s.initializeVariables()
    #expect(throws: CheckpointError.self) { _ = try Checkpoint.restore(session: s, from: dir + "/ck.safetensors") }
  }

  @Test(.enabled(if: backpropToolIsBuilt, "needs the backprop tool built beside the tests"))
  func predictRefusesPixelsBeyondFloat32() throws {
    let dir = try makeScratchDirectory("hostile")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    #expect(try runBackpropTool(["digits", "--epochs", "1", "--hidden", "8", "--save", dir + "/m.safetensors", "--quiet"]).status == 0)
    try digitsCSV(rows: 3, pixel: { i, j in i == 1 && j == 7 ? "1e300" : "3" }).write(toFile: dir + "/in.csv", atomically: false, encoding: .utf8)
    try expectToolRefuses(["predict", "--model", dir + "/m.safetensors", "--input", dir + "/in.csv"], "line 2, column 8")
    try expectToolRefuses(["digits", "--learning-rate", "1e-50"], "too small for float32")
    try expectToolRefuses(["fashion", "--learning-rate", "1e-50"], "too small for float32")
    try expectToolRefuses(["digits", "--learning-rate", "1e39"], "too large for float32")
  }
}

// MARK: 6. Messages safe to print

@Suite struct HostileMessageTests {
  @Test func messagesQuoteShortEscapedExcerpts() throws {
    // A cell that would set the terminal's title, and a 10 MB line.
    let title = "\u{1B}]0;pwned\u{07}"
    do {
      _ = try NumericTable(text: "1,2\n3,\(title)\n")
      Issue.record("accepted")
    } catch {
      let message = error.description
      #expect(!message.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F })
      #expect(message.contains("\\u{1B}]0;pwned\\u{7}"))
    }
    let huge = String(repeating: "x", count: 10_000_000)
    do {
      _ = try NumericTable(text: "1,2\n3,\(huge)\n")
      Issue.record("accepted")
    } catch {
      #expect(error.description.count < 300)
      #expect(error.description.contains("(10000000 characters)"))
    }
    // File-system errors: words and the path (escaped).
    do {
      _ = try FileIO.readBytes(atPath: "/nonexistent-\u{1B}[2J/x")
      Issue.record("read a missing file")
    } catch {
      #expect(error.description == "/nonexistent-\\u{1B}[2J/x: cannot open: No such file or directory")
    }
    #expect(SafeText.excerpt("a\u{202E}b\tc") == "a\\u{202E}b\\u{9}c")
  }

  @Test(.enabled(if: backpropToolIsBuilt, "needs the backprop tool built beside the tests"))
  func theToolPrintsNoControlCharacters() throws {
    let dir = try makeScratchDirectory("hostile")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try "1,2\n3,\u{1B}]0;pwned\u{07}\n".write(toFile: dir + "/evil.csv", atomically: false, encoding: .utf8)
    let outcome = try runBackpropTool(["digits", "--data", dir + "/evil.csv"])
    #expect(outcome.status != 0)
    #expect(!outcome.error.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x07 }, "\(outcome.error)")
    let option = try runBackpropTool(["regression", "--steps", "\u{1B}[31mred"])
    #expect(option.status != 0)
    #expect(!option.error.unicodeScalars.contains { $0.value == 0x1B }, "\(option.error)")
  }
}
