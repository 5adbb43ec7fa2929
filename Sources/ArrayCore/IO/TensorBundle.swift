/// A TensorFlow checkpoint: the tensor bundle that `tf.compat.v1.train.Saver` and
/// `tf.train.Checkpoint` write as `<prefix>.index` and `<prefix>.data-NNNNN-of-MMMMM`
/// (`tensorflow/core/util/tensor_bundle/tensor_bundle.h`), read whole.
///
/// The index is a LevelDB table (`table/format.cc` of LevelDB, which TensorFlow's
/// `tensorflow/core/lib/io/table*` follows): a 48-byte footer (two block handles, then the magic
/// `0xdb4775248b80fb57`) points at an index block whose entries point at data blocks; each block is
/// prefix-compressed entries (shared key bytes, unshared key bytes, value bytes, each length a
/// varint), an array of restart offsets and their count, then a trailer of one compression-type
/// byte and the masked CRC-32C of the block and that byte. The entry of key `""` is the
/// `BundleHeaderProto` (number of shards, endianness); every other key is a tensor's name, whose
/// value is a `BundleEntryProto` (`tensor_bundle.proto`: dtype 1, shape 2, shard 3, offset 4,
/// size 5, masked CRC-32C of the bytes 6, slices 7) locating its little-endian bytes in a data file.
///
/// Every malformed input is a thrown ``ArrayFileError`` naming the file and what is wrong (never a
/// trap); compressed blocks, big-endian bundles and partitioned (sliced) tensors are refused by
/// name, and checksums are verified.
public struct TensorBundle: Sendable {
  /// A saved tensor's value.
  public enum Value: Sendable, Equatable {
    /// A tensor of a dtype Backprop computes.
    case array(NDArray)
    /// An int64 tensor (TensorFlow's step counter), as its values.
    case int64(values: [Int64], shape: Shape)
    /// A tensor of another dtype (TensorFlow's `DataType` code), not decoded: a string
    /// (`tf.train.Checkpoint`'s object graph), float16...
    case unsupported(dtypeCode: Int64, shape: Shape)
  }

  /// The tensors, by name.
  public let tensors: [String: Value]
  /// The names, sorted.
  public var sortedNames: [String] { tensors.keys.sorted() }

  /// LevelDB's table magic number (`kTableMagicNumber`).
  static let magic: UInt64 = 0xdb47_7524_8b80_fb57

  /// Reads the bundle `<prefix>.index` and its data files.
  /// - Throws: ``ArrayFileError`` when a file cannot be read or is not a valid bundle.
  public init(prefix: String) throws(ArrayFileError) {
    let indexPath = prefix + ".index"
    let index = try FileIO.readBytes(atPath: indexPath)
    try self.init(index: index, source: indexPath) { shard, count throws(ArrayFileError) in
      try FileIO.readBytes(atPath: Self.dataPath(prefix: prefix, shard: shard, of: count))
    }
  }

  /// The data file of shard `shard` of `count`: `<prefix>.data-00000-of-00001`.
  public static func dataPath(prefix: String, shard: Int, of count: Int) -> String {
    func five(_ n: Int) -> String {
      let digits = String(n)
      return String(repeating: "0", count: max(0, 5 - digits.count)) + digits
    }
    return "\(prefix).data-\(five(shard))-of-\(five(count))"
  }

