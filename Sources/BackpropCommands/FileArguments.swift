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
///   The one pair allowed is `--restore ck --save ck`: resuming a checkpoint and saving the
///   continued run over it (the restore completes before the save, which is atomic).
struct FileArgument {
  /// The option (`--save`).
  var flag: String
  /// The path given.
  var path: String
  /// Whether the tool reads it (else it writes it).
  var isInput: Bool
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

/// Throws when two of `files` name the same file and one of them is an output (except
/// `--restore` and `--save` together).
func validateDistinctFiles(_ files: [FileArgument]) throws {
  let identities = files.map { fileIdentity($0.path) }
  for i in files.indices {
    for j in files.indices where j > i && identities[i] == identities[j] {
      let pair = Set([files[i].flag, files[j].flag])
      if pair == ["--restore", "--save"] || (files[i].isInput && files[j].isInput) { continue }
      let sameText = files[i].path == files[j].path
      throw ValidationError(
        "\(files[i].flag) \(files[i].path) and \(files[j].flag) \(files[j].path) name the same file\(sameText ? "" : " (through a link)"); "
          + (files[i].isInput || files[j].isInput ? "writing it would destroy the input" : "one output would overwrite the other")
          + ": give different files")
    }
  }
}
