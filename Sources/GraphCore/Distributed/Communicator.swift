import ArrayCore
import CBackpropKernels
#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// How a collective combines the ranks' values.
public enum CollectiveReduction: String, Sendable, Hashable {
  /// `Σ_r x_r`.
  case sum
  /// `(1/N) Σ_r x_r` over the `N` ranks (the sum, then divided by `N`).
  case mean
}

/// The group of processes a data-parallel program runs as (MPI's `MPI_COMM_WORLD`): each process
/// has a rank in `0..<size`, and collectives combine buffers across all of them. Every rank must
/// call the same collectives in the same order.
///
/// Two implementations: ``SingleProcessCommunicator`` (one rank, every collective an identity,
/// what runs without `mpiexec`) and ``MPICommunicator`` (MPI loaded at run time).
public protocol Communicator: AnyObject, Sendable {
  /// This process's rank, in `0..<size`.
  var rank: Int { get }
  /// The number of ranks.
  var size: Int { get }
  /// `receive[i] = Σ_r send_r[i]` over the ranks, for `count` elements of `dtype` (float32,
  /// float64; int32 is not supported). The buffers must not overlap.
  /// - Throws: ``DistributedError/communication(operation:reason:)``.
  func allReduceSum(_ send: UnsafeRawPointer, into receive: UnsafeMutableRawPointer, count: Int, dtype: DType) throws
  /// Rank `root`'s `buffer` copied into every rank's `buffer` (same byte count on every rank).
  /// - Throws: ``DistributedError/communication(operation:reason:)``.
  func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws
  /// Every rank's `bytes` (the same count on every rank), in rank order.
  /// - Throws: ``DistributedError/communication(operation:reason:)``, or
  ///   ``DistributedError/invalidArgument(operation:reason:)`` when the counts differ.
  func allGather(_ bytes: [UInt8]) throws -> [[UInt8]]
}

