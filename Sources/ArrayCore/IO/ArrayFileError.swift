/// An error reading or writing an array file (`.npy`, `.safetensors`) or any file through
/// ``FileIO``: the file system refused, or the bytes are not a valid file of the format.
///
/// Every message names the file (or `<bytes>` for in-memory data) and what is wrong:
/// `model.safetensors: tensor 'w' has data_offsets [0, 40] but dtype F32 and shape [3, 4]
/// need 48 bytes`.
public enum ArrayFileError: Error, Sendable, Equatable, CustomStringConvertible {
  /// The file system refused `operation` (open, read, write, fsync, rename) on `path`;
  /// `message` is the system's explanation (`strerror`).
  case fileSystem(path: String, operation: String, message: String)
  /// The bytes of `source` are not a valid `format` file (truncated, bad header, offsets
  /// out of range, bad JSON, ...).
  case malformed(format: String, source: String, reason: String)
  /// The file is valid but uses something this library does not read or write (a dtype,
  /// Fortran order, big-endian data).
  case unsupported(format: String, source: String, reason: String)
  /// The arrays given to a writer cannot be written (`reason` says why, e.g. a reserved name).
  case invalidArgument(format: String, reason: String)

  /// A one-line message naming the file and the problem, safe to print (see ``SafeText``).
  public var description: String { SafeText.printable(rawDescription) }

  private var rawDescription: String {
    switch self {
    case let .fileSystem(path, operation, message):
      "\(path): cannot \(operation): \(message)"
    case let .malformed(format, source, reason):
      "\(source): not a valid \(format) file: \(reason)"
    case let .unsupported(format, source, reason):
      "\(source): unsupported \(format) file: \(reason)"
    case let .invalidArgument(format, reason):
      "cannot write \(format): \(reason)"
    }
  }
}
