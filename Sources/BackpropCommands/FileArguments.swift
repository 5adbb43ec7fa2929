import ArgumentParser
import Backprop
import Foundation

/// The checks every file argument of the tool goes through in `validate()`, before any work:
///
/// - an input (`--restore`, `--data`, `--model`, `--input`) must be an existing regular file
///   after following links (a device such as `/dev/zero`, a pipe or a directory is refused,
///   so no read is unbounded);
/// - an output (`--save`, `--plot`, `--log`, `--csv`, `--dot`, `--svg`) must be a file name of
///   at most 255 bytes in an existing directory, and what exists there must be a regular file
///   (the atomic replace never turns a device or a directory into a file);
/// - no two arguments may name the same file (after resolving links; two existing files are
///   compared by device and inode) when one of them is written, so an output cannot destroy an
///   input or another output (two inputs may be the same file).
///   The pairs allowed are `--restore ck --save ck` (or `--checkpoint ck`) and
///   `--restore dir --save-model dir`:
///   resuming and saving the continued run over what it resumed from (the restore completes
///   before the save, which is atomic file by file).
struct FileArgument {
  /// The option (`--save`).
  var flag: String
  /// The path given.
  var path: String
  /// Whether the tool reads it (else it writes it).
  var isInput: Bool
}

extension FileArgument {
  /// The arguments given among `options` (`flag: path`, `nil` for one not given), in order: those
  /// whose flag is in `inputs` are read, the others written.
  static func given(_ options: KeyValuePairs<String, String?>, inputs: Set<String> = []) -> [FileArgument] {
    options.compactMap { flag, path in path.map { FileArgument(flag: flag, path: $0, isInput: inputs.contains(flag)) } }
  }
}

/// Checks an input file argument: it must exist and be a regular file (after following links).
func validateInputPath(_ path: String, flag: String) throws {
  var info = stat()
  guard !path.isEmpty, stat(path, &info) == 0 else {
    throw ValidationError("\(flag) \(path): \(path.isEmpty ? "empty file name" : String(cString: strerror(errno)))")
  }
  if info.st_mode & S_IFMT != S_IFREG {
    let kind: String =
      switch info.st_mode & S_IFMT {
      case S_IFDIR: "a directory"
      case S_IFCHR: "a character device"
      case S_IFBLK: "a block device"
      case S_IFIFO: "a pipe (FIFO)"
      case S_IFSOCK: "a socket"
      default: "not a regular file"
      }
    throw ValidationError("\(flag) \(path): it is \(kind); give a regular file")
  }
}

/// Checks an input that may be a whole-model directory (`--restore`, `predict --model`): a
/// regular file, or a directory that holds `graph.pb` (its files are each read by a bounded,
/// checked reader).
func validateModelInputPath(_ path: String, flag: String) throws {
  if Session.isModelDirectory(path) { return }
  var info = stat()
  if stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR {
    throw ValidationError("\(flag) \(path): the directory holds no \(Session.ModelFiles.graph); give a checkpoint file or a directory written by --save-model")
  }
  try validateInputPath(path, flag: flag)
}

/// Checks a whole-model output directory (`--save-model`): a name in an existing directory,
/// and what exists there already is a directory (its `graph.pb` and `variables.safetensors`
/// are each replaced atomically; nothing else in it is touched).
func validateModelOutputPath(_ path: String, flag: String) throws {
  guard !path.isEmpty else { throw ValidationError("\(flag) needs a directory name, got ''") }
  var info = stat()
  if stat(path, &info) == 0 {
    guard info.st_mode & S_IFMT == S_IFDIR else {
      throw ValidationError("\(flag) \(path): it exists and is not a directory; give a directory (created if missing)")
    }
    guard access(path, W_OK) == 0 else { throw ValidationError("\(flag) \(path): \(String(cString: strerror(errno)))") }
    // The two files it will hold are outputs like any other: a directory or a device in their
    // place fails now, not after the run (and not after graph.pb was already replaced).
    var directory = path
    while directory.count > 1, directory.hasSuffix("/") { directory.removeLast() }
    for name in [Session.ModelFiles.graph, Session.ModelFiles.variables] {
      do {
        try FileIO.checkWritableDestination(directory + "/" + name)
        try FileIO.checkCanCreateFile(besides: directory + "/" + name)
      } catch {
        throw ValidationError("\(flag) \(path): \(error.description)")
      }
    }
    return
  }
  var trimmed = path
  while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed.removeLast() }
  let directory = directoryPart(of: trimmed)
  var isDirectory: ObjCBool = false
  if !directory.isEmpty,
    !(FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) && isDirectory.boolValue)
  {
    throw ValidationError("\(flag) \(path): the directory '\(directory)' does not exist")
  }
}