extension Communicator {
  /// Every rank's `bytes`, which may have different lengths, in rank order (two gathers: the
  /// lengths, then the bytes padded to the longest).
  public func allGatherVariable(_ bytes: [UInt8]) throws -> [[UInt8]] {
    var length = UInt64(bytes.count).littleEndian
    let lengths = try allGather(withUnsafeBytes(of: &length) { Array($0) }).map { chunk in
      Int(chunk.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) })
    }
    let longest = lengths.max() ?? 0
    let padded = try allGather(bytes + [UInt8](repeating: 0, count: longest - bytes.count))
    return zip(padded, lengths).map { Array($0.prefix($1)) }
  }

  /// Every rank's `lines`, in rank order, when some rank's differ from rank 0's; `nil` when they
  /// all agree. One small gather of each rank's hash of its lines (FNV-1a, 64 bits, each line
  /// followed by a newline), and of the lines themselves only on a mismatch: the ranks' checks
  /// of their variables, their settings and their collective calls.
  package func differingLines(_ lines: [String]) throws -> (hashes: [UInt64], lines: [[String]])? {
    var h = FNV1a64()
    for line in lines { h.mix(bytes: line.utf8 + [10]) }
    var bits = h.value.littleEndian
    let hashes = try allGather(withUnsafeBytes(of: &bits) { Array($0) }).map { chunk in
      chunk.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
    }
    guard hashes.contains(where: { $0 != hashes[0] }) else { return nil }
    let gathered = try allGatherVariable(Array(lines.joined(separator: "\n").utf8)).map { bytes in
      bytes.isEmpty ? [] : String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }
    return (hashes, gathered)
  }

  /// Checks that every rank makes the same collective call (``differingLines(_:)`` of
  /// `operation` and `arguments`: the dtypes, shapes, reduction or root); when the ranks' differ
  /// every rank throws, naming the first rank that differs. Buffers of other sizes, dtypes or
  /// roots would otherwise be reduced or copied silently wrong on some ranks (MPI reports a
  /// truncation on one rank and hands the others bytes past the end of the shorter buffer), and
  /// two different collectives would wait on each other until the watchdog's timeout.
  /// - Throws: ``DistributedError/invalidArgument(operation:reason:)`` on every rank.
  func verifySameCall(_ operation: String, _ arguments: String) throws {
    guard let (hashes, texts) = try differingLines([operation + " " + arguments]) else { return }
    let r = hashes.firstIndex { $0 != hashes[0] }!
    throw DistributedError.invalidArgument(
      operation: operation,
      reason: "the ranks called different collectives: rank \(r) called \(texts[r].first ?? "") while rank 0 called \(texts[0].first ?? ""); every rank must make the same calls, with the same dtypes and shapes, in the same order")
  }

  /// The element-wise reduction of `arrays` (all of one float dtype) across the ranks, through
  /// one flat buffer and one collective call (Horovod's tensor fusion): the arrays are copied
  /// one after the other into a fusion buffer, reduced together, and copied back out. Every
  /// rank must pass arrays of the same dtypes and shapes, which is checked first (one small
  /// gather).
  /// - Throws: ``DistributedError``, on every rank when their arguments differ.
  public func allReduce(_ arrays: [NDArray], _ reduction: CollectiveReduction) throws -> [NDArray] {
    try verifySameCall("AllReduce", "\(reduction) of \(arrays.map { "\($0.dtype) \($0.shape)" })")
    guard let dtype = arrays.first?.dtype else { return [] }
    guard dtype.isFloatingPoint, arrays.allSatisfy({ $0.dtype == dtype }) else {
      throw DistributedError.invalidArgument(
        operation: "AllReduce", reason: "the tensors must share one float dtype, got \(arrays.map(\.dtype))")
    }
    let total = arrays.reduce(0) { $0 + $1.elementCount }
    let bytes = total * dtype.byteSize
    let send = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(bytes, 1), alignment: 64)
    let receive = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(bytes, 1), alignment: 64)
    defer {
      send.deallocate()
      receive.deallocate()
    }
    var offset = 0
    for a in arrays {
      a.withUnsafeRawBytes { if let base = $0.baseAddress { (send + offset).copyMemory(from: base, byteCount: $0.count) } }
      offset += a.elementCount * dtype.byteSize
    }
    try allReduceSum(send, into: receive, count: total, dtype: dtype)
    if reduction == .mean { divide(receive, count: total, dtype: dtype, by: size) }
    offset = 0
    return arrays.map { a in
      let r = NDArray(copyingBytes: UnsafeRawPointer(receive + offset), shape: a.shape, dtype: dtype)
      offset += a.elementCount * dtype.byteSize
      return r
    }
  }

  /// Rank `root`'s `arrays` on every rank (each rank passes arrays of the same shapes and
  /// dtypes, and the same root, which is checked first with one small gather), through one
  /// flat buffer and one broadcast.
  /// - Throws: ``DistributedError``, on every rank when their arguments differ.
  public func broadcast(_ arrays: [NDArray], root: Int) throws -> [NDArray] {
    try verifySameCall("Broadcast", "from root \(root) of \(arrays.map { "\($0.dtype) \($0.shape)" })")
    guard root >= 0, root < size else {
      throw DistributedError.invalidArgument(operation: "Broadcast", reason: "root \(root) is not a rank of 0..<\(size)")
    }
    let bytes = arrays.reduce(0) { $0 + $1.elementCount * $1.dtype.byteSize }
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Swift.max(bytes, 1), alignment: 64)
    defer { buffer.deallocate() }
    var offset = 0
    for a in arrays {
      a.withUnsafeRawBytes { if let base = $0.baseAddress { (buffer.baseAddress! + offset).copyMemory(from: base, byteCount: $0.count) } }
      offset += a.elementCount * a.dtype.byteSize
    }
    try broadcast(UnsafeMutableRawBufferPointer(rebasing: buffer[0..<bytes]), root: root)
    offset = 0
    return arrays.map { a in
      let r = NDArray(copyingBytes: UnsafeRawPointer(buffer.baseAddress! + offset), shape: a.shape, dtype: a.dtype)
      offset += a.elementCount * a.dtype.byteSize
      return r
    }
  }
}

