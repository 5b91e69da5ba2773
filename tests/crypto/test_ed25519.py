import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bftlab.api import NodeCrypto
from bftlab.core.costs import CpuCosts
from bftlab.crypto import mac
from bftlab.crypto.ed25519 import Ed25519Crypto, KeyRing, generate, make, public_key, sign_raw, verify_raw
from bftlab.errors import UsageError

from .vectors import RFC8032

NODES = tuple(range(4))


@pytest.fixture(scope="module")
def nodes() -> dict[int, Ed25519Crypto]:
    return make(NODES, seed=11, costs=CpuCosts())


@pytest.mark.parametrize("secret, public, msg, sig", RFC8032)
def test_rfc8032_vectors(secret: str, public: str, msg: str, sig: str) -> None:
    import nacl.bindings

    pk, sk = nacl.bindings.crypto_sign_seed_keypair(bytes.fromhex(secret))
    assert pk.hex() == public == public_key(bytes.fromhex(secret)).hex()
    assert sign_raw(sk, bytes.fromhex(msg)).hex() == sig
    assert verify_raw(pk, bytes.fromhex(msg), bytes.fromhex(sig))
    assert not verify_raw(pk, bytes.fromhex(msg) + b"\x00", bytes.fromhex(sig))


def test_implements_node_crypto_and_is_deterministic(nodes: dict[int, Ed25519Crypto]) -> None:
    assert all(isinstance(c, NodeCrypto) for c in nodes.values())
    again = make(NODES, seed=11, costs=CpuCosts())
    assert again[2].sign(b"m") == nodes[2].sign(b"m")
    assert make(NODES, seed=12, costs=CpuCosts())[2].sign(b"m") != nodes[2].sign(b"m")


def test_key_ring_holds_only_own_secret() -> None:
    rings = generate(NODES, seed=3)
    d = rings[1].to_dict()
    assert set(d) == {"node_id", "secret", "public_keys"}
    assert KeyRing.from_dict(d) == rings[1]
    assert rings[1].secret.hex() not in repr(rings[1])
    with pytest.raises(UsageError, match="does not match"):
        KeyRing(1, rings[2].secret, rings[1].public_keys)


@settings(max_examples=20, deadline=None)
@given(st.binary(max_size=300), st.integers(0, 3), st.integers(0, 3))
def test_sign_verify_and_tampering(nodes: dict[int, Ed25519Crypto], data: bytes, signer: int, other: int) -> None:
    sig = nodes[signer].sign(data)
    assert len(sig) == 64
    assert nodes[other].verify(signer, data, sig)
    assert not nodes[other].verify(signer, data + b"!", sig)
    assert not nodes[other].verify(signer, data, sig[:-1] + bytes([sig[-1] ^ 1]))
    assert not nodes[other].verify((signer + 1) % 4, data, sig)
    assert not nodes[other].verify(99, data, sig)
    assert not nodes[other].verify(signer, data, sig[:63])


def test_plain_signature_is_not_raw_ed25519(nodes: dict[int, Ed25519Crypto]) -> None:
    pk = generate(NODES, seed=11)[0].public_keys[0]
    assert not verify_raw(pk, b"m", nodes[0].sign(b"m"))


@settings(max_examples=20, deadline=None)
@given(st.binary(max_size=100), st.lists(st.sampled_from(NODES), min_size=1, max_size=4, unique=True))
def test_mac_authenticators(nodes: dict[int, Ed25519Crypto], data: bytes, receivers: list[int]) -> None:
    auth = nodes[0].authenticate(data, receivers)
    assert len(auth) == len(receivers) and all(len(t) == mac.MAC_BYTES for t in auth)
    for r in receivers:
        assert nodes[r].check_mac(0, data, auth, receivers)
        assert not nodes[r].check_mac(1, data, auth, receivers)
        assert not nodes[r].check_mac(0, data + b"x", auth, receivers)
        i = receivers.index(r)
        bad = auth[:i] + (bytes(32),) + auth[i + 1 :]
        assert not nodes[r].check_mac(0, data, bad, receivers)
    outsider = next((n for n in NODES if n not in receivers), None)
    if outsider is not None:
        assert not nodes[outsider].check_mac(0, data, auth, receivers)


def test_mac_keys_are_directional_and_agree(nodes: dict[int, Ed25519Crypto]) -> None:
    assert nodes[1]._key_to(2) == nodes[2]._key_from(1)
    assert nodes[1]._key_to(2) != nodes[2]._key_to(1)


def test_hmac_variant() -> None:
    rings = generate(NODES, seed=5)
    a, b = (Ed25519Crypto(rings[i], CpuCosts(), mac_algorithm=mac.HMAC_SHA256) for i in (0, 1))
    assert b.check_mac(0, b"m", a.authenticate(b"m", (1,)), (1,))
    with pytest.raises(UsageError, match="mac_algorithm"):
        Ed25519Crypto(rings[0], CpuCosts(), mac_algorithm="md5")


def test_meter_charges_modelled_costs() -> None:
    costs = CpuCosts()
    c = make(NODES, seed=1, costs=costs)
    sig = c[0].sign(b"x")
    c[1].verify(0, b"x", sig)
    c[1].check_mac(0, b"x", c[0].authenticate(b"x", (1, 2)), (1, 2))
    assert c[0].meter.counts == {"sign": 1, "mac": 1}
    assert c[1].meter.seconds == pytest.approx((costs.verify_us + costs.mac_us) * 1e-6)


def test_registered_and_numba_free() -> None:
    code = (
        "import sys\nfrom importlib.metadata import entry_points\n"
        "make = next(e for e in entry_points(group='bftlab.crypto') if e.name == 'ed25519').load()\n"
        "import bftlab.crypto.ideal\nfrom bftlab.core.costs import CpuCosts\n"
        "c = make([0, 1], 1, CpuCosts())\nfrom crypto import batch\n"
        "sigs = batch.sign_all(c[0], [b'a', b'b', b'c'])\n"
        "assert all(c[1].verify(0, m, s) for m, s in zip([b'a', b'b', b'c'], sigs))\n"
        "assert 'numba' not in sys.modules, 'numba imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
