import Plotting
import Testing

/// A reporter driven by a fake clock, recording what it writes.
final class Recorder {
  var now = 0.0
  var written: [String] = []
  func reporter(isTerminal: Bool, interval: Double? = nil) -> ProgressReporter {
    ProgressReporter(
      isTerminal: isTerminal, delay: 2, interval: interval, write: { self.written.append($0) }, clock: { self.now })
  }
}

@Suite struct ProgressReporterTests {
  @Test func shortRunsShowNothing() {
    let r = Recorder()
    let p = r.reporter(isTerminal: true)
    for step in 1...100 {
      r.now = Double(step) * 0.019  // 1.9 s in all
      p.update(step: step, total: 100, loss: 1)
    }
    p.finish()
    #expect(r.written.isEmpty)
  }

  @Test func plainLinesEveryFiveSecondsWithoutControlCharacters() {
    let r = Recorder()
    let p = r.reporter(isTerminal: false)
    for step in 1...1200 {
      r.now = Double(step) * 0.01  // 100 steps/s, 12 s in all
      p.update(step: step, total: 1200, loss: 0.5)
    }
    p.finish()
    // At 2 s (first due), 7 s, 12 s (also the last step).
    #expect(r.written == [
      "step  200/1200  loss 0.5  100 steps/s  ETA 0:10\n",
      "step  700/1200  loss 0.5  100 steps/s  ETA 0:05\n",
      "step 1200/1200  loss 0.5  100 steps/s  0:12\n",
    ])
    #expect(!r.written.joined().contains("\r"))
    #expect(!r.written.joined().contains("\u{1B}"))
  }

  @Test func terminalBarIsRedrawnInPlaceAndEndsWithANewline() {
    let r = Recorder()
    // Times are multiples of 1/64 s and the interval 1/8 s, so the arithmetic is exact.
    let p = r.reporter(isTerminal: true, interval: 0.125)
    for step in 1...256 {
      r.now = Double(step) / 64  // 4 s in all
      p.update(step: step, total: 256, loss: 2)
      if step == 200 { p.clearForOutput() }
    }
    p.finish()
    #expect(r.written.allSatisfy { $0.hasPrefix("\r") })
    let bars = r.written.filter { $0.contains("░") || $0.contains("█") }
    // Draws at steps 128, 136, ..., 200 (10); after the clear at once, at 201, then 209, ...,
    // 249 (7); and the last step, 256 (1).
    #expect(bars.count == 18)
    #expect(bars.first?.contains(" 128/256 ") == true)
    #expect(r.written.contains("\r\u{1B}[K"))
    #expect(r.written.last?.hasSuffix("256/256  100%  loss 2  64 steps/s  0:04\u{1B}[K\n") == true)
  }

  @Test func finishEndsABarLeftByARunThatStoppedEarly() {
    let r = Recorder()
    let p = r.reporter(isTerminal: true)
    r.now = 3
    p.update(step: 10, total: 100, loss: 1)
    p.finish()
    #expect(r.written.last == "\n")
  }
}