/// One rank alone: every collective returns its input (what a program started without
/// `mpiexec` runs as).
public final class SingleProcessCommunicator: Communicator {
  /// Creates the one-rank group.
  public init() {}
  /// 0.
  public var rank: Int { 0 }
  /// 1.
  public var size: Int { 1 }
  /// Copies `send` into `receive`.
  public func allReduceSum(_ send: UnsafeRawPointer, into receive: UnsafeMutableRawPointer, count: Int, dtype: DType) throws {
    receive.copyMemory(from: send, byteCount: count * dtype.byteSize)
  }
  /// Leaves `buffer` as it is.
  public func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {}
  /// `[bytes]`.
  public func allGather(_ bytes: [UInt8]) throws -> [[UInt8]] { [bytes] }
}

/// The ranks of an MPI job (`MPI_COMM_WORLD`), through MPI's C API loaded at run time with
/// dlopen: MPICH (Debian's `mpich`, and libraries of its ABI) or Open MPI. Nothing of MPI is
/// needed to build or to run without it.
///
/// ```swift
/// let world = try MPICommunicator.world()          // MPI_Init_thread on first use
/// print(world.rank, world.size)
/// ```
///
/// Errors of MPI calls come back as thrown ``DistributedError``s (the communicator uses
/// `MPI_ERRORS_RETURN`). MPI is finalized by ``finalize()``.
public final class MPICommunicator: Communicator {
  /// This process's rank.
  public let rank: Int
  /// The number of ranks.
  public let size: Int
  /// The library that was loaded (`libmpich.so.12`).
  public let library: String
  /// `MPICH ABI` or `Open MPI`.
  public let interface: String

  private init() {
    rank = Int(bp_mpi_rank())
    size = Int(bp_mpi_size())
    library = bp_mpi_library().map { String(cString: $0) } ?? "?"
    interface = String(cString: bp_mpi_interface())
  }

  private static let lock = Lock()
  nonisolated(unsafe) private static var shared: MPICommunicator?

  /// Whether this process looks started by an MPI launcher (`mpiexec`/`mpirun` of MPICH's Hydra,
  /// Open MPI, Slurm's PMI): one of the environment variables `PMI_RANK`, `PMI_SIZE`,
  /// `PMIX_RANK`, `OMPI_COMM_WORLD_SIZE` is set.
  public static var launchedByMPI: Bool {
    let names: [String] = ["PMI_RANK", "PMI_SIZE", "PMIX_RANK", "OMPI_COMM_WORLD_SIZE"]
    return names.contains { getenv($0) != nil }
  }

  /// The number of ranks the launcher says it started (`OMPI_COMM_WORLD_SIZE` under Open MPI's
  /// `mpirun`, `PMI_SIZE` under MPICH's Hydra or Slurm's PMI), `nil` when it does not say.
  public static var launcherSize: Int? {
    (getenv("OMPI_COMM_WORLD_SIZE") ?? getenv("PMI_SIZE")).flatMap { Int(String(cString: $0)) }
  }

  /// This process's rank as the launcher says it before MPI starts (`OMPI_COMM_WORLD_RANK`
  /// under Open MPI's `mpirun`, `PMI_RANK` under MPICH's Hydra or Slurm's PMI, `PMIX_RANK`),
  /// `nil` when it does not say.
  public static var launcherRank: Int? {
    (getenv("OMPI_COMM_WORLD_RANK") ?? getenv("PMI_RANK") ?? getenv("PMIX_RANK")).flatMap { Int(String(cString: $0)) }
  }

