// The umbrella module: `import Backprop` brings in every layer of the library.
@_exported import ArrayCore
@_exported import Datasets
@_exported import GraphCore
@_exported import Training
@_exported import Plotting
