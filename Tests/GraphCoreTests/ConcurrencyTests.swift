import ArrayCore
import Dispatch
import Foundation
import GraphCore
import Synchronization
import Testing
import TestSupport

/// The concurrency contract (RELIABILITY.md): one Session may be run from many threads at once
/// (runs are serialized by its lock); the graph is built from one thread before that; NDArray
/// values are Sendable values. 8 threads × 1000 runs, mixing inference fetches and training
/// steps, must give the serial results.
@Suite struct ConcurrencyTests {
  @Test func eightThreadsShareOneSession() throws {
    let graph = Graph()
    let x = graph.placeholder(.float64, shape: [2, 3], name: "x")
    let w = try graph.variable(randomArray([3, 2], seed: 7), trainable: false, name: "w")
    let y = try tanh(matmul(x, w))
    let counter = try graph.variable(NDArray([0.0, 0.0], shape: [2]), name: "counter")
    let step = try assignAdd(counter, graph.constant(NDArray([1.0, 0.5], shape: [2])))
    let session = Session(graph: graph)
    try session.initializeVariables()

    let threads = 8, runs = 1000
    let inputs = (0..<threads).map { randomArray([2, 3], seed: UInt64(100 + $0)) }
    // The serial results, and an independent oracle: tanh of the product by loops.
    let serial = try inputs.map { try session.run(y, feeding: [x: $0]) }
    let wv = try session.value(of: w).doubles
    for (input, out) in zip(inputs, serial) {
      let a = input.doubles
      let expected = (0..<4).map { k in
        let (i, j) = (k / 2, k % 2)
        return Foundation.tanh((0..<3).reduce(0.0) { $0 + a[i * 3 + $1] * wv[$1 * 2 + j] })
      }
      expectClose(out, NDArray(expected, shape: [2, 2]), rtol: 1e-12, atol: 1e-12)
    }

    let mismatches = Mutex(0)
    let errors = Mutex([String]())
    DispatchQueue.concurrentPerform(iterations: threads) { t in
      for r in 0..<runs {
        do {
          if r % 2 == 0 {
            let v = try session.run(y, feeding: [x: inputs[t]])
            if !v.isBitIdentical(to: serial[t]) { mismatches.withLock { $0 += 1 } }
          } else {
            try session.run(step)
          }
        } catch {
          errors.withLock { $0.append("\(error)") }
        }
      }
    }
    #expect(errors.withLock { $0 }.isEmpty)
    #expect(mismatches.withLock { $0 } == 0, "inference results differ from the serial run")
    // assignAdd of constants commutes: the final value is the serial one, 4000 steps.
    let steps = Double(threads * runs / 2)
    #expect(try session.value(of: counter) == NDArray([steps, steps * 0.5], shape: [2]))
  }
}