/// An identity for the file `path` names: its device and inode when it exists (links
/// followed), else the absolute path of its directory (links resolved) and its name.
func fileIdentity(_ path: String) -> String {
  var info = stat()
  if stat(path, &info) == 0 { return "inode \(info.st_dev):\(info.st_ino)" }
  let target = (try? FileIO.resolvingSymbolicLinks(path)) ?? path
  let directory = directoryPart(of: target)
  let name = target.split(separator: "/", omittingEmptySubsequences: true).last.map(String.init) ?? target
  let resolved = realpath(directory.isEmpty ? "." : directory, nil).map { pointer -> String in
    defer { free(pointer) }
    return String(cString: pointer)
  }
  return "path \(resolved ?? directory)/\(name)"
}

/// The pairs of options that may name the same file: resuming from it and saving the continued
/// run over it.
let resumePairs: [Set<String>] = [["--restore", "--save"], ["--restore", "--save-model"], ["--restore", "--checkpoint"]]

/// Throws when two of `files` name the same file and one of them is an output (except
/// `--restore` with `--save`, `--save-model` or `--checkpoint`).
///
/// A whole-model directory (`--restore DIR`, `--save-model DIR`, `predict --model DIR`) stands
/// for the files it holds or will hold (`DIR/graph.pb`, `DIR/variables.safetensors`), so
/// `--restore DIR --log DIR/graph.pb` is refused like `--restore f --log f`.
func validateDistinctFiles(_ files: [FileArgument]) throws {
  let files = files.flatMap(expandingModelDirectory)
  let identities = files.map { fileIdentity($0.path) }
  for i in files.indices {
    for j in files.indices where j > i && identities[i] == identities[j] {
      let pair = Set([files[i].flag, files[j].flag])
      if resumePairs.contains(pair) || (files[i].isInput && files[j].isInput) { continue }
      let sameText = files[i].path == files[j].path
      throw ValidationError(
        "\(files[i].flag) \(files[i].path) and \(files[j].flag) \(files[j].path) name the same file\(sameText ? "" : " (through a link)"); "
          + (files[i].isInput || files[j].isInput ? "writing it would destroy the input" : "one output would overwrite the other")
          + ": give different files")
    }
  }
}

/// The options whose value may be a whole-model directory.
let modelDirectoryFlags: Set<String> = ["--restore", "--save-model", "--model"]

/// `argument` itself, plus, when it names a whole-model directory (an existing one for an
/// input; any `--save-model`), the model's two files inside it under the same option.
func expandingModelDirectory(_ argument: FileArgument) -> [FileArgument] {
  guard modelDirectoryFlags.contains(argument.flag) else { return [argument] }
  var info = stat()
  let isDirectory = stat(argument.path, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR
  guard isDirectory || argument.flag == "--save-model" else { return [argument] }
  var directory = argument.path
  while directory.count > 1, directory.hasSuffix("/") { directory.removeLast() }
  return [argument]
    + [Session.ModelFiles.graph, Session.ModelFiles.variables].map {
      FileArgument(flag: argument.flag, path: directory + "/" + $0, isInput: argument.isInput)
    }
}

/// Whether `path` is a symbolic link (a loop or a dangling one included), so that the check of
/// an input reports what is wrong with it ("too many levels of symbolic links") rather than
/// "no such file".
func isSymbolicLink(_ path: String) -> Bool {
  var info = stat()
  return lstat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFLNK
}