  /// Reads a bundle from its index's bytes; `shard(i, count)` gives data file `i`'s bytes (read
  /// once each, when a tensor is in it).
  /// - Throws: ``ArrayFileError`` naming `source`.
  public init(
    index: [UInt8], source: String, shard: (Int, Int) throws(ArrayFileError) -> [UInt8]
  ) throws(ArrayFileError) {
    let format = "TensorFlow checkpoint index"
    func fail(_ reason: String) -> ArrayFileError { .malformed(format: format, source: source, reason: reason) }
    guard index.count >= 48 else { throw fail("\(index.count) bytes, shorter than the 48-byte footer") }
    let footer = index[(index.count - 48)...]
    var magic: UInt64 = 0
    for i in 0..<8 { magic |= UInt64(footer[footer.startIndex + 40 + i]) << (8 * UInt64(i)) }
    guard magic == Self.magic else { throw fail("no table magic number at the end (not a checkpoint index)") }
    var handles = Varints(bytes: footer.prefix(40), fail: fail)
    _ = try handles.blockHandle()  // the meta-index block: unused
    let indexHandle = try handles.blockHandle()
    var entries: [(key: [UInt8], value: ArraySlice<UInt8>)] = []
    for (_, handle) in try Self.blockEntries(index, indexHandle, fail: fail) {
      var v = Varints(bytes: handle, fail: fail)
      entries += try Self.blockEntries(index, try v.blockHandle(), fail: fail)
    }
    // The header, then the tensors.
    var shardCount = 1
    var values: [String: Value] = [:]
    var shards: [Int: [UInt8]] = [:]
    for (key, value) in entries {
      var r = ProtobufReader(value, format: format, source: source)
      if key.isEmpty {
        while let f = try r.next() {
          if f.number == 1, let n = f.integer {
            guard n >= 1, n <= 1 << 20 else { throw fail("the header gives \(n) shards") }
            shardCount = Int(n)
          }
          if f.number == 2, let e = f.integer, e != 0 { throw ArrayFileError.unsupported(format: format, source: source, reason: "a big-endian bundle") }
        }
        continue
      }
      guard let name = String(validating: key, as: UTF8.self) else { throw fail("a tensor name that is not UTF-8") }
      var dtype: Int64 = 0, shardID = 0, offset = 0, size = 0
      var dims: [Int] = []
      var crc: UInt32?
      while let f = try r.next() {
        switch f.number {
        case 1: dtype = f.integer ?? 0
        case 2:
          guard let d = f.data else { continue }
          var s = r.nested(d)
          while let sf = try s.next() {
            guard sf.number == 2, let dim = sf.data else { continue }
            var dr = s.nested(dim)
            var n: Int64 = 0
            while let df = try dr.next() { if df.number == 1 { n = df.integer ?? 0 } }
            guard n >= 0, n < 1 << 40 else { throw fail("tensor '\(name)': dimension \(n)") }
            dims.append(Int(n))
          }
        case 3: shardID = Int(clamping: f.integer ?? 0)
        case 4: offset = Int(clamping: f.integer ?? 0)
        case 5: size = Int(clamping: f.integer ?? 0)
        case 6: if case let .fixed32(c) = f.value { crc = c }
        case 7: throw ArrayFileError.unsupported(format: format, source: source, reason: "tensor '\(name)' is saved in slices (a partitioned variable)")
        default: break
        }
      }
      var count = 1
      for d in dims {
        let (p, o) = count.multipliedReportingOverflow(by: d)
        guard !o, p <= 1 << 30 else { throw fail("tensor '\(name)' of shape \(dims) is too large") }
        count = p
      }
      let shape = Shape(dims)
      let width: Int
      switch dtype {
      case 1, 3: width = 4
      case 2, 9: width = 8
      case 10: width = 1
      default:
        values[name] = .unsupported(dtypeCode: dtype, shape: shape)
        continue
      }
      guard size == count * width else { throw fail("tensor '\(name)': \(size) bytes for \(count) elements of \(width) bytes") }
      guard shardID >= 0, shardID < shardCount else { throw fail("tensor '\(name)' is in shard \(shardID) of \(shardCount)") }
      if shards[shardID] == nil { shards[shardID] = try shard(shardID, shardCount) }
      let data = shards[shardID]!
      guard offset >= 0, offset <= data.count, size <= data.count - offset else {
        throw fail("tensor '\(name)': bytes \(offset)..<\(offset + size) are outside its data file of \(data.count) bytes")
      }
      let bytes = data[offset..<(offset + size)]
      guard let crc, crc == CRC32C.masked(bytes) else { throw fail("tensor '\(name)': its bytes do not match their checksum") }
      func word(_ i: Int, _ n: Int) -> UInt64 {
        var v: UInt64 = 0
        for k in 0..<n { v |= UInt64(bytes[bytes.startIndex + i * n + k]) << (8 * UInt64(k)) }
        return v
      }
      switch dtype {
      case 1: values[name] = .array(NDArray((0..<count).map { Float(bitPattern: UInt32(word($0, 4))) }, shape: shape))
      case 2: values[name] = .array(NDArray((0..<count).map { Double(bitPattern: word($0, 8)) }, shape: shape))
      case 3: values[name] = .array(NDArray((0..<count).map { Int32(bitPattern: UInt32(word($0, 4))) }, shape: shape))
      case 9: values[name] = .int64(values: (0..<count).map { Int64(bitPattern: word($0, 8)) }, shape: shape)
      default: values[name] = .array(NDArray(bytes.map { $0 != 0 }, shape: shape))
      }
    }
    tensors = values
  }

