import ArrayCore
import GraphCore
import Testing
import Training

/// Layers that switch on a training phase (BatchNorm, Dropout), given eager values with a phase of
/// either kind, compute or throw a `GraphError`, never trap.
@Suite struct EagerMisuseTests {
  @Test func phaseLayersOnEagerValuesDoNotTrap() throws {
    let parameters = Graph.eager()
    let x = Tensor(NDArray((0..<8).map { Float($0) }, shape: [4, 2]))
    let phase = try TrainingPhase(graph: parameters, default: true)
    do {
      let bn = try BatchNorm(graph: parameters, channels: 2, phase: phase)
      let tape = GradientTape()
      _ = try tape.record { try bn(x) }.value
    } catch is GraphError {
    } catch is SessionError {
    }
    do {
      let dropout = try Dropout(rate: 0.5, seed: 1, phase: phase)
      _ = try dropout(x).value
    } catch is GraphError {
    } catch is SessionError {
    }
    // A symbolic phase flag with an eager input: a thrown error, not a trap.
    let graph = Graph()
    let symbolicPhase = try TrainingPhase(graph: graph)
    #expect(throws: (any Error).self) { try Dropout(rate: 0.5, seed: 1, phase: symbolicPhase)(x).value }
  }

  /// An eager phase with a symbolic input (a `compile` trace): the flag became a constant of its
  /// default, so a compiled training step dropped nothing. Now refused, as BatchNorm and Dense
  /// refuse symbolic inputs with an eager graph's variables.
  @Test func dropoutWithAnEagerPhaseRefusesSymbolicInputs() throws {
    let phase = try TrainingPhase(graph: Graph.eager())
    let dropout = try Dropout(rate: 0.5, seed: 1, phase: phase)
    try phase.setTraining(true)
    let step = compile { inputs in [try dropout(inputs[0])] }
    #expect { try step([NDArray(repeating: 1, shape: [4, 8])]) } throws: {
      "\($0)".contains("[Dropout]") && "\($0)".contains("eager graph's")
    }
    #expect(throws: GraphError.self) { try dropout(Graph().placeholder(.float32, shape: [nil, 8])) }
    // Eagerly it drops, in training.
    #expect(try dropout(Tensor(try NDArray(repeating: 1, shape: [4, 8]))).value.doubles.contains(0))
  }
}
