import Backprop

/// The kernel workloads of `backprop bench`: SGEMM throughput and elementwise bandwidth, plus
/// the generic Swift loops that the C kernels replaced (so the gain is measured, not assumed).
struct KernelWorkload {
  /// The name printed and matched by `--filter`.
  var name: String
  /// The throughput unit: "GFLOP/s" or "GB/s".
  var unit: String
  /// Work per call in the unit's numerator (floating-point operations or bytes), in units of 1e9.
  var workPerCall: Double
  /// Calls per timed repetition.
  var calls: Int
  /// One call.
  var call: () throws -> Void
}

extension BenchCommand {
  /// SGEMM and DGEMM at 64…2048 (GFLOP/s = 2n³ / time), SGEMM at the training shapes (32x64 by 64x128,
  /// 128x1600 by 1600x10, matrix-vector and vector-matrix), and a*x+b at 1e6 and 1e7 float32
  /// elements (GB/s = 8 bytes per element, one read and one write, as for NumPy's `a*x+b`):
  /// through the graph, as one pass, and as two kernels.
  /// Only the workloads `wanted` accepts are set up (their arrays take memory and time).
  func kernelWorkloads(wanted: (String) -> Bool) throws -> [KernelWorkload] {
    var list: [KernelWorkload] = []
    var rng = SeededGenerator(seed: 11)
    for (prefix, dtype) in [("sgemm", DType.float32), ("dgemm", .float64)] {
      for n in [64, 128, 256, 512, 1024, 2048] where wanted("\(prefix) \(n)x\(n)x\(n)") {
        let a = try rng.uniformArray(shape: [n, n], low: -1, high: 1, dtype: dtype)
        let b = try rng.uniformArray(shape: [n, n], low: -1, high: 1, dtype: dtype)
        var c = NDArray()
        let flops = 2 * Double(n) * Double(n) * Double(n)
        list.append(KernelWorkload(
          name: "\(prefix) \(n)x\(n)x\(n)", unit: "GFLOP/s", workPerCall: flops / 1e9,
          calls: Swift.max(1, (dtype == .float32 ? 1 << 31 : 1 << 30) / (n * n * n))) { try Kernels.matmul(a, b, into: &c) })
      }
    }
    // The shapes training runs (m×k by k×n): a batch of 32 through a 64-128 layer, the CNN's
    // dense layer (batch 128, 1600 inputs, 10 classes), matrix-vector and vector-matrix.
    for (m, k, n) in Self.trainingShapes where wanted(Self.trainingShapeName(m, k, n)) {
      let a = try rng.uniformArray(shape: [m, k], low: -1, high: 1, dtype: .float32)
      let b = try rng.uniformArray(shape: [k, n], low: -1, high: 1, dtype: .float32)
      var c = NDArray()
      let flops = 2 * Double(m) * Double(n) * Double(k)
      list.append(KernelWorkload(
        name: Self.trainingShapeName(m, k, n), unit: "GFLOP/s", workPerCall: flops / 1e9,
        calls: Swift.max(1, (1 << 29) / (m * n * k))) { try Kernels.matmul(a, b, into: &c) })
    }
    // Weight gradients, xᵀ·dy: A stored as the batch, transposed (the dense layer's, and the
    // second convolution's as one product over the batch's 15488 output pixels).
    for (m, k, n) in Self.transposedTrainingShapes where wanted(Self.trainingShapeName(m, k, n) + ", A transposed") {
      let a = try rng.uniformArray(shape: [k, m], low: -1, high: 1, dtype: .float32)
      let b = try rng.uniformArray(shape: [k, n], low: -1, high: 1, dtype: .float32)
      var c = NDArray()
      let flops = 2 * Double(m) * Double(n) * Double(k)
      list.append(KernelWorkload(
        name: Self.trainingShapeName(m, k, n) + ", A transposed", unit: "GFLOP/s", workPerCall: flops / 1e9,
        calls: Swift.max(1, (1 << 29) / (m * n * k))) { try Kernels.matmul(a, b, transposeA: true, into: &c) })
    }
    for count in [1_000_000, 10_000_000] {
      let label = count == 1_000_000 ? "1e6" : "1e7"
      let names = ["graph", "one-pass kernel", "two kernels", "generic Swift zip"].map { "a*x+b \($0), \(label) float32" }
      guard names.contains(where: wanted) else { continue }
      let x = try rng.uniformArray(shape: [count], low: -1, high: 1, dtype: .float32)
      let scale = NDArray(scalar: Float(1.5)), shift = NDArray(scalar: Float(-0.25))
      var y = NDArray(), t = NDArray()
      let gigabytes = 8 * Double(count) / 1e9
      let calls = Swift.max(1, 200_000_000 / count)
      // What the graph runs for `a * x + b`: a prepared step of that graph, x fed every call,
      // y fetched (the graph does not fuse the two operations: two kernels, two passes).
      let graph = Graph()
      let xt = graph.placeholder(.float32, shape: [count])
      let session = Session(graph: graph)
      let step = try session.prepare(fetches: [try 1.5 * xt + -0.25], feeds: [xt])
      list.append(KernelWorkload(name: names[0], unit: "GB/s", workPerCall: gigabytes, calls: calls) {
        try step.setFeed(0, to: x)
        try step.run()
      })
      // A one-pass kernel that no graph operation runs today (what fusing would reach).
      list.append(KernelWorkload(name: names[1], unit: "GB/s", workPerCall: gigabytes, calls: calls) {
        try Kernels.scaleAndShift(x, scale: 1.5, shift: -0.25, into: &y)
      })
      list.append(KernelWorkload(name: names[2], unit: "GB/s", workPerCall: gigabytes, calls: calls) {
        try Kernels.arithmetic(.multiply, x, scale, into: &t)
        try Kernels.arithmetic(.add, t, shift, into: &y)
      })
      list.append(KernelWorkload(name: names[3], unit: "GB/s", workPerCall: gigabytes, calls: calls) {
        try Kernels.zip(x, scale, Float.self, Float.self, into: &t) { $0 * $1 }
        try Kernels.zip(t, shift, Float.self, Float.self, into: &y) { $0 + $1 }
      })
    }
    // Layer normalization as the graph runs it: a prepared step of `normalize(x, axes: [1])` on a
    // batch of 256 rows of 1024 features, x fed every call (GB/s: 8 bytes per element, x read and
    // x̂ written; the kernel also writes each row's mean and variance).
    if wanted(Self.layerNormName) {
      let (rows, features) = (256, 1024)
      let x = try rng.uniformArray(shape: [rows, features], low: -1, high: 1, dtype: .float32)
      let graph = Graph()
      let xt = graph.placeholder(.float32, shape: [rows, features])
      let step = try Session(graph: graph).prepare(fetches: [try normalize(xt, axes: [1]).normalized], feeds: [xt])
      list.append(KernelWorkload(name: Self.layerNormName, unit: "GB/s", workPerCall: 8 * Double(rows * features) / 1e9, calls: 2000) {
        try step.setFeed(0, to: x)
        try step.run()
      })
    }
    // The maximum of each row of the same batch (softmax's shift, logSumExp, max-pooling's
    // global form): GB/s over the 4 bytes per element read.
    if wanted(Self.rowMaxName) {
      let x = try rng.uniformArray(shape: [256, 1024], low: -1, high: 1, dtype: .float32)
      var out = NDArray()
      list.append(KernelWorkload(name: Self.rowMaxName, unit: "GB/s", workPerCall: 4 * Double(x.elementCount) / 1e9, calls: 2000) {
        try Kernels.extreme(x, axes: [1], keepDims: false, largest: true, into: &out)
      })
    }
    // Whole operations as the graph runs them: a prepared step of one operation on a batch of
    // 256x1024 float32 values (x fed every call, and y for two-input operations), GB/s counting
    // 8 bytes per element of x (one read, one write) whatever the operation does, so that the
    // ratio to NumPy's same expression is a ratio of times (`Scripts/bench/kernels.py`).
    let operationRows: [(String, (Tensor, Tensor) throws -> Tensor)] = [
      ("exp", { a, _ in try exp(a) }),
      ("log of abs(x)", { a, _ in try log(abs(a)) }),
      ("sqrt of abs(x)", { a, _ in try sqrt(abs(a)) }),
      ("tanh", { a, _ in try tanh(a) }),
      ("sigmoid", { a, _ in try sigmoid(a) }),
      ("softmax, last axis", { a, _ in try softmax(a) }),
      ("log-softmax, last axis", { a, _ in try logSoftmax(a) }),
      ("softmax, first axis", { a, _ in try softmax(a, axis: 0) }),
      ("sigmoid cross-entropy", { a, b in try sigmoidCrossEntropyWithLogits(logits: a, labels: b) }),
      ("log1p of y", { _, b in try log1p(b) }),
      ("softplus", { a, _ in try softplus(a) }),
      ("argMax, last axis", { a, _ in try cast(argMax(a), to: .float32) }),
      ("concat, last axis", { a, b in try concat([a, b], axis: 1) }),
      ("transpose", { a, _ in try transpose(a) }),
    ]
    for (label, build) in operationRows where wanted(Self.operationName(label)) {
      let (rows, columns) = (256, 1024)
      let x = try rng.uniformArray(shape: [rows, columns], low: -1, high: 1, dtype: .float32)
      let y = try rng.uniformArray(shape: [rows, columns], low: 0, high: 1, dtype: .float32)
      let graph = Graph()
      let a = graph.placeholder(.float32, shape: [rows, columns]), b = graph.placeholder(.float32, shape: [rows, columns])
      let step = try Session(graph: graph).prepare(fetches: [try build(a, b)], feeds: [a, b])
      list.append(KernelWorkload(name: Self.operationName(label), unit: "GB/s", workPerCall: 8 * Double(rows * columns) / 1e9, calls: 300) {
        try step.setFeed(0, to: x)
        try step.setFeed(1, to: y)
        try step.run()
      })
    }
    // Other kernels at 1e6 elements, C against the generic Swift loop (GB/s over bytes read and written).
    let n = 1_000_000
    let x = try rng.uniformArray(shape: [n], low: -1, high: 1, dtype: .float32)
    let z = try rng.uniformArray(shape: [n], low: 0.5, high: 2, dtype: .float32)
    var out = NDArray()
    let three = 12 * Double(n) / 1e9, two = 8 * Double(n) / 1e9, one = 4 * Double(n) / 1e9
    // In-cache size (L1/L2), where the vector width matters more than memory bandwidth.
    let xs = try rng.uniformArray(shape: [10_000], low: -1, high: 1, dtype: .float32)
    let zs = try rng.uniformArray(shape: [10_000], low: 0.5, high: 2, dtype: .float32)
    var small = NDArray()
    list += [
      KernelWorkload(name: "x+y, 1e4 float32", unit: "GB/s", workPerCall: 12e4 / 1e9, calls: 20_000) {
        try Kernels.arithmetic(.add, xs, zs, into: &small)
      },
      KernelWorkload(name: "x+y generic Swift zip, 1e4 float32", unit: "GB/s", workPerCall: 12e4 / 1e9, calls: 20_000) {
        try Kernels.zip(xs, zs, Float.self, Float.self, into: &small) { $0 + $1 }
      },
    ]
    list += [
      KernelWorkload(name: "x+y, 1e6 float32", unit: "GB/s", workPerCall: three, calls: 200) {
        try Kernels.arithmetic(.add, x, z, into: &out)
      },
      KernelWorkload(name: "x+y generic Swift zip, 1e6 float32", unit: "GB/s", workPerCall: three, calls: 200) {
        try Kernels.zip(x, z, Float.self, Float.self, into: &out) { $0 + $1 }
      },
      KernelWorkload(name: "relu, 1e6 float32", unit: "GB/s", workPerCall: two, calls: 200) {
        try Kernels.relu(x, into: &out)
      },
      KernelWorkload(name: "relu generic Swift map, 1e6 float32", unit: "GB/s", workPerCall: two, calls: 200) {
        Kernels.map(x, Float.self, Float.self, into: &out) { $0 > 0 ? $0 : 0 }
      },
      KernelWorkload(name: "sum, 1e6 float32", unit: "GB/s", workPerCall: one, calls: 200) {
        Kernels.sum(x, axes: [0], keepDims: false, into: &out)
      },
      KernelWorkload(name: "sum generic Swift reduce, 1e6 float32", unit: "GB/s", workPerCall: one, calls: 200) {
        Kernels.reduce(x, Float.self, axes: [0], keepDims: false, initial: 0, into: &out, +)
      },
    ]
    return list.filter { wanted($0.name) }
  }

