import ArrayCore
import Foundation
import Testing

/// The optional system BLAS (`BACKPROP_BLAS`). Serialized: the selection is process-wide. Other
/// suites may run meanwhile; whichever backend they get, their products stay within rounding.
@Suite(.serialized) struct SystemBLASTests {
  /// The test environment's `BACKPROP_BLAS` (nil when unset or empty).
  static var requested: String? {
    guard let v = ProcessInfo.processInfo.environment["BACKPROP_BLAS"], !v.isEmpty else { return nil }
    return v
  }

  /// A product large enough (≥ 4·2²⁰ multiply-adds) to go to a loaded BLAS.
  static let large = (m: 180, n: 170, k: 150)

  @Test func unsetVariableLoadsNothing() throws {
    if Self.requested == nil {
      // The selection made from the real environment at first use.
      #expect(KernelSettings.matmulBackend != "blas")
      #expect(KernelSettings.blasLibrary == nil)
      #expect(KernelSettings.blasError == nil)
    }
    defer { KernelSettings.setSystemBLAS(Self.requested) }
    // The same selection as an unset variable, whatever the environment holds.
    #expect(KernelSettings.setSystemBLAS(nil) == false)
    #expect(KernelSettings.matmulBackend != "blas")
    #expect(KernelSettings.blasLibrary == nil)
    #expect(KernelSettings.blasError == nil)
  }

  @Test func missingLibraryFallsBackWithAReason() throws {
    defer { KernelSettings.setSystemBLAS(Self.requested) }
    let path = "/nonexistent/libbackprop-no-such-blas.so"
    #expect(KernelSettings.setSystemBLAS(path) == false)
    #expect(KernelSettings.matmulBackend != "blas")
    #expect(KernelSettings.blasLibrary == nil)
    #expect(KernelSettings.blasError?.contains(path) == true)
    let (m, n, k) = Self.large
    try MatMulKernelTests.check(m: m, n: n, k: k, ta: false, tb: true, dtype: .float32, seed: 201)
  }

  #if os(Linux)
  @Test func libraryWithoutCBLASIsRejected() throws {
    defer { KernelSettings.setSystemBLAS(Self.requested) }
    #expect(KernelSettings.setSystemBLAS("libm.so.6") == false)
    #expect(KernelSettings.matmulBackend != "blas")
    #expect(KernelSettings.blasError?.contains("cblas_sgemm") == true)
  }
  #endif

  /// Runs only when the test environment sets `BACKPROP_BLAS`: the library must load and its
  /// products (every transpose combination) must match the definition within the error bound.
  @Test(.enabled(if: requested != nil, "BACKPROP_BLAS is not set (.ci/run sets BACKPROP_BLAS=auto in its BLAS leg)"))
  func requestedLibraryMatchesDefinition() throws {
    let requested = try #require(Self.requested)
    KernelSettings.setSystemBLAS(requested)
    #expect(KernelSettings.matmulBackend == "blas", "BACKPROP_BLAS=\(requested): \(KernelSettings.blasError ?? "")")
    #expect(KernelSettings.blasLibrary != nil)
    if requested != "auto" { #expect(KernelSettings.blasLibrary == requested) }
    let (m, n, k) = Self.large
    var seed: UInt64 = 300
    for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
      try MatMulKernelTests.check(m: m, n: n, k: k, ta: ta, tb: tb, dtype: .float32, seed: seed)
      seed += 2
    }
    try MatMulKernelTests.check(m: m, n: n, k: k, ta: false, tb: false, dtype: .float64, seed: seed)
    try MatMulKernelTests.check(m: m, n: n, k: k, ta: true, tb: true, dtype: .float64, seed: seed + 2)
  }
}
