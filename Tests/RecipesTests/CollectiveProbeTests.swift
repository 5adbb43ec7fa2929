import ArrayCore
import Foundation
import GraphCore
import Testing
import Training

// The communicator API misused across ranks: each scenario runs this test binary as two ranks
// under MPICH's mpiexec (`CollectiveMisuseRank`, enabled only inside such a job), where the
// ranks make collective calls that disagree. Every rank must throw a clear error at once, never
// return wrong numbers, and never wait for the watchdog.

private let scenarioVariable = "BACKPROP_COLLECTIVE_MISUSE"

@Suite(.serialized, .enabled(if: hydra != nil, "needs MPICH's mpiexec.hydra (apt-get install mpich)"))
struct MPICommunicatorMisuseTests {
  /// Runs `CollectiveMisuseRank` as 2 ranks of `scenario`; returns each rank's line and the
  /// whole output.
  private func ranks(_ scenario: String) throws -> ([String], String) {
    // (DistributedTests's launcher and `run`, which ends a job that outlives its time.)
    let (_, text) = try run(
      [
        hydra!, "-n", "2", "-env", scenarioVariable, scenario, "-env", "BACKPROP_MPI_TIMEOUT", "60", CommandLine.arguments[0],
        "--testing-library", "swift-testing", "--filter", "CollectiveMisuseRank",
      ], timeout: 120)
    return (text.split(separator: "\n").filter { $0.hasPrefix("RANK ") }.map(String.init).sorted(), text)
  }

  /// Arguments that differ between the ranks: other counts (rank 0 was handed bytes past the
  /// end of rank 1's buffer: [2, 2, 2, 1, 198.3, ...]), other dtypes (rank 1 reduced float32
  /// bytes as float64 and returned), other roots (each rank kept its own values), other byte
  /// counts to gather, or two different collectives (both waited for the watchdog's timeout).
  @Test(arguments: ["counts", "dtypes", "roots", "gather", "order"])
  func ranksThatDisagreeThrowOnEveryRank(scenario: String) throws {
    let started = Date()
    let (lines, text) = try ranks(scenario)
    #expect(Date().timeIntervalSince(started) < 30, "\(text)")
    #expect(lines.count == 2, "\(text)")
    for (r, line) in lines.enumerated() {
      #expect(line.hasPrefix("RANK \(r): ERROR"), "\(text)")
      #expect(line.contains(scenario == "gather" ? "every rank must give the same count" : "the ranks called different collectives"), "\(text)")
    }
  }

  @Test func ranksThatAgreeGetTheSums() throws {
    let (lines, text) = try ranks("agree")
    #expect(lines == ["RANK 0: OK [3.0, 3.0, 3.0] [1.0, 1.0]", "RANK 1: OK [3.0, 3.0, 3.0] [1.0, 1.0]"], "\(text)")
  }
}

/// One rank of a `MPICommunicatorMisuseTests` scenario (skipped outside such a job).
@Suite(.enabled(if: ProcessInfo.processInfo.environment[scenarioVariable] != nil, "runs only as a rank started by MPICommunicatorMisuseTests"))
struct CollectiveMisuseRank {
  @Test func rank() throws {
    let world = try MPICommunicator.world()
    let r = world.rank
    func say(_ s: String) { FileHandle.standardError.write(Data("RANK \(r): \(s)\n".utf8)) }
    do {
      switch ProcessInfo.processInfo.environment[scenarioVariable] ?? "" {
      case "counts":
        let out = try world.allReduce([try NDArray(repeating: 1, shape: [r == 0 ? 10 : 5])], .sum)
        say("OK \(out[0].scalars(as: Float.self))")
      case "dtypes":
        let out = try world.allReduce([try NDArray(repeating: 1, shape: [4], dtype: r == 0 ? .float32 : .float64)], .sum)
        say("OK \(out[0].doubles)")
      case "roots":
        let out = try world.broadcast([try NDArray(repeating: Double(r), shape: [4])], root: r)
        say("OK \(out[0].scalars(as: Float.self))")
      case "gather":
        let out = try world.allGather([UInt8](repeating: UInt8(r), count: r == 0 ? 4 : 8))
        say("OK \(out)")
      case "order":
        let x = try NDArray(repeating: 1, shape: [4])
        _ = r == 0 ? try world.allReduce([x], .sum) : try world.broadcast([x], root: 0)
        say("OK")
      case "agree":
        let out = try world.allReduce([try NDArray(repeating: Double(r + 1), shape: [3]), try NDArray(repeating: 1, shape: [2])], .mean)
        let b = try world.broadcast([try NDArray(repeating: 1, shape: [2])], root: 1)
        say("OK \(out[0].scalars(as: Float.self).map { $0 * 2 }) \(b[0].scalars(as: Float.self))")
      default: say("unknown scenario")
      }
    } catch {
      say("ERROR \(error)")
    }
    world.finalize()
  }
}
