"""One master seed per run; every component derives its own stream from it.

``derive(seed, "network")`` hashes ``"<seed>/network"``, so adding randomness to
one component never shifts another component's stream (TigerBeetle's VOPR rule).
"""

from __future__ import annotations

import hashlib
import random

import numpy as np


def derive(seed: int, name: str) -> int:
    """A 64-bit seed for component ``name`` under master ``seed``."""
    h = hashlib.blake2b(f"{seed}/{name}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "big")


def rng(seed: int, name: str) -> random.Random:
    """An independent ``random.Random`` stream for component ``name``."""
    return random.Random(derive(seed, name))


def np_rng(seed: int, name: str) -> np.random.Generator:
    """An independent numpy ``Generator`` for component ``name``."""
    return np.random.Generator(np.random.PCG64(derive(seed, name)))
