import ArrayCore
import GraphCore

// Convolution and pooling layers over channels-last images `[N, H, W, C]` (TF's NHWC), built on
// GraphCore's conv2d, maxPool2d, avgPool2d and globalAveragePool.

/// A 2-D convolution layer (Keras's `Conv2D`, TF1's `tf.layers.conv2d`):
///
/// `y = activation(conv2d(x, K) + b)`, `x` `[N, H, W, inputChannels]`, the kernel `K`
/// `[kh, kw, inputChannels / groups, filters]` (HWIO) and the bias `b` `[filters]`.
///
/// Variables `<name>/kernel` (Glorot uniform by default, fans as Keras: `fanIn = kh·kw·cin`,
/// `fanOut = kh·kw·filters`) and `<name>/bias` (zeros); the name defaults to `conv2d`.
public struct Conv2D: Layer, Sendable {
  /// The kernel, `[kh, kw, inputChannels / groups, filters]`.
  public let kernel: Tensor
  /// The bias, `[filters]`, unless the layer has none.
  public let bias: Tensor?
  /// The number of input channels.
  public let inputChannels: Int
  /// The number of output channels.
  public let filters: Int
  /// The window `[kh, kw]`.
  public let kernelSize: [Int]
  /// The strides `[sh, sw]`.
  public let strides: [Int]
  /// The padding.
  public let padding: Padding
  /// The dilations `[dh, dw]`.
  public let dilations: [Int]
  /// The number of channel groups.
  public let groups: Int
  /// The activation.
  public let activation: Activation
  /// The layer's unique name.
  public let name: String
  /// Where the layer was created.
  public var location: SourceLocation { SourceLocation(file, line) }
  let file: StaticString
  let line: UInt

  /// Creates the layer and its variables.
  /// - Parameter seed: seeds the kernel's values (a random bias initializer gets `seed + 1`).
  /// - Throws: `GraphError/invalidArgument(op:reason:location:)` for non-positive sizes, a
  ///   kernel size, stride or dilation that is not two positive numbers, or channel counts that
  ///   `groups` does not divide.
  public init(
    graph: Graph, inputChannels: Int, filters: Int, kernelSize: [Int], strides: [Int] = [1, 1], padding: Padding = .valid,
    dilations: [Int] = [1, 1], groups: Int = 1, activation: Activation = .linear, useBias: Bool = true,
    kernelInitializer: Initializer = .glorotUniform, biasInitializer: Initializer = .zeros, dtype: DType = .float32,
    seed: UInt64, name: String = "conv2d", file: StaticString = #fileID, line: UInt = #line
  ) throws {
    func fail(_ reason: String) -> GraphError {
      .invalidArgument(op: "Conv2D", reason: "layer '\(name)': \(reason)", location: SourceLocation(file, line))
    }
    guard inputChannels > 0, filters > 0 else { throw fail("needs positive inputChannels and filters, got \(inputChannels) and \(filters)") }
    for (label, v) in [("kernelSize", kernelSize), ("strides", strides), ("dilations", dilations)] {
      guard v.count == 2, v.allSatisfy({ $0 > 0 }) else { throw fail("\(label) must be two positive numbers, got \(v)") }
    }
    guard groups > 0, inputChannels % groups == 0, filters % groups == 0 else {
      throw fail("groups \(groups) must divide inputChannels \(inputChannels) and filters \(filters)")
    }
    let scope = uniqueScope(graph, name)
    self.name = scope
    self.file = file
    self.line = line
    self.inputChannels = inputChannels
    self.filters = filters
    self.kernelSize = kernelSize
    self.strides = strides
    self.padding = padding
    self.dilations = dilations
    self.groups = groups
    self.activation = activation
    kernel = try graph.variable(
      kernelInitializer, shape: Shape([kernelSize[0], kernelSize[1], inputChannels / groups, filters]), dtype: dtype, seed: seed,
      name: "\(scope)/kernel", file: file, line: line)
    bias = useBias
      ? try graph.variable(biasInitializer, shape: [filters], dtype: dtype, seed: seed &+ 1, name: "\(scope)/bias", file: file, line: line)
      : nil
  }

  /// `activation(conv2d(x, K) + b)`.
  /// - Throws: `GraphError` when `x` is not `[N, H, W, inputChannels]` of the layer's dtype
  ///   in its graph, or the window does not fit the (padded) image.
  public func callAsFunction(_ x: Tensor) throws -> Tensor {
    let dims = x.shape.dimensions
    guard x.canMeet(kernel), x.dtype == kernel.dtype, dims.count == 4, dims[3] == nil || dims[3] == inputChannels else {
      throw GraphError.invalidOperation(
        op: "Conv2D", name: name, inputs: [x.inputDescription],
        reason: "the layer expects a \(kernel.dtype) input [N, H, W, \(inputChannels)] (channels last) in its graph", location: location)
    }
    return try x.graph.withNameScope(name) {
      var y = try conv2d(x, kernel, strides: strides, padding: padding, dilations: dilations, groups: groups, file: file, line: line)
      if let bias { y = try add(y, bias, name: "bias_add", file: file, line: line) }
      return try activation(y, file: file, line: line)
    }
  }

