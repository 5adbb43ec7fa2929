import ArrayCore
#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Fashion-MNIST (Xiao, Rasul & Vollgraf 2017, https://github.com/zalandoresearch/fashion-mnist):
/// 70,000 grayscale 28x28 images of clothing in 10 classes, 60,000 for training and 10,000 for
/// testing, in the four IDX files of the MNIST layout (MNIST itself loads the same way):
///
/// `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`,
/// `t10k-labels-idx1-ubyte`, each plain or with `.gz`.
///
/// On Debian and Ubuntu they come from the `dataset-fashion-mnist` package, in
/// `defaultDirectory` (`apt-get install dataset-fashion-mnist`).
///
/// Features are the pixels scaled to `[0, 1]` (`value / 255`), float32, one row of 784 per image
/// (row-major, the image's rows one after the other); labels are int32 classes `0...9`.
public struct FashionMNIST: Sendable {
  /// Where Debian's `dataset-fashion-mnist` installs the files.
  public static let defaultDirectory = "/usr/share/datasets/fashion-mnist"
  /// The command that installs them.
  public static let installCommand = "apt-get install dataset-fashion-mnist"
  /// The image side, 28.
  public static let side = 28
  /// The number of classes.
  public static let classCount = 10
  /// The class names, by label (from the Fashion-MNIST README).
  public static let classNames = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
  ]
  /// The four base file names: train images, train labels, test images, test labels.
  public static let fileNames = [
    "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
  ]

  /// The training set: 60,000 images.
  public let train: Dataset
  /// The test set: 10,000 images.
  public let test: Dataset
  /// The directory read.
  public let directory: String

  /// Loads the four files from `directory` (`defaultDirectory` when `nil`).
  /// - Parameters:
  ///   - trainLimit: keep only the first this many training images (quick runs).
  ///   - testLimit: keep only the first this many test images.
  /// - Throws: `DatasetError/missingFiles(paths:help:)` naming the missing files and the
  ///   install command; `DatasetError/malformedFile(source:reason:)` for a bad file, images
  ///   that are not `[n, 28, 28]` unsigned bytes, labels that are not `[n]` bytes in `0...9`, or
  ///   image and label counts that differ.
  public init(directory: String? = nil, trainLimit: Int? = nil, testLimit: Int? = nil) throws(DatasetError) {
    let dir = directory ?? Self.defaultDirectory
    self.directory = dir
    var paths: [String] = []
    var missing: [String] = []
    for name in Self.fileNames {
      let base = dir.hasSuffix("/") ? dir + name : dir + "/" + name
      if let found = [base, base + ".gz"].first(where: Self.isReadableFile) {
        paths.append(found)
      } else {
        missing.append(base + "[.gz]")
      }
    }
    guard missing.isEmpty else {
      let help =
        directory == nil
        ? "install Fashion-MNIST with `\(Self.installCommand)` (Debian/Ubuntu) or pass --data DIR holding the four IDX files"
        : "the directory must hold the four IDX files of the MNIST layout (Debian's copy: `\(Self.installCommand)`, in \(Self.defaultDirectory))"
      throw .missingFiles(paths: missing, help: help)
    }
    train = try Self.load(images: paths[0], labels: paths[1], limit: trainLimit)
    test = try Self.load(images: paths[2], labels: paths[3], limit: testLimit)
  }

  static func isReadableFile(_ path: String) -> Bool { access(path, R_OK) == 0 }

  /// Pairs an images file `[n, 28, 28]` with a labels file `[n]`.
  /// - Throws: `DatasetError/malformedFile(source:reason:)` (see `init(directory:trainLimit:testLimit:)`).
  public static func load(images imagesPath: String, labels labelsPath: String, limit: Int? = nil) throws(DatasetError) -> Dataset {
    let images = try IDXArray(contentsOfFile: imagesPath)
    guard images.typeCode == 0x08, images.dimensions.count == 3, images.dimensions[1] == side, images.dimensions[2] == side else {
      throw .malformedFile(
        source: imagesPath, reason: "expected unsigned-byte images [n, \(side), \(side)], got type 0x\(String(images.typeCode, radix: 16)) \(images.dimensions)")
    }
    let labels = try IDXArray(contentsOfFile: labelsPath)
    guard labels.typeCode == 0x08, labels.dimensions.count == 1 else {
      throw .malformedFile(source: labelsPath, reason: "expected unsigned-byte labels [n], got type 0x\(String(labels.typeCode, radix: 16)) \(labels.dimensions)")
    }
    guard labels.dimensions[0] == images.dimensions[0] else {
      throw .malformedFile(
        source: labelsPath, reason: "\(labels.dimensions[0]) labels for the \(images.dimensions[0]) images of \(imagesPath)")
    }
    if let bad = labels.bytes.firstIndex(where: { Int($0) >= classCount }) {
      throw .malformedFile(source: labelsPath, reason: "label \(labels.bytes[bad]) of item \(bad) is not a class 0...\(classCount - 1)")
    }
    let n = Swift.min(images.dimensions[0], Swift.max(limit ?? Int.max, 0))
    let d = side * side
    let features = images.bytes.withUnsafeBufferPointer { src in
      [Float](unsafeUninitializedCapacity: n * d) { buffer, count in
        for i in 0..<(n * d) { buffer[i] = Float(src[i]) / 255 }
        count = n * d
      }
    }
    let classes = labels.bytes[..<n].map { Int32($0) }
    return try Dataset(features: NDArray(features, shape: [n, d]), labels: NDArray(classes, shape: [n]))
  }
}
