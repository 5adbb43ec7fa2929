import Foundation
import Plotting
import Testing

@Suite struct StepLogTests {
  func sampleLog() -> StepLog {
    var log = StepLog(columns: ["step", "loss", "A"])
    log.append([1, 26.5, 0.25])
    log.append([2, .nan, Double(Float(5.407349))])
    log.append([3, 1e-5])  // A missing: NaN
    return log
  }

  @Test func csvText() {
    #expect(
      sampleLog().csv() == """
        step,loss,A
        1,26.5,0.25
        2,nan,5.407349
        3,1e-05,nan

        """)
  }

  @Test func csvQuotesFieldsThatNeedIt() {
    #expect(StepLog.csvLine(["a,b", "say \"hi\"", "plain"]) == "\"a,b\",\"say \"\"hi\"\"\",plain\n")
  }

  @Test func jsonLinesParse() throws {
    let lines = sampleLog().jsonLines().split(separator: "\n")
    #expect(lines.count == 3)
    var objects: [[String: Any]] = []
    for line in lines {
      let object = try JSONSerialization.jsonObject(with: Data(line.utf8))
      let dictionary = try #require(object as? [String: Any])
      objects.append(dictionary)
    }
    #expect(objects[0]["step"] as? Int == 1)
    #expect(objects[0]["loss"] as? Double == 26.5)
    #expect(objects[1]["loss"] is NSNull)  // NaN has no JSON form
    // A float32 value is written in Float's shortest form: it reads back as the same Float.
    #expect((objects[1]["A"] as? Double).map { Float($0) } == Float(5.407349))
    #expect(objects[2]["loss"] as? Double == 1e-5)
    // Keys keep column order.
    #expect(lines[0].hasPrefix("{\"step\":1,\"loss\":"))
  }

  @Test func jsonEscapesKeys() throws {
    let line = StepLog.jsonLine([("a\"b\\c\n", 1.5)])
    let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
    #expect(object?["a\"b\\c\n"] as? Double == 1.5)
  }
}
