// Optimizers, losses and layers build graphs, so importing Training brings GraphCore along.
@_exported import GraphCore