  /// The layer-normalization row's name (`Scripts/bench/kernels.py` measures NumPy's under it).
  static let layerNormName = "layer norm 256x1024, float32"
  /// The name of an operation's row (`op <label>, 256x1024 float32`), NumPy's too.
  static func operationName(_ label: String) -> String { "op \(label), 256x1024 float32" }
  /// The row-maximum row's name (NumPy's `x.max(axis=1)` under the same name).
  static let rowMaxName = "max of each row 256x1024, float32"

  /// The training shapes of the kernel rows, (m, k, n) for an m×k by k×n product.
  static let trainingShapes = [(32, 64, 128), (128, 1600, 10), (1024, 1024, 1), (1, 1024, 1024)]

  /// The training shapes whose left operand is stored transposed (m, k, n): the dense layer's
  /// weight gradient (1600 inputs, batch 128, 10 outputs), and the example CNN's second
  /// convolution's filter gradient as one product (3x3x32 = 288 taps by the 128 x 11 x 11 =
  /// 15488 output pixels of a batch, by their 64 channels' gradient).
  static let transposedTrainingShapes = [(1600, 128, 10), (288, 15488, 64)]

  /// `sgemm 32x64 by 64x128`.
  static func trainingShapeName(_ m: Int, _ k: Int, _ n: Int) -> String { "sgemm \(m)x\(k) by \(k)x\(n)" }

