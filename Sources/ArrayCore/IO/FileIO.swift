import CBackpropKernels

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// Whole-file reads and atomic whole-file writes on the POSIX file API (no Foundation).
///
/// Reads accept regular files only (after following symbolic links): a device (`/dev/zero`,
/// `/dev/urandom`), a pipe or a socket is refused before a byte is read, so no read is
/// unbounded; the size is also checked against a limit (by default
/// ``SizeLimits/maximumAllocationBytes``, half of the machine's memory).
///
/// ``writeAtomically(_:toPath:)`` writes a temporary file in the destination's directory,
/// flushes it to disk (`fsync`), then renames it over the destination, so a reader sees either
/// the old file or the complete new one, never a partial write. What is at the destination
/// stays what it was: a symbolic link is followed (its target is replaced, the link stays), an
/// existing file keeps its permission bits (and, best effort, its owner), and a device, pipe,
/// socket or directory is never replaced (an error). The temporary file is removed when the
/// process is interrupted by SIGINT, SIGTERM or SIGHUP during the write; one left by a process
/// killed with SIGKILL is removed by the next save to the same path.
public enum FileIO {
  /// The longest file name (one path component) the file system takes, in bytes.
  public static let maximumNameBytes = 255
  /// The longest prefix of the destination's name kept in the temporary file's name, in bytes,
  /// so that `.<prefix>.tmp-<pid>-<n>-<k>` fits in ``maximumNameBytes`` for any legal name.
  static let temporaryPrefixBytes = 200

  /// Reads a whole regular file.
  /// - Parameter limit: the largest file size accepted, in bytes (default
  ///   ``SizeLimits/maximumAllocationBytes``).
  /// - Throws: ``ArrayFileError/fileSystem(path:operation:message:)`` when the file cannot be
  ///   opened or read, is not a regular file (a directory, device, pipe or socket), or is
  ///   larger than `limit`.
  public static func readBytes(atPath path: String, limit: Int = SizeLimits.maximumAllocationBytes)
    throws(ArrayFileError) -> [UInt8]
  {
    // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below.
    let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
    guard fd >= 0 else { throw systemError(path, "open") }
    defer { close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0 else { throw systemError(path, "stat") }
    if let kind = nonRegularKind(info.st_mode) {
      throw .fileSystem(path: path, operation: "read", message: "it is \(kind), not a regular file")
    }
    let size = Int(info.st_size)
    guard size <= limit else {
      throw .fileSystem(
        path: path, operation: "read",
        message: "the file has \(size) bytes, more than the limit of \(limit) (\(SizeLimits.describe(bytes: limit)))")
    }
    var bytes = [UInt8]()
    bytes.reserveCapacity(size)
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
      let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
      if n < 0 {
        if errno == EINTR || errno == EAGAIN { continue }
        throw systemError(path, "read")
      }
      if n == 0 { break }
      bytes.append(contentsOf: chunk[0..<n])
      if bytes.count > limit {
        throw .fileSystem(path: path, operation: "read", message: "the file grew beyond the limit of \(limit) bytes")
      }
    }
    return bytes
  }

  /// "a directory", "a character device"...: what a non-regular file is, or nil for a regular file.
  static func nonRegularKind(_ mode: mode_t) -> String? {
    switch mode & S_IFMT {
    case S_IFREG: nil
    case S_IFDIR: "a directory"
    case S_IFCHR: "a character device"
    case S_IFBLK: "a block device"
    case S_IFIFO: "a pipe (FIFO)"
    case S_IFSOCK: "a socket"
    case S_IFLNK: "a symbolic link"
    default: "not a file"
    }
  }

