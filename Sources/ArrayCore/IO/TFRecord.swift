#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// CRC-32C (Castagnoli, reflected polynomial `0x82F63B78`), as TFRecord files use it.
public enum CRC32C {
  static let table: [UInt32] = (0..<256).map { i -> UInt32 in
    var c = UInt32(i)
    for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
    return c
  }

  /// The CRC-32C of `bytes` (`"123456789"` gives `0xE3069283`).
  public static func checksum<C: Collection<UInt8>>(_ bytes: C) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for b in bytes { crc = table[Int((crc ^ UInt32(b)) & 0xff)] ^ (crc >> 8) }
    return crc ^ 0xFFFF_FFFF
  }

  /// TensorFlow's masked CRC (`tensorflow/core/lib/hash/crc32c.h`):
  /// `((crc >> 15) | (crc << 17)) + 0xa282ead8`, so that a CRC of data holding CRCs stays
  /// informative.
  public static func masked<C: Collection<UInt8>>(_ bytes: C) -> UInt32 {
    let crc = checksum(bytes)
    return ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8
  }
}

/// TFRecord framing, the container of TensorFlow's event files and `.tfrecord` data sets
/// (`tensorflow/core/lib/io/record_writer.cc`): each record is
///
/// ```text
/// uint64 length (little-endian) | uint32 masked CRC-32C of those 8 bytes | length bytes of data | uint32 masked CRC-32C of the data
/// ```
public enum TFRecord {
  /// The framed bytes of one record.
  public static func frame(_ data: [UInt8]) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(data.count + 16)
    let length = UInt64(data.count)
    for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: length >> (8 * UInt64(i)))) }
    let lengthCRC = CRC32C.masked(out[0..<8])
    for i in 0..<4 { out.append(UInt8(truncatingIfNeeded: lengthCRC >> (8 * UInt32(i)))) }
    out.append(contentsOf: data)
    let dataCRC = CRC32C.masked(data)
    for i in 0..<4 { out.append(UInt8(truncatingIfNeeded: dataCRC >> (8 * UInt32(i)))) }
    return out
  }

  /// Splits a file's bytes into its records, checking both CRCs of each.
  /// - Throws: ``ArrayFileError/malformed(format:source:reason:)`` naming the record and byte
  ///   offset for a truncated record or a CRC mismatch.
  public static func records(in bytes: [UInt8], source: String = "<bytes>") throws(ArrayFileError) -> [ArraySlice<UInt8>] {
    var out: [ArraySlice<UInt8>] = []
    var p = 0
    func le(_ at: Int, _ n: Int) -> UInt64 {
      var v: UInt64 = 0
      for i in 0..<n { v |= UInt64(bytes[at + i]) << (8 * UInt64(i)) }
      return v
    }
    while p < bytes.count {
      let index = out.count
      guard bytes.count - p >= 12 else {
        throw .malformed(format: "TFRecord", source: source, reason: "record \(index) at byte \(p): truncated header (\(bytes.count - p) of 12 bytes)")
      }
      let length = le(p, 8)
      guard UInt32(le(p + 8, 4)) == CRC32C.masked(bytes[p..<p + 8]) else {
        throw .malformed(format: "TFRecord", source: source, reason: "record \(index) at byte \(p): length CRC mismatch")
      }
      guard length <= UInt64(bytes.count - p - 12), bytes.count - p - 12 - Int(length) >= 4 else {
        throw .malformed(
          format: "TFRecord", source: source,
          reason: "record \(index) at byte \(p): truncated (claims \(length) bytes, \(bytes.count - p - 12) remain with the CRC)")
      }
      let data = bytes[(p + 12)..<(p + 12 + Int(length))]
      guard UInt32(le(p + 12 + Int(length), 4)) == CRC32C.masked(data) else {
        throw .malformed(format: "TFRecord", source: source, reason: "record \(index) at byte \(p): data CRC mismatch")
      }
      out.append(data)
      p += 16 + Int(length)
    }
    return out
  }
}

private func posixWrite(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int { write(fd, p, n) }
private func posixClose(_ fd: Int32) -> Int32 { close(fd) }

/// Appends TFRecord records to a file as a run goes, so that TensorBoard can follow it live.
///
/// Each record is one `write(2)` of its whole framed bytes, and ``flush()`` calls `fsync`: a
/// crash can leave at most a truncated last record, which readers (TensorFlow's and
/// ``TFRecord/records(in:source:)``) detect by its length and CRC. This is the one file this
/// package writes by appending rather than atomically, because it is read while it grows.
public final class TFRecordFileWriter: @unchecked Sendable {
  /// The file's path.
  public let path: String
  private var fd: Int32

  /// Creates the file, which must not exist yet: an existing file, or a link at `path`, is
  /// never truncated or followed (the open is exclusive, `O_EXCL`), so no earlier run's log is lost.
  /// - Throws: ``ArrayFileError/fileSystem(path:operation:message:)`` ("File exists" when
  ///   something is at `path`).
  public init(path: String) throws(ArrayFileError) {
    self.path = path
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw FileIO.systemError(path, "create") }
  }

  deinit { if fd >= 0 { _ = posixClose(fd) } }

  /// Appends one record.
  /// - Throws: ``ArrayFileError/fileSystem(path:operation:message:)`` (also after ``close()``).
  public func write(record data: [UInt8]) throws(ArrayFileError) {
    guard fd >= 0 else { throw .fileSystem(path: path, operation: "write", message: "the writer is closed") }
    let framed = TFRecord.frame(data)
    var written = 0
    var failure: ArrayFileError?
    framed.withUnsafeBytes { raw in
      while written < raw.count {
        let n = posixWrite(fd, raw.baseAddress! + written, raw.count - written)
        if n < 0 {
          if errno == EINTR { continue }
          failure = FileIO.systemError(path, "write")
          return
        }
        written += n
      }
    }
    if let failure { throw failure }
  }

  /// Makes the records written so far durable (`fsync`).
  public func flush() throws(ArrayFileError) {
    guard fd >= 0 else { return }
    guard fsync(fd) == 0 else { throw FileIO.systemError(path, "fsync") }
  }

  /// Flushes and closes the file; later writes throw.
  public func close() throws(ArrayFileError) {
    guard fd >= 0 else { return }
    defer { fd = -1 }
    try flush()
    guard posixClose(fd) == 0 else { throw FileIO.systemError(path, "close") }
  }
}