  /// The header line naming the matrix-product backend, e.g.
  /// `# matmul: blas (/usr/lib/x86_64-linux-gnu/libopenblas.so.0), kernels avx2+fma, 2 threads`.
  func kernelBackendLine() -> String {
    var line = "# matmul: \(KernelSettings.matmulBackend)"
    if let library = KernelSettings.blasLibrary { line += " (\(library))" }
    line += ", kernels \(KernelSettings.instructionSet), \(KernelSettings.matmulThreads) threads"
    if let error = KernelSettings.blasError { line += "; BACKPROP_BLAS not used: \(error)" }
    let f = KernelSettings.matmulBlocking(for: .float32), d = KernelSettings.matmulBlocking(for: .float64)
    let caches = KernelSettings.cacheSizes.map { $0 == 0 ? "?" : $0 >= 1 << 20 ? "\($0 >> 20) MiB" : "\($0 >> 10) KiB" }
    line += "; blocking KC/MC/NC float \(f.kc)/\(f.mc)/\(f.nc), double \(d.kc)/\(d.mc)/\(d.nc)"
    line += " (L1d/L2/L3 \(caches.joined(separator: "/")))"
    if let note = KernelSettings.instructionSetNote { line += "; \(note)" }
    return line
  }

  /// Times a kernel workload and reports its throughput (the median of the repetitions; min and
  /// max are the slowest and fastest repetitions).
  func measureKernel(_ w: KernelWorkload) throws -> BenchResult {
    var r = try measure(w.call, steps: w.calls, repetitions: repetitions)
    let perNanosecond = { (ns: Double) in w.workPerCall / ns * 1e9 }
    r = BenchResult(
      workload: w.name, metric: w.unit == "GB/s" ? "bandwidth" : "throughput", unit: w.unit,
      median: perNanosecond(r.median), min: perNanosecond(r.max), max: perNanosecond(r.min),
      allocations: r.allocations)
    return r
  }
}
