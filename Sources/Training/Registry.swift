import GraphCore

extension PrimitiveRegistry {
  /// The Training module's primitives: step-dependent hyper-parameters and the training flag.
  package static let trainingPrimitives: [(primitive: any Primitive, family: OperationFamily)] = [
    (StepPower(base: 0.9), .training),
    (ScheduledLearningRate(schedule: LearningRateSchedule(kind: .exponential(initial: 1, decaySteps: 1, decayRate: 1, staircase: false))), .training),
    (ScheduledLearningRate(schedule: LearningRateSchedule(kind: .piecewise(boundaries: [], values: [1]))), .training),
    (ScheduledLearningRate(schedule: LearningRateSchedule(kind: .cosine(initial: 1, decaySteps: 1, alpha: 0, warmupSteps: 0, warmupStart: 0))), .training),
    (PlaceholderWithDefault(), .state),
  ]

  /// The Training module's entries.
  public static var training: [PrimitiveEntry] {
    trainingPrimitives.map { PrimitiveEntry(typeName: $0.primitive.typeName, family: $0.family) }
  }

  /// Every primitive of the library, GraphCore's then Training's: the one list that the
  /// operation table's completeness test, `backprop ops` and the README's operation list use.
  public static var all: [PrimitiveEntry] { graphCore + training }
}

extension PrimitiveRegistry {
  /// The README's operation list: one line per family with its operation type names, in
  /// registry order (a test keeps README.md equal to it).
  public static var markdownList: String {
    OperationFamily.allCases.compactMap { family in
      let names = all.filter { $0.family == family }.map { "`\($0.typeName)`" }
      return names.isEmpty ? nil : "- **\(family.rawValue)**: " + names.joined(separator: ", ")
    }.joined(separator: "\n")
  }
}
