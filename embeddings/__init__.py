"""Graph models for fraud scoring, and their results on public data: arrays in, arrays out.

Nothing here reads a scoring context or imports :mod:`detectors`: the code that turns an
application into numbers lives there (:mod:`detectors.application_features`,
:mod:`detectors.ring_gnn_features`, :mod:`detectors.embedders`) and hands these
modules feature matrices, edge indices and labels.

Modules (import them directly; this ``__init__`` imports nothing, so importing the
core never loads torch or faiss):

* :mod:`embeddings.scaling` — :class:`FeatureScaler`, column standardisation saved as JSON.
* :mod:`embeddings.aggregates` — label-free neighbour aggregates of node features.
* :mod:`embeddings.entity_history` — point-in-time history features of a transaction's entities.
* :mod:`embeddings.transaction_features` — the S-FFSD feature matrix built from those histories.
* :mod:`embeddings.boosted_node_classifier` — bagged gradient boosting on such features.
* :mod:`embeddings.stacking` — two-stage stacking: neighbours' out-of-fold scores and training-label counts.
* :mod:`embeddings.sage_sep_net` — the torch module: residual GraphSAGE with separate ego/neighbour weights.
* :mod:`embeddings.gnn_node_classifier` — full-batch training of that module, early-stopped on validation nodes.
* :mod:`embeddings.public_eval` — ``evaluate_public("tolokers" | "s-ffsd")`` and its :class:`PublicResult`.

  These public-data modules (boosted and GNN node classifiers, stacking, evaluation) need
  scikit-learn, a development dependency; nothing on the scoring path imports them.
* :mod:`embeddings.causal_sage_net` — that module with cacheable per-layer states on a causal graph,
  and its numpy twin that embeds one new node.
* :mod:`embeddings.ring_gnn` — the inductive GNN over earlier linked applications behind ``gnn_ring``:
  its training graph (with named feature columns), training and versioned artifact.
* :mod:`embeddings.similarity` — the FAISS index of vectors by application id (exact, or IVF with
  measured recall).
* :mod:`embeddings.similarity_file` — the file holding one or more such indexes and a JSON header.
"""
