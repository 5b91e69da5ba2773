"""Simulated attacks against their closed forms (idealised mode), selected through the adversary section.

Tolerances are statistical, not tuned: 4 standard errors of the estimate, from
batch means for selfish mining (20 batches of the main chain; blocks within a
batch are correlated, batches nearly independent) and from the binomial for
double spending (attempts are independent: each starts from a fresh tip).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from bftlab.protocols.pow import theory
from bftlab.protocols.pow.metrics import main_tip
from bftlab.protocols.pow.run import build_engine
from tests.pow.helpers import attack, ideal, pow_spec

Z = 4.0


def _selfish_batches(alpha: float, gamma: float, blocks: int, seed: int,
                     batches: int = 20) -> tuple[np.ndarray, dict]:
    spec = pow_spec(ideal(blocks), seed=seed, adversary=attack("selfish-mining", hash_share=alpha, gamma=gamma))
    out = build_engine(spec).run()
    main = out.chain.path(main_tip(out))[1:]
    by_attacker = np.asarray([out.chain.miner[b] == 0 for b in main], dtype=float)
    return np.asarray([chunk.mean() for chunk in np.array_split(by_attacker, batches)]), out.attack


def _race_count_sd(alpha: float, blocks: int, leads: int = 300) -> float:
    """Standard deviation of the number of visits to state 0' in ``blocks`` steps of Eyal & Sirer's chain.

    The asymptotic variance of a Markov chain sum, blocks * (2 <f, Z f>_pi - <f, f>_pi) with f the centred
    indicator of 0' and Z the fundamental matrix (Kemeny & Snell); leads above ``leads`` are cut off
    (their probability is below alpha^leads).
    """
    m = leads + 2  # states: 0, 0', lead 1 .. leads
    P = np.zeros((m, m))
    P[0, 2], P[0, 0], P[1, 0] = alpha, 1 - alpha, 1.0
    for lead in range(1, leads + 1):
        i = lead + 1
        P[i, min(i + 1, m - 1)] += alpha
        P[i, 1 if lead == 1 else 0 if lead == 2 else i - 1] += 1 - alpha
    w, v = np.linalg.eig(P.T)
    pi = np.real(v[:, np.argmin(np.abs(w - 1))])
    pi /= pi.sum()
    f = np.zeros(m)
    f[1] = 1.0
    f -= pi @ f
    Z_mat = np.linalg.inv(np.eye(m) - P + np.outer(np.ones(m), pi))
    return math.sqrt(blocks * (2 * pi @ (f * (Z_mat @ f)) - pi @ (f * f)))


@pytest.mark.parametrize("alpha,gamma", [(0.1, 0.0), (0.25, 0.5), (0.35, 0.0), (0.45, 1.0), (0.4, 0.5)])
def test_selfish_mining_revenue_matches_eyal_sirer(alpha: float, gamma: float) -> None:
    blocks = 60_000
    r, outcome = _selfish_batches(alpha, gamma, blocks=blocks, seed=11)
    se = r.std(ddof=1) / math.sqrt(len(r))
    expected = theory.selfish_revenue(alpha, gamma)
    assert abs(r.mean() - expected) <= Z * se, (r.mean(), expected, se)
    assert se < 0.01  # the test has power: it would see a 4% error
    # Tie races are visits to state 0' (counting honest blocks mined with no private lead gives about
    # (1 - alpha) (p0 + p1) per block instead, four times as many at alpha = 0.35).
    races, expected_races = outcome["tie_races"], theory.selfish_tie_race_rate(alpha) * blocks
    sd = _race_count_sd(alpha, blocks)
    assert abs(races - expected_races) <= Z * sd, (races, expected_races, sd)
    assert sd < 0.05 * expected_races  # the test has power


def test_no_private_lead_no_tie_race() -> None:
    # A pool with no hash power never withholds a block, so it never races, however many honest blocks it sees.
    spec = pow_spec(ideal(500), adversary=attack("selfish-mining", hash_share=0.0))
    out = build_engine(spec).run()
    assert out.attack == {"tie_races": 0, "overrides": 0}
    assert len(out.chain) == 501  # the 500 honest blocks all reached the pool


def test_selfish_mining_pays_only_above_the_threshold() -> None:
    for gamma in (0.0, 0.5):
        t = theory.selfish_threshold(gamma)
        assert theory.selfish_revenue(t, gamma) == pytest.approx(t)
        assert theory.selfish_revenue(t + 0.05, gamma) > t + 0.05
        assert theory.selfish_revenue(t - 0.05, gamma) < t - 0.05


@pytest.mark.parametrize("q,z,premine", [(0.1, 1, True), (0.3, 2, True), (0.25, 3, False), (0.35, 4, True)])
def test_double_spend_success_matches_exact_analysis(q: float, z: int, premine: bool) -> None:
    adversary = attack("double-spend", hash_share=q, z=z, premine=premine)
    spec = pow_spec(ideal(80_000 if q > 0.3 else 40_000), seed=5, adversary=adversary)
    out = build_engine(spec).run()
    s = out.attack
    n = s["attempts"]
    expected = theory.double_spend_success(q, z, premine)
    se = math.sqrt(expected * (1 - expected) / n)
    assert n > 500
    assert abs(s["successes"] / n - expected) <= Z * se, (s, expected, se)


def test_rosenfeld_sum_equals_grunspan_closed_form() -> None:
    for q in (0.05, 0.1, 0.25, 0.4, 0.49):
        for z in (1, 2, 3, 6, 10):
            assert theory.double_spend_success(q, z) == pytest.approx(theory.grunspan_closed_form(q, z), rel=1e-9)
    # Rosenfeld (2012), table: q = 10%, z = 6 -> 0.0591%; one confirmation -> 2q
    assert theory.double_spend_success(0.1, 6) == pytest.approx(0.000591, abs=5e-7)
    assert theory.double_spend_success(0.2, 1) == pytest.approx(0.4)
    assert theory.double_spend_success(0.6, 6) == 1.0


def test_majority_attacker_always_reverses_z_deep_blocks() -> None:
    spec = pow_spec(ideal(3000, confirmations=6), adversary=attack("majority", hash_share=0.6, z=6))
    from bftlab.protocols.pow.run import run

    report = run(spec)
    outcome = report["metrics"]["pow"]["attack"]
    assert outcome["successes"] > 10 and outcome["failures"] == 0
    assert not report["safety"]["ok"]
    assert report["safety"]["violations"][0]["kind"] == "confirmed_block_reversed"
    assert report["metrics"]["pow"]["deepest_reorg"] >= 6
