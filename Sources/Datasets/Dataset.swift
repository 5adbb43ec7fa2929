import ArrayCore

/// A namespace for data-set utilities (filled in by the data pipeline).
public enum DatasetsModule {}
