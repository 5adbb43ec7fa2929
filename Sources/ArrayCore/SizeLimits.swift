#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// A size that user input asked for is too large: its arithmetic overflows `Int`, or it is
/// beyond ``SizeLimits/maximumAllocationBytes``. Thrown before anything is allocated.
public struct SizeLimitError: Error, Sendable, Equatable, CustomStringConvertible {
  /// The message: what was asked for and the limit.
  public var description: String
  /// Creates the error with its message.
  public init(_ description: String) { self.description = description }
}

/// The documented limits on what user input may make Backprop allocate or read, and checked
/// size arithmetic for the places where user input becomes a size.
///
/// - ``maximumAllocationBytes``: half of the machine's physical memory (12 GiB on a 24 GiB
///   machine). A single request beyond it (an array, a model's parameters, a file read whole)
///   is a thrown ``SizeLimitError``, not an attempt that ends with the out-of-memory killer.
/// - Products of sizes (`checkedProduct`) throw instead of overflowing.
public enum SizeLimits {
  /// The machine's physical memory in bytes (`sysconf(_SC_PHYS_PAGES) · sysconf(_SC_PAGESIZE)`),
  /// or 4 GiB when the system does not say.
  public static let physicalMemoryBytes: Int = {
    let pages = sysconf(Int32(_SC_PHYS_PAGES)), pageSize = sysconf(Int32(_SC_PAGESIZE))
    guard pages > 0, pageSize > 0 else { return 1 << 32 }
    let (bytes, overflow) = Int(pages).multipliedReportingOverflow(by: Int(pageSize))
    return overflow ? Int.max : bytes
  }()

  /// The largest single allocation (or whole-file read) that user input may request: half of
  /// ``physicalMemoryBytes``.
  public static let maximumAllocationBytes: Int = physicalMemoryBytes / 2

  /// The product of `factors`, or a ``SizeLimitError`` naming `what` when it overflows `Int`
  /// or a factor is negative.
  public static func checkedProduct(_ factors: [Int], what: @autoclosure () -> String) throws(SizeLimitError) -> Int {
    var n = 1
    for f in factors {
      guard f >= 0 else { throw SizeLimitError("\(what()): negative size \(f) in \(factors)") }
      let (p, overflow) = n.multipliedReportingOverflow(by: f)
      guard !overflow else { throw SizeLimitError("\(what()): the size \(factors.map(String.init).joined(separator: " × ")) overflows a 64-bit integer") }
      n = p
    }
    return n
  }

  /// The sum of `terms`, or a ``SizeLimitError`` naming `what` when it overflows `Int`.
  public static func checkedSum(_ terms: [Int], what: @autoclosure () -> String) throws(SizeLimitError) -> Int {
    var n = 0
    for t in terms {
      let (s, overflow) = n.addingReportingOverflow(t)
      guard !overflow else { throw SizeLimitError("\(what()): the total size overflows a 64-bit integer") }
      n = s
    }
    return n
  }

  /// Checks that `elements` elements of `bytesPerElement` bytes fit in
  /// ``maximumAllocationBytes``; returns the byte count.
  /// - Throws: ``SizeLimitError`` naming `what`, the bytes requested and the limit.
  @discardableResult
  public static func checkAllocation(elements: Int, bytesPerElement: Int, what: @autoclosure () -> String)
    throws(SizeLimitError) -> Int
  {
    let bytes = try checkedProduct([elements, bytesPerElement], what: what())
    guard bytes <= maximumAllocationBytes else {
      throw SizeLimitError(
        "\(what()): needs \(describe(bytes: bytes)), more than the limit of \(describe(bytes: maximumAllocationBytes)) (half of this machine's memory)")
    }
    return bytes
  }

  /// `12.0 GiB`, `512 bytes`: a byte count for messages.
  public static func describe(bytes: Int) -> String {
    let units = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
    guard bytes >= 1024 else { return "\(bytes) bytes" }
    var value = Double(bytes) / 1024, unit = 0
    while value >= 1024, unit < units.count - 1 {
      value /= 1024
      unit += 1
    }
    let tenths = (value * 10).rounded()
    return "\(Int(tenths) / 10).\(Int(tenths) % 10) \(units[unit])"
  }
}
