"""Cryptographic building blocks: hashing kernels, Merkle trees, signatures, MACs.

Key schemes are registered under the entry point group ``bftlab.crypto``; each is
a factory ``make(node_ids, seed, costs) -> dict[node_id, NodeCrypto]``.
"""
