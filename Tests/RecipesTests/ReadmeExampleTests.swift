import Foundation
import Testing

/// The README's Swift samples are the example programs that `swift build` compiles (and that
/// .ci/run runs), so they cannot rot: each example's code (its lines without the leading
/// comment) is one of the README's ```swift blocks.
@Suite struct ReadmeExampleTests {
  private let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

  private func swiftBlocks(_ markdown: String) -> [String] {
    var blocks: [String] = []
    var current: [Substring]?
    for line in markdown.split(separator: "\n", omittingEmptySubsequences: false) {
      if current == nil, line == "```swift" {
        current = []
      } else if current != nil, line == "```" {
        blocks.append(current!.joined(separator: "\n"))
        current = nil
      } else {
        current?.append(line)
      }
    }
    return blocks
  }

  @Test(arguments: ["Examples/Regression/main.swift", "Examples/EagerRegression/main.swift"])
  func readmeShowsTheExample(path: String) throws {
    let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
    let example = try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
    let code = example.split(separator: "\n", omittingEmptySubsequences: false)
      .drop { $0.hasPrefix("//") }.joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
    let blocks = swiftBlocks(readme).map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
    #expect(blocks.contains(code), "README.md should show \(path) verbatim:\n\(code)")
  }
}
