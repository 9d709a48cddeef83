"""Graph models for fraud scoring, and their results on public data.

Modules (import them directly; this ``__init__`` imports nothing, so importing the
core never loads torch or faiss):

* :mod:`embeddings.aggregates` — label-free neighbour aggregates of node features.
* :mod:`embeddings.entity_history` — point-in-time history features of a transaction's entities.
* :mod:`embeddings.transaction_features` — the S-FFSD feature matrix built from those histories.
* :mod:`embeddings.boosted_node_classifier` — bagged gradient boosting on such features.
* :mod:`embeddings.stacking` — two-stage stacking: neighbours' out-of-fold scores and training-label counts.
* :mod:`embeddings.sage_sep_net` — the torch module: residual GraphSAGE with separate ego/neighbour weights.
* :mod:`embeddings.gnn_node_classifier` — full-batch training of that module, early-stopped on validation nodes.
* :mod:`embeddings.public_eval` — ``evaluate_public("tolokers" | "s-ffsd")`` and its :class:`PublicResult`.
* :mod:`embeddings.application_features` — one numeric row per application (own figures, graph link counts).
* :mod:`embeddings.ring_gnn` — the inductive GNN over earlier linked applications behind ``gnn_ring``,
  its training and versioned artifact.
* :mod:`embeddings.similarity` — the FAISS index of confirmed fraud (exact, or IVF with measured recall)
  and the embedders behind it.
"""
