"""Message pattern and latency of VR's normal case against §4.1 of the paper.

A lone closed-loop client, a constant 10 ms link, no CPU cost and a free disk:
REQUEST (client -> primary), PREPARE (primary -> n-1 backups), PREPAREOK
(backups -> primary), REPLY (primary -> client). The client waits four one-way
delays, and each request costs 1 + (n-1) + (n-1) + 1 messages; the COMMIT is
piggybacked on the next PREPARE, so a busy primary sends no COMMIT message.
"""

from __future__ import annotations

import pytest

from tests.vr.helpers import VR, simulate

ZERO_CPU = {"base_us": 0, "per_byte_ns": 0, "sign_us": 0, "verify_us": 0, "mac_us": 0, "hash_base_us": 0,
            "hash_per_byte_ns": 0}
REQUESTS = 25


def one_client(n: int, latency_ms: float = 10.0) -> dict:
    return {
        "name": "vr-pattern", "seed": 3, "n": n, "protocol": {"name": VR},
        "network": {"latency_model": "constant", "latency_ms": latency_ms, "bandwidth_mbps": 0},
        "cpu": ZERO_CPU, "storage": {"write_us": 0, "fsync_ms": 0},
        "workload": {"clients": 1, "mode": "closed", "requests": REQUESTS}, "stop": {"time_limit_s": 30},
    }


@pytest.mark.parametrize("n", [3, 5])
def test_a_lone_client_waits_four_one_way_delays(n):
    _, rep = simulate(one_client(n))
    lat = rep["metrics"]["latency_s"]
    assert rep["metrics"]["committed"] == REQUESTS
    assert lat["p50"] == lat["max"] == pytest.approx(4 * 0.010, abs=1e-9)


@pytest.mark.parametrize("n", [3, 5])
def test_each_request_costs_one_request_n_minus_one_prepares_and_prepareoks_and_one_reply(n):
    _, rep = simulate(one_client(n))
    assert rep["metrics"]["messages"]["by_type"] == {
        "ClientRequest": REQUESTS, "Prepare": (n - 1) * REQUESTS, "PrepareOk": (n - 1) * REQUESTS,
        "ClientReply": REQUESTS,
    }


def test_an_idle_primary_sends_the_commit_number_in_a_commit_message():
    """With a 30 ms link a request cycle (4 x 30 ms) is longer than the 50 ms commit interval: some intervals carry
    no PREPARE, and then the backups learn the commit-number from a COMMIT (§4.1 step 6), one per backup."""
    _, rep = simulate(one_client(3, latency_ms=30.0))  # round trip 60 ms, below the 100 ms resend_s
    by_type = rep["metrics"]["messages"]["by_type"]
    assert rep["metrics"]["latency_s"]["max"] == pytest.approx(4 * 0.030, abs=1e-9)
    assert by_type["Prepare"] == 2 * REQUESTS and by_type["Commit"] > 0 and by_type["Commit"] % 2 == 0