  /// The entries of the block at `handle` of `file`, after checking its trailer.
  static func blockEntries(
    _ file: [UInt8], _ handle: (offset: Int, size: Int), fail: @escaping (String) -> ArrayFileError
  ) throws(ArrayFileError) -> [(key: [UInt8], value: ArraySlice<UInt8>)] {
    let (offset, size) = handle
    guard offset >= 0, size >= 4, offset <= file.count, size <= file.count - offset, file.count - offset - size >= 5 else {
      throw fail("a block at \(offset) of \(size) bytes is outside the file of \(file.count) bytes")
    }
    let block = file[offset..<(offset + size)]
    let type = file[offset + size]
    var stored: UInt32 = 0
    for k in 0..<4 { stored |= UInt32(file[offset + size + 1 + k]) << (8 * UInt32(k)) }
    guard stored == CRC32C.masked(file[offset...(offset + size)]) else { throw fail("the block at \(offset) does not match its checksum") }
    guard type == 0 else { throw fail("the block at \(offset) is compressed (type \(type)); only uncompressed indexes are read") }
    var restarts = 0
    for k in 0..<4 { restarts |= Int(block[block.endIndex - 4 + k]) << (8 * k) }
    guard restarts >= 1, restarts <= (size - 4) / 4 else { throw fail("the block at \(offset) claims \(restarts) restart points") }
    var v = Varints(bytes: block[block.startIndex..<(block.endIndex - 4 * (restarts + 1))], fail: fail)
    var entries: [(key: [UInt8], value: ArraySlice<UInt8>)] = []
    var key: [UInt8] = []
    while !v.isAtEnd {
      let shared = try v.int(), unshared = try v.int(), length = try v.int()
      guard shared <= key.count else { throw fail("an entry at \(offset) shares \(shared) bytes of a \(key.count)-byte key") }
      key = Array(key[..<shared]) + Array(try v.bytes(unshared))
      entries.append((key, try v.bytes(length)))
    }
    return entries
  }

  /// Varints (LevelDB's lengths and block handles) read in turn from `bytes`.
  struct Varints {
    var bytes: ArraySlice<UInt8>
    let fail: (String) -> ArrayFileError

    var isAtEnd: Bool { bytes.isEmpty }

    /// The next varint, as a non-negative `Int` below 2⁴⁰.
    mutating func int() throws(ArrayFileError) -> Int {
      var result = 0
      var shift = 0
      while let b = bytes.popFirst() {
        result |= Int(b & 0x7f) << shift
        if b & 0x80 == 0 {
          guard result < 1 << 40 else { throw fail("a length of \(result)") }
          return result
        }
        shift += 7
        guard shift < 42 else { throw fail("a varint longer than six bytes") }
      }
      throw fail("a truncated varint")
    }

    /// The next `count` bytes.
    mutating func bytes(_ count: Int) throws(ArrayFileError) -> ArraySlice<UInt8> {
      guard count <= bytes.count else { throw fail("an entry claims \(count) bytes, \(bytes.count) remain") }
      defer { bytes = bytes.dropFirst(count) }
      return bytes.prefix(count)
    }

    /// A block handle: offset and size.
    mutating func blockHandle() throws(ArrayFileError) -> (offset: Int, size: Int) { (try int(), try int()) }
  }
}
