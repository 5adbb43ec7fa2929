// A helper for CheckpointTests.killedSaveLeavesALoadableCheckpoint and Scripts/kill_trials.sh:
// saves checkpoints of one large variable to the path given, forever, until it is killed.
// Version v holds v in every element and `step = v` in its metadata, so a reader can tell a
// torn file from a whole one. `CheckpointTorture --check FILE` is that reader: it restores the
// file into a fresh session, prints the step and exits 0 when the checkpoint is whole, 1 when
// it does not load or is torn.
import ArrayCore
import GraphCore

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

let arguments = CommandLine.arguments
// A child inherits its parent thread's blocked signals (Foundation's Process does not reset
// them, and test threads block some): unblock the ones the tests send, so a SIGINT or SIGTERM
// reaches the atomic write's handler as it would from a shell.
var unblocked = sigset_t()
sigemptyset(&unblocked)
for signal in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&unblocked, signal) }
sigprocmask(SIG_UNBLOCK, &unblocked, nil)
let elementCount = 1 << 21

if arguments.count == 3, arguments[1] == "--check" {
  do {
    let graph = Graph()
    let big = try graph.variable(NDArray(repeating: -1, shape: [elementCount], dtype: .float32), name: "big")
    let session = Session(graph: graph)
    try session.initializeVariables()
    let metadata = try Checkpoint.restore(session: session, from: arguments[2])
    guard let step = metadata["step"].flatMap(Float.init) else {
      print("no step in the metadata")
      exit(1)
    }
    let values = try session.value(of: big).scalars(as: Float.self)
    guard values.allSatisfy({ $0 == step }) else {
      print("torn: step \(step) but other values inside")
      exit(1)
    }
    print("whole \(Int(step))")
    exit(0)
  } catch {
    print("does not load: \(error)")
    exit(1)
  }
}
guard arguments.count == 2 else {
  print("usage: CheckpointTorture FILE.safetensors | CheckpointTorture --check FILE.safetensors")
  exit(2)
}
let graph = Graph()
let big = try graph.variable(NDArray(repeating: 0, shape: [elementCount], dtype: .float32), name: "big")
let session = Session(graph: graph)
try session.initializeVariables()
var version = 1
while true {
  try session.setValue(NDArray(repeating: Double(version), shape: [elementCount], dtype: .float32), for: big)
  try Checkpoint.save(session: session, to: arguments[1], metadata: ["step": String(version)])
  if version == 1 {
    print("saved")  // the test arms its kill timer after the first complete save
    fflush(nil)
  }
  version += 1
}