  /// The path a write to `path` lands on: `path` itself, or the final target of the symbolic
  /// links it names (relative targets resolved against the link's directory; at most 40 links).
  /// - Throws: ``ArrayFileError/fileSystem(path:operation:message:)`` for a loop of links.
  public static func resolvingSymbolicLinks(_ path: String) throws(ArrayFileError) -> String {
    var target = path
    for _ in 0..<40 {
      var info = stat()
      guard lstat(target, &info) == 0, info.st_mode & S_IFMT == S_IFLNK else { return target }
      var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
      let n = readlink(target, &buffer, buffer.count - 1)
      guard n >= 0 else { throw systemError(path, "read the symbolic link") }
      let destination = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
      target = destination.hasPrefix("/") ? destination : directoryPrefix(of: target) + destination
    }
    throw .fileSystem(path: path, operation: "follow", message: "too many levels of symbolic links")
  }

  /// Everything up to and including the last slash of `path`, or "" when it has none.
  static func directoryPrefix(of path: String) -> String {
    guard let slash = path.utf8.lastIndex(of: UInt8(ascii: "/")) else { return "" }
    return String(decoding: path.utf8[...slash], as: UTF8.self)
  }

  /// The last component of `path` (after its last slash).
  static func namePart(of path: String) -> String {
    guard let slash = path.utf8.lastIndex(of: UInt8(ascii: "/")) else { return path }
    return String(decoding: path.utf8[path.utf8.index(after: slash)...], as: UTF8.self)
  }

  /// The start of the temporary files' names for `name`: `.<name>.tmp-`, with `name` cut to
  /// ``temporaryPrefixBytes`` bytes (at a character boundary).
  static func temporaryStem(for name: String) -> String {
    var prefix = ""
    var bytes = 0
    for c in name.unicodeScalars {
      let n = String(c).utf8.count
      if bytes + n > temporaryPrefixBytes { break }
      bytes += n
      prefix.unicodeScalars.append(c)
    }
    return "." + prefix + ".tmp-"
  }

  /// Checks, without writing, that `path` can be a destination of
  /// ``writeAtomically(_:toPath:)``: a file name within ``maximumNameBytes`` bytes, and, when
  /// something exists there (after following links), a regular file.
  /// - Throws: ``ArrayFileError/fileSystem(path:operation:message:)``.
  public static func checkWritableDestination(_ path: String) throws(ArrayFileError) {
    guard !path.isEmpty, !path.hasSuffix("/") else {
      throw .fileSystem(path: path, operation: "write", message: "not a file path")
    }
    let target = try resolvingSymbolicLinks(path)
    guard namePart(of: target).utf8.count <= maximumNameBytes else {
      throw .fileSystem(path: path, operation: "write", message: "the file name is longer than \(maximumNameBytes) bytes")
    }
    var info = stat()
    if stat(target, &info) == 0, let kind = nonRegularKind(info.st_mode) {
      throw .fileSystem(path: path, operation: "replace", message: "it is \(kind), not a regular file; refusing to replace it")
    }
  }

  /// Checks, without touching what is at `path`, that a new file can be created where
  /// ``writeAtomically(_:toPath:)`` would create its temporary file (the directory of `path`,
  /// links followed): a temporary file is created and removed at once. A read-only file system,
  /// a directory without write permission or a directory such as `/proc/self` that takes no new
  /// files is reported before a long run rather than after it.
  /// - Throws: ``ArrayFileError/fileSystem(path:operation:message:)``.
  public static func checkCanCreateFile(besides path: String) throws(ArrayFileError) {
    let target = try resolvingSymbolicLinks(path)
    let prefix = directoryPrefix(of: target)
    let directory = prefix.isEmpty ? "./" : prefix
    // The temporary files' own name pattern: a probe killed with SIGKILL is cleaned up by
    // the next save, like a killed save's.
    let probe = "\(directory)\(temporaryStem(for: namePart(of: target)))\(getpid())-probe"
    let slot = bp_tempfile_register(probe)
    defer { bp_tempfile_unregister(slot) }
    let fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
    guard fd >= 0 else { throw systemError(path, "create a file in \(directory)") }
    close(fd)
    unlink(probe)
  }