  /// `[kernel, bias]` (or `[kernel]`).
  public var variables: [Tensor] { [kernel] + (bias.map { [$0] } ?? []) }
}

/// How a pooling layer reduces each window: ``MaxPooling`` (``MaxPool2D``) or
/// ``AveragePooling`` (``AvgPool2D``).
public protocol PoolingReduction: Sendable {
  /// The layer's name in its errors (`MaxPool2D`).
  static var layerName: String { get }
  /// Pools `x`, `[N, H, W, C]`, window by window, its operation built at `file:line`.
  static func pool(_ x: Tensor, window: [Int], strides: [Int], padding: Padding, file: StaticString, line: UInt) throws -> Tensor
}

/// The largest value of each window (``MaxPool2D``).
public enum MaxPooling: PoolingReduction {
  /// `MaxPool2D`.
  public static var layerName: String { "MaxPool2D" }
  /// `maxPool2d(x)`.
  public static func pool(_ x: Tensor, window: [Int], strides: [Int], padding: Padding, file: StaticString, line: UInt) throws -> Tensor {
    try maxPool2d(x, window: window, strides: strides, padding: padding, file: file, line: line)
  }
}

/// The mean of each window (``AvgPool2D``).
public enum AveragePooling: PoolingReduction {
  /// `AvgPool2D`.
  public static var layerName: String { "AvgPool2D" }
  /// `avgPool2d(x)`.
  public static func pool(_ x: Tensor, window: [Int], strides: [Int], padding: Padding, file: StaticString, line: UInt) throws -> Tensor {
    try avgPool2d(x, window: window, strides: strides, padding: padding, file: file, line: line)
  }
}

/// Pooling over `[N, H, W, C]`: each window reduced as `Reduction` says (``MaxPool2D``,
/// ``AvgPool2D``). The strides default to the window. No variables.
public struct Pool2D<Reduction: PoolingReduction>: Layer, Sendable {
  /// The window `[wh, ww]`.
  public let window: [Int]
  /// The strides (the window by default).
  public let strides: [Int]
  /// The padding.
  public let padding: Padding
  /// Where the layer was created.
  public var location: SourceLocation { SourceLocation(file, line) }
  let file: StaticString
  let line: UInt

  /// Creates the layer.
  /// - Throws: `GraphError/invalidArgument(op:reason:location:)` unless the window and
  ///   strides are two positive numbers.
  public init(window: [Int] = [2, 2], strides: [Int]? = nil, padding: Padding = .valid, file: StaticString = #fileID, line: UInt = #line) throws {
    for (label, v) in [("window", window), ("strides", strides ?? window)] {
      guard v.count == 2, v.allSatisfy({ $0 > 0 }) else {
        throw GraphError.invalidArgument(
          op: Reduction.layerName, reason: "\(label) must be two positive numbers, got \(v)", location: SourceLocation(file, line))
      }
    }
    self.window = window
    self.strides = strides ?? window
    self.padding = padding
    self.file = file
    self.line = line
  }

  /// The pooled `x` (`maxPool2d(x)`, `avgPool2d(x)`).
  public func callAsFunction(_ x: Tensor) throws -> Tensor {
    try Reduction.pool(x, window: window, strides: strides, padding: padding, file: file, line: line)
  }

  /// None.
  public var variables: [Tensor] { [] }
}

/// Max pooling over `[N, H, W, C]` (Keras's `MaxPooling2D`): the largest value of each window.
/// The strides default to the window. No variables.
public typealias MaxPool2D = Pool2D<MaxPooling>

/// Average pooling over `[N, H, W, C]` (Keras's `AveragePooling2D`): the mean of each window.
/// The strides default to the window. No variables.
public typealias AvgPool2D = Pool2D<AveragePooling>

/// The mean over the spatial axes, `[N, H, W, C]` → `[N, C]` (Keras's `GlobalAveragePooling2D`).
/// No variables.
public struct GlobalAveragePool: Layer, Sendable {
  /// Where the layer was created.
  public var location: SourceLocation { SourceLocation(file, line) }
  let file: StaticString
  let line: UInt
  /// Creates the layer.
  public init(file: StaticString = #fileID, line: UInt = #line) {
    self.file = file
    self.line = line
  }
  /// `globalAveragePool(x)`.
  public func callAsFunction(_ x: Tensor) throws -> Tensor {
    try globalAveragePool(x, file: file, line: line)
  }
  /// None.
  public var variables: [Tensor] { [] }
}
