import CBackpropKernels

/// A mutual-exclusion lock over `bp_lock` (CBackpropKernels' bp_lock.h: a futex mutex on Linux,
/// `os_unfair_lock` on macOS), whose uncontended lock and unlock are one inlined atomic
/// instruction each, and which ThreadSanitizer understands (unlike the standard library's
/// `Mutex` on Linux, whose locking it cannot see).
package final class Lock: @unchecked Sendable {
  private let state: UnsafeMutablePointer<bp_lock>

  package init() {
    state = .allocate(capacity: 1)
    state.initialize(to: bp_lock())
  }

  deinit {
    state.deallocate()
  }

  /// Takes the lock (pair with ``unlock()``; prefer ``withLock(_:)``).
  @inline(__always) package func lock() { bp_lock_lock(state) }

  /// Takes the lock if it is free, without waiting; `true` when taken (pair with ``unlock()``).
  @inline(__always) package func tryLock() -> Bool { bp_lock_try(state) }

  /// Releases the lock taken by ``lock()``.
  @inline(__always) package func unlock() { bp_lock_unlock(state) }

  /// Runs `body` holding the lock.
  @inline(__always) package func withLock<R>(_ body: () throws -> R) rethrows -> R {
    bp_lock_lock(state)
    defer { bp_lock_unlock(state) }
    return try body()
  }
}
