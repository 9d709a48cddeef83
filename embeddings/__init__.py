"""Graph neural networks, node embeddings and the FAISS similarity index.

Not written yet. This ``__init__`` must never import torch or faiss: importing the core
stays fast.
"""