  /// The world communicator, initializing MPI on first use. `library` (or the environment
  /// variable `BACKPROP_MPI`) names the MPI library to load; by default `libmpich.so.12`,
  /// `libmpi.so.12`, `libmpi.so.40` and `libmpi.so` are tried in that order, except under Open
  /// MPI's launcher (`OMPI_COMM_WORLD_SIZE` set), where Open MPI's `libmpi.so.40` is tried
  /// first: a library must match the launcher that started the ranks.
  /// Later calls return the same communicator: MPI starts once per process.
  /// - Throws: ``DistributedError/mpiUnavailable(reason:)`` when no library loads or
  ///   `MPI_Init_thread` fails, with how to install MPI, when MPI already runs in this
  ///   process with another library than `library` names, or when the library's world is not
  ///   the launcher's (`BACKPROP_MPI=libmpi.so.40` under MPICH's `mpiexec.hydra` starts each
  ///   rank as a one-rank world of its own).
  public static func world(library: String? = nil) throws -> MPICommunicator {
    try lock.withLock {
      if let shared {
        if let library, library != shared.library {
          throw DistributedError.mpiUnavailable(
            reason: "MPI already runs in this process with \(shared.library); a process starts one MPI library once, so \(library) cannot be loaded")
        }
        return shared
      }
      var name = library ?? getenv("BACKPROP_MPI").map { String(cString: $0) }
      if name == nil, getenv("OMPI_COMM_WORLD_SIZE") != nil, canLoad("libmpi.so.40") {
        name = "libmpi.so.40"
      }
      // A rank that never starts MPI would keep the others in MPI_Init forever.
      if launchedByMPI { bp_mpi_set_init_timeout(watchdogTimeout) }
      var error = [CChar](repeating: 0, count: 2048)
      let ok = error.withUnsafeMutableBufferPointer { e in
        name.map { n in n.withCString { bp_mpi_init($0, e.baseAddress, e.count) } } ?? bp_mpi_init(nil, e.baseAddress, e.count)
      }
      guard ok == 1 else {
        let reason = String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        throw DistributedError.mpiUnavailable(
          reason: "\(reason). Install MPI (Debian/Ubuntu: apt-get install mpich) or name the library with BACKPROP_MPI=/path/to/libmpi.so")
      }
      let world = MPICommunicator()
      if let launched = launcherSize, launched != world.size {
        // MPI started as a singleton (or a world of another size): the library is not the one
        // of the launcher that started this process, so every rank would run as rank 0 of 1
        // and train alone on all the data, each writing the same files.
        throw DistributedError.mpiUnavailable(
          reason: "the launcher started \(launched) ranks, but \(world.library) (\(world.interface)) sees \(world.size): it is not the MPI of the launcher (MPICH's mpiexec.hydra needs libmpich.so.12, Open MPI's mpirun libmpi.so.40); unset BACKPROP_MPI or set it to the launcher's library")
      }
      try world.startWatchdog()
      shared = world
      return world
    }
  }

  /// Whether the dynamic loader finds `library` (loaded and closed again).
  private static func canLoad(_ library: String) -> Bool {
    guard let handle = dlopen(library, RTLD_LAZY | RTLD_LOCAL) else { return false }
    dlclose(handle)
    return true
  }

  /// Each rank's process id and host name, in rank order (gathered when MPI starts).
  nonisolated(unsafe) public private(set) var processes: [(pid: Int, host: String)] = []  // set once, before publication

  /// `rank 0: pid 123 on node1, rank 1: pid 124 on node1`: to tell which rank a launcher's
  /// message about a process id is about.
  public var processTable: String {
    processes.enumerated().map { "rank \($0.offset): pid \($0.element.pid) on \($0.element.host)" }.joined(separator: ", ")
  }

