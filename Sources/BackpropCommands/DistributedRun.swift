import ArgumentParser
import Backprop
import CBackpropKernels
import Foundation

/// Runs a training command's `train` as one process (`distributed` false: no communicator;
/// refused when an MPI launcher started several ranks), as
/// a single rank when `--distributed` was given without an MPI launcher (saying so), or as a
/// rank of an MPI job: then this process first becomes the rank's supervisor (see
/// ``superviseRank()``), and the rank, its child, trains with the world communicator. A rank
/// that fails says which it is and ends the whole job (`MPI_Abort`), so no rank waits in a
/// collective; a mismatch of the graphs or of the settings, found by every rank at once, is
/// reported by rank 0.
func runRanks(distributed: Bool, command: String, train: ((any Communicator)?) throws -> Void) throws {
  guard distributed else {
    // Started as one of several ranks without --distributed: each would train alone on all the
    // data and write the same files, and ranks given --distributed would wait for it forever.
    if MPICommunicator.launchedByMPI, let ranks = MPICommunicator.launcherSize, ranks > 1 {
      throw CLIError(
        "started by mpiexec as one of \(ranks) ranks without --distributed: every rank would train alone on all the data and write the same files; give --distributed to every rank (or run one process without mpiexec)")
    }
    return try train(nil)
  }
  guard MPICommunicator.launchedByMPI else {
    FileHandle.standardError.write(
      Data("--distributed: not started by mpiexec, training as a single rank (mpiexec -n N backprop \(command) --distributed for N ranks)\n".utf8))
    return try train(SingleProcessCommunicator())
  }
  if bp_supervised_child() == 0 {
    // This process is the rank's supervisor: it runs the rank as its child and names it if a
    // signal kills it (MPICH's launcher then ends the job before the other ranks can).
    return try superviseRank()
  }
  let world = try MPICommunicator.world()
  do {
    try train(world)
  } catch {
    var mismatch = false
    switch error as? DistributedError {
    case .graphMismatch?, .settingsMismatch?: mismatch = true
    default: break
    }
    if world.rank == 0 || !mismatch {
      FileHandle.standardError.write(Data("Error (rank \(world.rank) of \(world.size)): \(error)\n".utf8))
    }
    if mismatch {
      // Every rank found the mismatch in the same collectives, so none waits in another one:
      // each ends MPI cleanly and exits with failure. (An abort here could end the job before
      // the launcher had forwarded rank 0's message: the message was lost once in 30 runs.)
      world.finalize()
      throw ExitCode.failure
    }
    if world.size > 1 {
      // One rank failed while the others may wait in a collective: end the job. Rank 0 reports
      // first; the pause lets the launcher forward the message before the abort tears it down.
      usleep(world.rank == 0 ? 200_000 : 500_000)
      world.abort(code: 1)
    }
    throw ExitCode.failure
  }
  world.finalize()
}

/// Whether a launcher started this process as a rank other than 0 (``MPICommunicator/launcherRank``).
/// Such a rank reads no `--restore` and writes no file: rank 0 restores and broadcasts, and
/// writes every checkpoint, model, log and plot. So those paths are checked on rank 0 only and
/// need to exist on rank 0's node only (a rank started without `--distributed` under a launcher
/// of several ranks is refused when it runs).
func isLaterRank() -> Bool { (MPICommunicator.launcherRank ?? 0) > 0 }

/// Runs this rank as a child process and waits for it: its exit status is this process's; if a
/// signal ended it, says so naming the rank and its process id, then ends with status 128 + the
/// signal, which makes the launcher end the job.
func superviseRank() throws {
  var argv: [UnsafeMutablePointer<CChar>?] = CommandLine.arguments.map { strdup($0) } + [nil]
  defer { for p in argv { free(p) } }
  var outcome = bp_child_outcome()
  guard bp_supervise_self(&argv, &outcome) == 0 else {
    throw CLIError("--distributed: cannot start the rank's process: \(String(cString: strerror(errno)))")
  }
  if outcome.signal != 0 {
    let env = ProcessInfo.processInfo.environment
    let rank = env["PMI_RANK"] ?? env["OMPI_COMM_WORLD_RANK"] ?? env["PMIX_RANK"] ?? "?"
    let size = env["PMI_SIZE"] ?? env["OMPI_COMM_WORLD_SIZE"] ?? "?"
    let name = String(cString: strsignal(outcome.signal))
    FileHandle.standardError.write(
      Data("Error (rank \(rank) of \(size)): rank \(rank) (pid \(outcome.pid)) was lost: killed by signal \(outcome.signal) (\(name)); the job ends\n".utf8))
    Foundation.exit(128 + outcome.signal)
  }
  if outcome.exit_code != 0 { throw ExitCode(outcome.exit_code) }
}

/// Rank 0's opening lines of a data-parallel run: the ranks, the MPI library and interface, the
/// batch per rank and the global batch (saturating, as the recipes form it:
/// `Batches.globalSize(perRank:ranks:)`), and the table of rank processes. Prints nothing on
/// other ranks or without MPI.
func printDataParallelHeader(_ communicator: (any Communicator)?, batchSize: Int, unit: String) {
  guard let world = communicator as? MPICommunicator, world.rank == 0 else { return }
  let global = Batches.globalSize(perRank: batchSize, ranks: world.size)
  print("data-parallel over \(world.size) ranks (\(world.libraryVersion), \(world.interface)): \(batchSize) \(unit) per rank, global batch \(global)")
  print("ranks: \(world.processTable)")
}
