import ArrayCore

extension Batches {
  /// The positions (within batch `i`) of rank `rank`'s shard when `ranks` processes share each
  /// batch (data-parallel training): with `m` samples in the batch, rank `r` takes positions
  /// `⌊r·m/N⌋ ..< ⌊(r+1)·m/N⌋`. When `N` divides `m` (every full batch of `N·B` samples) each rank
  /// gets `B` consecutive samples; a smaller last batch is split as evenly as possible (some
  /// shards may be empty when `m < N`).
  /// - Precondition: `0 <= i < count` and `0 <= rank < ranks`.
  public func shardRange(_ i: Int, rank: Int, of ranks: Int) -> Range<Int> {
    precondition(ranks >= 1 && rank >= 0 && rank < ranks, "Batches.shard: rank \(rank) is not in 0..<\(ranks)")
    precondition(i >= 0 && i < count, "Batches.shard: index \(i) out of range 0..<\(count)")
    let m = Swift.min((i + 1) * batchSize, order.count) - i * batchSize
    return (rank * m / ranks)..<((rank + 1) * m / ranks)
  }

  /// Rank `rank`'s shard of batch `i` (see ``shardRange(_:rank:of:)``): each rank of a
  /// data-parallel job takes its own part of every global batch, so the ranks together visit
  /// exactly the samples one process would with batches of `batchSize`.
  public func shard(_ i: Int, rank: Int, of ranks: Int) -> Element {
    let r = shardRange(i, rank: rank, of: ranks)
    let rows = Array(order[(i * batchSize + r.lowerBound)..<(i * batchSize + r.upperBound)])
    return (gatherRows(dataset.features, rows), gatherRows(dataset.labels, rows))
  }

  /// Rank `rank`'s part of batch `i` for one data-parallel training step: its shard, the number
  /// of samples in it, and the weight `N·b_r/m` of its mean loss (`b_r` of the batch's `m`
  /// samples), so that the ranks' averaged gradient is the batch's mean gradient (the weight is
  /// exactly 1 for full batches). An empty shard (a last batch smaller than the ranks) gives the
  /// last rank's samples with weight 0: the collective still happens, and adds nothing.
  public func weightedShard(_ i: Int, rank: Int, of ranks: Int) -> (batch: Element, samples: Int, weight: Double) {
    var batch = shard(i, rank: rank, of: ranks)
    let samples = batch.1.shape.dimensions.first ?? 0
    let m = shardRange(i, rank: ranks - 1, of: ranks).upperBound
    if samples == 0 { batch = shard(i, rank: ranks - 1, of: ranks) }
    return (batch, samples, Double(ranks * samples) / Double(m))
  }
}
