#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// Whole-file reads and atomic whole-file writes on the POSIX file API (no Foundation).
///
/// ``writeAtomically(_:toPath:)`` writes a temporary file in the destination's directory,
/// flushes it to disk (`fsync`), then renames it over the destination, so a reader sees either
/// the old file or the complete new one, never a partial write.
public enum FileIO {
  /// Reads a whole file.
  /// - Parameter limit: the largest file size accepted, in bytes.
  /// - Throws: ``ArrayFileError/fileSystem(path:operation:message:)`` when the file cannot be
  ///   opened or read, or is larger than `limit`.
  public static func readBytes(atPath path: String, limit: Int = Int.max) throws(ArrayFileError) -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw systemError(path, "open") }
    defer { close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0 else { throw systemError(path, "stat") }
    if (info.st_mode & S_IFMT) == S_IFDIR {
      throw .fileSystem(path: path, operation: "read", message: "is a directory")
    }
    let size = Int(info.st_size)
    guard size <= limit else {
      throw .fileSystem(path: path, operation: "read", message: "file has \(size) bytes, more than the limit of \(limit)")
    }
    var bytes = [UInt8]()
    bytes.reserveCapacity(size)
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
      let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
      if n < 0 {
        if errno == EINTR { continue }
        throw systemError(path, "read")
      }
      if n == 0 { break }
      bytes.append(contentsOf: chunk[0..<n])
      if bytes.count > limit {
        throw .fileSystem(path: path, operation: "read", message: "file is larger than the limit of \(limit) bytes")
      }
    }
    return bytes
  }

  /// Replaces the file at `path` with `bytes` atomically: writes `.<name>.tmp-<pid>-<n>` in the
  /// same directory, `fsync`s it, renames it to `path`, then `fsync`s the directory.
  /// - Throws: ``ArrayFileError/fileSystem(path:operation:message:)``; the temporary file is
  ///   removed on failure and the destination is left as it was.
  public static func writeAtomically(_ bytes: [UInt8], toPath path: String) throws(ArrayFileError) {
    guard !path.isEmpty, !path.hasSuffix("/") else {
      throw .fileSystem(path: path, operation: "write", message: "not a file path")
    }
    let slash = path.lastIndex(of: "/")
    let directory = slash.map { String(path[...$0]) } ?? "./"
    let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
    var fd: Int32 = -1
    var temporary = ""
    for attempt in 0..<100 {
      var now = timespec()
      clock_gettime(CLOCK_MONOTONIC, &now)
      temporary = "\(directory).\(name).tmp-\(getpid())-\(now.tv_nsec)-\(attempt)"
      fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
      if fd >= 0 || errno != EEXIST { break }
    }
    guard fd >= 0 else { throw systemError(path, "create a temporary file in \(directory)") }
    var failure: ArrayFileError?
    var written = 0
    bytes.withUnsafeBytes { raw in
      while written < raw.count {
        let n = write(fd, raw.baseAddress! + written, raw.count - written)
        if n < 0 {
          if errno == EINTR { continue }
          failure = systemError(path, "write")
          return
        }
        written += n
      }
    }
    if failure == nil, fsync(fd) != 0 { failure = systemError(path, "fsync") }
    if close(fd) != 0, failure == nil { failure = systemError(path, "close") }
    if failure == nil, rename(temporary, path) != 0 { failure = systemError(path, "rename the temporary file to") }
    if let failure {
      unlink(temporary)
      throw failure
    }
    let dirFD = open(directory, O_RDONLY | O_CLOEXEC)
    if dirFD >= 0 {
      _ = fsync(dirFD)  // best effort: makes the rename durable
      close(dirFD)
    }
  }

  /// Creates the directory `path` and its missing parents (`mkdir -p`).
  /// - Throws: ``ArrayFileError/fileSystem(path:operation:message:)``.
  public static func makeDirectories(atPath path: String) throws(ArrayFileError) {
    var prefix = path.hasPrefix("/") ? "/" : ""
    for part in path.split(separator: "/") {
      prefix += part + "/"
      if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
        throw systemError(prefix, "create the directory")
      }
    }
  }

  static func systemError(_ path: String, _ operation: String) -> ArrayFileError {
    let code = errno
    return .fileSystem(path: path, operation: operation, message: String(cString: strerror(code)))
  }
}
