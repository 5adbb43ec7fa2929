extension NDArray {
  /// An array of `shape` and `dtype` whose elements are copied from the
  /// `shape.elementCount · dtype.byteSize` bytes at `bytes` (little-endian, row-major): for
  /// buffers filled by C code such as MPI collectives.
  public init(copyingBytes bytes: UnsafeRawPointer, shape: Shape, dtype: DType) {
    self.init(uninitializedShape: shape, dtype: dtype)
    let count = shape.elementCount * dtype.byteSize
    if count > 0 { storage.bytes.copyMemory(from: bytes, byteCount: count) }
  }
}
