// The graph layer's API speaks in ArrayCore's values (NDArray, Shape, DType), so importing
// GraphCore brings them along.
@_exported import ArrayCore