  /// Replaces the file at `path` with `bytes` atomically: writes `.<name>.tmp-<pid>-<n>-<k>` in
  /// the same directory (the name cut to 200 bytes), `fsync`s it, renames it to `path`, then
  /// `fsync`s the directory. A symbolic link at `path` is followed (the file it names is
  /// replaced); an existing file's permission bits are kept; an existing directory, device,
  /// pipe or socket is refused. Temporary files of dead processes left beside `path` (a save
  /// killed with SIGKILL) are removed first.
  /// - Throws: ``ArrayFileError/fileSystem(path:operation:message:)``; the temporary file is
  ///   removed on failure and the destination is left as it was.
  public static func writeAtomically(_ bytes: [UInt8], toPath path: String) throws(ArrayFileError) {
    try checkWritableDestination(path)
    let target = try resolvingSymbolicLinks(path)
    let prefix = directoryPrefix(of: target)
    let directory = prefix.isEmpty ? "./" : prefix
    let stem = temporaryStem(for: namePart(of: target))
    var existing = stat()
    let exists = stat(target, &existing) == 0
    removeStaleTemporaryFiles(in: directory, stem: stem)

    var fd: Int32 = -1
    var temporary = ""
    var slot: Int32 = -1
    for attempt in 0..<100 {
      var now = timespec()
      clock_gettime(CLOCK_MONOTONIC, &now)
      temporary = "\(directory)\(stem)\(getpid())-\(now.tv_nsec)-\(attempt)"
      slot = bp_tempfile_register(temporary)  // before it exists: a signal then unlinks nothing
      fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
      if fd >= 0 { break }
      let code = errno
      bp_tempfile_unregister(slot)
      errno = code
      if code != EEXIST { break }
    }
    guard fd >= 0 else { throw systemError(path, "create a temporary file in \(directory)") }
    var failure: ArrayFileError?
    if exists {
      if fchmod(fd, existing.st_mode & 0o7777) != 0 { failure = systemError(path, "keep the permission bits of") }
      _ = fchown(fd, existing.st_uid, existing.st_gid)  // best effort (only root may give files away)
    }
    var written = 0
    if failure == nil {
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
    }
    if failure == nil, fsync(fd) != 0 { failure = systemError(path, "fsync") }
    if close(fd) != 0, failure == nil { failure = systemError(path, "close") }
    if failure == nil, rename(temporary, target) != 0 { failure = systemError(path, "rename the temporary file to") }
    if let failure {
      unlink(temporary)
      bp_tempfile_unregister(slot)
      throw failure
    }
    bp_tempfile_unregister(slot)
    let dirFD = open(directory, O_RDONLY | O_CLOEXEC)
    if dirFD >= 0 {
      _ = fsync(dirFD)  // best effort: makes the rename durable
      close(dirFD)
    }
  }

  /// Removes `<directory><stem><pid>-...` files whose process `pid` no longer exists: the
  /// leftovers of saves killed with SIGKILL (best effort; errors are ignored).
  static func removeStaleTemporaryFiles(in directory: String, stem: String) {
    // The name is read in place: an entry that readdir returns can be shorter than
    // `MemoryLayout<dirent>.size` (its `d_reclen`), so copying `entry.pointee` or its 256-byte
    // `d_name` reads past the directory buffer (AddressSanitizer's heap-buffer-overflow).
    guard let nameOffset = MemoryLayout<dirent>.offset(of: \dirent.d_name), let dir = opendir(directory) else { return }
    defer { closedir(dir) }
    let me = getpid()
    var stale: [String] = []
    while let entry = readdir(dir) {
      let name = String(cString: UnsafeRawPointer(entry).advanced(by: nameOffset).assumingMemoryBound(to: CChar.self))
      guard name.hasPrefix(stem) else { continue }
      let rest = name.dropFirst(stem.count)
      guard let dash = rest.firstIndex(of: "-"), let pid = pid_t(rest[..<dash]), pid > 0, pid != me else { continue }
      if kill(pid, 0) != 0 && errno == ESRCH { stale.append(directory + name) }
    }
    for path in stale { unlink(path) }
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