  /// The seconds a collective may stay blocked before the watchdog ends the process naming the
  /// lost ranks: `BACKPROP_MPI_TIMEOUT`, 20 by default, 0 for no limit. Under a launcher,
  /// `MPI_Init` may wait as long for the other ranks to start MPI. (Ranks on the same host
  /// are also watched through pidfds: the death of one ends the others at once, naming it.)
  public static var watchdogTimeout: Double {
    getenv("BACKPROP_MPI_TIMEOUT").flatMap { Double(String(cString: $0)) } ?? 20
  }

  private func startWatchdog() throws {
    var name = [CChar](repeating: 0, count: 256)
    gethostname(&name, name.count - 1)
    let host = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    let mine = "\(getpid()) \(host)"
    processes = try allGatherVariable(Array(mine.utf8)).map { bytes in
      let parts = String(decoding: bytes, as: UTF8.self).split(separator: " ", maxSplits: 1)
      return (Int(parts.first ?? "") ?? 0, parts.count > 1 ? String(parts[1]) : "?")
    }
    let timeout = Self.watchdogTimeout
    guard size > 1 else { return }
    let localPids = processes.map { Int32($0.host == host ? $0.pid : 0) }
    _ = bp_mpi_start_watchdog(timeout, localPids, Int32(localPids.count))
  }

  /// `MPI_Get_library_version`'s first line (`MPICH Version: 4.0.2`).
  public var libraryVersion: String {
    var text = [CChar](repeating: 0, count: 8192)
    guard bp_mpi_library_version(&text, text.count) == 1 else { return "?" }
    let s = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return String(s.split(separator: "\n").first ?? "")
  }

  /// `MPI_Wtime()`: seconds from an arbitrary origin.
  public var time: Double { bp_mpi_wtime() }

  private func check(_ operation: String, _ call: (UnsafeMutablePointer<CChar>, Int) -> Int32) throws {
    var error = [CChar](repeating: 0, count: 1024)
    let ok = error.withUnsafeMutableBufferPointer { call($0.baseAddress!, $0.count) }
    if ok != 1 {
      let reason = String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
      throw DistributedError.communication(operation: operation, reason: "rank \(rank) of \(size): \(reason)")
    }
  }

  /// `MPI_Allreduce(MPI_SUM)` over `MPI_COMM_WORLD`.
  public func allReduceSum(_ send: UnsafeRawPointer, into receive: UnsafeMutableRawPointer, count: Int, dtype: DType) throws {
    let type: Int32
    switch dtype {
    case .float32: type = Int32(BP_MPI_FLOAT32)
    case .float64: type = Int32(BP_MPI_FLOAT64)
    default:
      throw DistributedError.invalidArgument(operation: "AllReduce", reason: "\(dtype) buffers are not reduced; use float32 or float64")
    }
    try check("MPI_Allreduce") { bp_mpi_allreduce(send, receive, count, type, Int32(BP_MPI_SUM), $0, $1) }
  }

  /// The time spent in all-reduces so far: inside `MPI_Allreduce`, and in whole fused
  /// all-reduces of ``AllReduce`` kernels (copies into and out of the fusion buffer included).
  public var statistics: (mpiSeconds: Double, mpiCalls: Int, fusedSeconds: Double, fusedCalls: Int) {
    var a = 0.0, b = 0.0
    var n = 0, m = 0
    bp_mpi_stats(&a, &n, &b, &m)
    return (a, n, b, m)
  }

  /// `MPI_Bcast` of the bytes.
  public func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {
    guard let base = buffer.baseAddress, buffer.count > 0 else { return }
    try check("MPI_Bcast") { bp_mpi_broadcast(base, buffer.count, Int32(root), $0, $1) }
  }

