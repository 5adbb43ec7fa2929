import GraphCore
import Testing

/// Each error case: its kind, and that the message names the operation or placeholder, the
/// shapes, and the user's source line where the language allows.
@Suite struct ErrorTests {
  @Test func incompatibleShapesNameOperationShapesAndLine() throws {
    let g = Graph()
    let a = g.placeholder(.float32, shape: [4, 3], name: "a")
    let b = g.placeholder(.float32, shape: [2], name: "b")
    let line = #line + 2
    do {
      _ = try add(a, b)
      Issue.record("expected an error")
    } catch let error as GraphError {
      guard case .invalidOperation(let op, _, let inputs, _, let location) = error else {
        Issue.record("wrong case \(error)"); return
      }
      #expect(op == "Add")
      #expect(inputs.map(\.name) == ["a:0", "b:0"])
      #expect(location?.line == line)
      #expect(location?.file.hasSuffix("ErrorTests.swift") == true)
      let text = error.description
      #expect(text.hasPrefix("[Add]"))
      #expect(text.contains("[4, 3]") && text.contains("[2]"))
      #expect(text.contains("ErrorTests.swift:\(line)"))
    }
  }

  @Test func operatorErrorNamesInputsAndTheirCreationSites() throws {
    let g = Graph()
    let line = #line + 1
    let a = g.placeholder(.float32, shape: [3], name: "a")
    let b = g.placeholder(.float32, shape: [4], name: "b")
    #expect {
      _ = try a * b
    } throws: { error in
      let text = "\(error)"
      return text.hasPrefix("[Mul]") && text.contains("'a:0' float32 [3]") && text.contains("'b:0' float32 [4]")
        && text.contains("ErrorTests.swift:\(line)")
    }
  }

  @Test func dtypeMismatch() throws {
    let g = Graph()
    let a = g.placeholder(.float32, shape: [3])
    let b = g.placeholder(.float64, shape: [3])
    #expect { _ = try a + b } throws: { "\($0)".contains("float32") && "\($0)".contains("float64") }
  }

  @Test func matmulInnerDimensions() throws {
    let g = Graph()
    let a = g.placeholder(.float32, shape: [2, 3])
    let b = g.placeholder(.float32, shape: [4, 5])
    #expect { _ = try matmul(a, b) } throws: { "\($0)".hasPrefix("[MatMul]") && "\($0)".contains("[2, 3]") && "\($0)".contains("[4, 5]") }
  }

  @Test func invalidAxis() throws {
    let g = Graph()
    let a = g.placeholder(.float32, shape: [2, 3])
    #expect { _ = try sum(a, axes: [2]) } throws: { "\($0)".hasPrefix("[Sum]") && "\($0)".contains("axis 2") }
    #expect { _ = try expandDims(a, axis: 5) } throws: { "\($0)".hasPrefix("[ExpandDims]") }
    #expect { _ = try reshape(a, to: [4, -1]) } throws: { "\($0)".hasPrefix("[Reshape]") && "\($0)".contains("6") }
  }

  @Test func missingFeedsNameEveryPlaceholder() throws {
    let g = Graph()
    let x = g.placeholder(.float32, shape: [1], name: "x_data")
    let y = g.placeholder(.float32, shape: [1], name: "y_target")
    let loss = try square(x - y)
    #expect(throws: SessionError.missingFeeds(["x_data", "y_target"])) { try Session(graph: g).run(loss) }
    #expect(throws: SessionError.missingFeeds(["y_target"])) {
      try Session(graph: g).run(loss, feeding: [x: NDArray([Float(1)])])
    }
  }

  @Test func feedOfWrongShapeOrDtype() throws {
    let g = Graph()
    let x = g.placeholder(.float32, shape: [nil, 3], name: "x")
    let y = try sum(x)
    let s = Session(graph: g)
    #expect(throws: SessionError.feedMismatch(name: "x:0", expected: "float32 [?, 3]", got: "float32 [2, 4]")) {
      try s.run(y, feeding: [x: NDArray.zeros([2, 4])])
    }
    #expect(throws: SessionError.feedMismatch(name: "x:0", expected: "float32 [?, 3]", got: "float64 [2, 3]")) {
      try s.run(y, feeding: [x: NDArray.zeros([2, 3], dtype: .float64)])
    }
    #expect(try s.run(y, feeding: [x: NDArray.ones([5, 3])]).scalarValue == 15)
  }

  @Test func uninitializedVariable() throws {
    let g = Graph()
    let a = try g.variable(NDArray([Float(1)]), name: "A")
    #expect(throws: SessionError.uninitializedVariable(name: "A")) { try Session(graph: g).run(a * 2) }
    #expect("\(SessionError.uninitializedVariable(name: "A"))".contains("'A'"))
  }

  @Test func tensorFromAnotherGraph() throws {
    let g1 = Graph(), g2 = Graph()
    let a = g1.placeholder(.float32, shape: [1], name: "a")
    let b = g2.placeholder(.float32, shape: [1], name: "b")
    #expect { _ = try a + b } throws: { error in
      guard case GraphError.foreignTensor = error else { return false }
      return "\(error)".contains("'b:0'")
    }
    #expect(throws: SessionError.foreignTensor(name: "a:0")) { try Session(graph: g2).run(a) }
  }

  @Test func runTimeBroadcastFailureNamesOperation() throws {
    let g = Graph()
    let x = g.placeholder(.float32, shape: [nil], name: "x")
    let y = g.placeholder(.float32, shape: [nil], name: "y")
    let z = try add(x, y, name: "sum_xy")
    #expect {
      try Session(graph: g).run(z, feeding: [x: NDArray.zeros([2]), y: NDArray.zeros([3])])
    } throws: { error in
      guard case SessionError.executionFailed(let op, let name, _, let location) = error else { return false }
      return op == "Add" && name == "sum_xy" && location != nil && "\(error)".contains("[2]") && "\(error)".contains("[3]")
    }
  }

  @Test func checkNumericsNamesFirstBadOperation() throws {
    let g = Graph()
    let x = g.placeholder(.float64, shape: [2], name: "x")
    let line = #line + 1
    let l = try log(x, name: "bad_log")
    let y = try l * 2
    let s = Session(graph: g, options: .init(checkNumerics: true))
    #expect(throws: SessionError.nonFinite(op: "Log", name: "bad_log", location: SourceLocation(file: "GraphCoreTests/ErrorTests.swift", line: line))) {
      try s.run(y, feeding: [x: NDArray([1.0, -1])])
    }
    // Off by default: NaN flows through.
    #expect(try Session(graph: g).run(y, feeding: [x: NDArray([1.0, -1])]).doubles[1].isNaN)
  }

  @Test func invalidLearningRateIsRejected() throws {
    let g = Graph()
    let a = try g.variable(NDArray([Float(1)]))
    #expect(throws: GraphError.self) { _ = try assign(a, g.constant(NDArray([Float(1), 2]))) }
    #expect(throws: GraphError.self) { _ = try assign(g.constant(1), g.constant(2)) }
  }

  @Test func applyAdamChecksItsOperands() throws {
    let g = Graph()
    let x = try g.variable(NDArray([Float(1), 2]), name: "x")
    let m = try g.variable(NDArray([Float(0), 0]), name: "m")
    let v = try g.variable(NDArray([Float(0), 0]), name: "v")
    let eta = g.constant(NDArray(scalar: Float(0.1)))
    func message(_ body: () throws -> Void) -> String {
      do { try body() } catch { return "\(error)" }
      return "no error"
    }
    let wrongGradient = message {
      try applyAdam(x, m: m, v: v, gradient: g.constant(NDArray([Float(1), 2, 3])), stepSize: eta, beta1: 0.9, beta2: 0.999, epsilon: 1e-7)
    }
    #expect(wrongGradient.contains("ApplyAdam") && wrongGradient.contains("[3]") && wrongGradient.contains("ErrorTests.swift"), "\(wrongGradient)")
    let notVariable = message {
      try applyAdam(x, m: g.constant(NDArray([Float(0), 0])), v: v, gradient: x, stepSize: eta, beta1: 0.9, beta2: 0.999, epsilon: 1e-7)
    }
    #expect(notVariable.contains("ApplyAdam"), "\(notVariable)")
    let wrongStep = message {
      try applyAdam(x, m: m, v: v, gradient: x, stepSize: g.constant(NDArray([0.1])), beta1: 0.9, beta2: 0.999, epsilon: 1e-7)
    }
    #expect(wrongStep.contains("step size"), "\(wrongStep)")
    let sameSlot = message {
      try applyAdam(x, m: m, v: m, gradient: x, stepSize: eta, beta1: 0.9, beta2: 0.999, epsilon: 1e-7)
    }
    #expect(sameSlot.contains("three different variables"), "\(sameSlot)")
  }
}
