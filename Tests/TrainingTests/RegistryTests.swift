import Foundation
import GraphCore
import Testing
import Training

/// The README's operation list is the registry's.
@Suite struct RegistryTests {
  @Test func readmeListsEveryOperationOfTheRegistry() throws {
    let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().appendingPathComponent("README.md")
    let text = try String(contentsOf: readme, encoding: .utf8)
    let begin = try #require(text.range(of: "<!-- operations:begin -->\n"))
    let end = try #require(text.range(of: "\n<!-- operations:end -->"))
    let listed = String(text[begin.upperBound..<end.lowerBound])
    #expect(listed == PrimitiveRegistry.markdownList, "README.md's operation list should read:\n\(PrimitiveRegistry.markdownList)")
  }
}