  /// `MPI_Allgather` of the bytes, after checking (with a first gather of the counts) that every
  /// rank gave as many.
  public func allGather(_ bytes: [UInt8]) throws -> [[UInt8]] {
    guard bytes.count <= Int(Int32.max) / Swift.max(size, 1) else {
      throw DistributedError.invalidArgument(operation: "AllGather", reason: "\(bytes.count) bytes per rank is too many")
    }
    // The counts first (8 bytes from every rank): ranks that gave different counts would get
    // the bytes past the end of a shorter buffer, or a truncation error on one rank only.
    var count = Int64(bytes.count).littleEndian
    let counts = try gather(withUnsafeBytes(of: &count) { Array($0) }).map { chunk in
      Int(chunk.withUnsafeBytes { Int64(littleEndian: $0.loadUnaligned(as: Int64.self)) })
    }
    if let r = counts.firstIndex(where: { $0 != bytes.count }) {
      throw DistributedError.invalidArgument(
        operation: "AllGather", reason: "rank \(r) gave \(counts[r]) bytes while rank \(rank) gave \(bytes.count); every rank must give the same count")
    }
    return try gather(bytes)
  }

  /// `MPI_Allgather` of `bytes`, the same count on every rank.
  private func gather(_ bytes: [UInt8]) throws -> [[UInt8]] {
    var receive = [UInt8](repeating: 0, count: Swift.max(bytes.count * size, 1))
    let send = bytes.isEmpty ? [0] : bytes
    try receive.withUnsafeMutableBytes { r in
      try send.withUnsafeBytes { s in
        try check("MPI_Allgather") { bp_mpi_allgather(s.baseAddress, r.baseAddress, Int32(bytes.count), $0, $1) }
      }
    }
    return (0..<size).map { Array(receive[($0 * bytes.count)..<(($0 + 1) * bytes.count)]) }
  }

  /// `MPI_Barrier`: returns once every rank has called it.
  /// - Throws: ``DistributedError/communication(operation:reason:)``.
  public func barrier() throws {
    try check("MPI_Barrier") { bp_mpi_barrier($0, $1) }
  }

  /// `MPI_Abort(MPI_COMM_WORLD, code)`: ends every rank of the job (the launcher kills the
  /// others). Used after an error on one rank so no rank is left waiting in a collective.
  public func abort(code: Int32) -> Never {
    bp_mpi_abort(code)
    exit(code)
  }

  /// `MPI_Finalize` (when this process initialized MPI). Call once, after the last collective.
  public func finalize() {
    _ = bp_mpi_finalize()
  }
}

/// An error of distributed (multi-process) training.
public enum DistributedError: Error, Sendable, Equatable, CustomStringConvertible {
  /// MPI could not be loaded or initialized.
  case mpiUnavailable(reason: String)
  /// An MPI call failed (a rank died, the network failed).
  case communication(operation: String, reason: String)
  /// The ranks built different graphs.
  case graphMismatch(reason: String)
  /// The ranks were given different settings (seed, batch size, learning rate, ...).
  case settingsMismatch(reason: String)
  /// A bad argument to a collective.
  case invalidArgument(operation: String, reason: String)

  /// The message.
  public var description: String {
    switch self {
    case let .mpiUnavailable(reason): "MPI is unavailable: \(reason)"
    case let .communication(operation, reason): "[\(operation)] communication failed: \(reason)"
    case let .graphMismatch(reason): "the ranks' graphs differ: \(reason)"
    case let .settingsMismatch(reason): "the ranks' settings differ: \(reason)"
    case let .invalidArgument(operation, reason): "[\(operation)] \(reason)"
    }
  }
}

/// Divides `count` floats of `dtype` at `values` by `ranks` in place (a sum across ranks made a
/// mean); nothing for one rank.
func divide(_ values: UnsafeMutableRawPointer, count: Int, dtype: DType, by ranks: Int) {
  guard ranks > 1 else { return }
  switch dtype {
  case .float32:
    let p = values.assumingMemoryBound(to: Float.self)
    for i in 0..<count { p[i] /= Float(ranks) }
  default:
    let p = values.assumingMemoryBound(to: Double.self)
    for i in 0..<count { p[i] /= Double(ranks) }
  }
}
