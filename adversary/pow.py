"""Proof-of-work attackers: strategies that control a mining node of a ``pow`` run.

=================  ===========================================================
selfish-mining     SM1 of Eyal & Sirer, "Majority is not enough" (FC'14), Algorithm 1
double-spend       pay a merchant, race a private fork against its ``z`` confirmations
                   (Nakamoto 2008 section 11; Rosenfeld, "Analysis of hashrate-based
                   double spending", 2012)
majority           the same race without a payment: a 51% attacker rewriting ``z``-deep blocks
eclipse            the attacker holds every connection of one victim until ``end_s``
                   (Heilman, Kendler, Zohar, Goldberg, USENIX Security 2015)
=================  ===========================================================

They are selected like every strategy, and ``byzantine`` names the one node
the attacker controls::

    adversary: {strategy: selfish-mining, byzantine: [0], params: {gamma: 0.5}}
    adversary: {strategy: double-spend, byzantine: [0], params: {z: 6, give_up_deficit: 20}}

**Hash power.** The attacker's share is its node's share of the protocol
(``protocol.params.hash_shares``, or ``hash_distribution`` over ``miners``).
``params.hash_share`` overrides it: the node gets exactly that share and every
other miner keeps its relative share, scaled to ``1 - hash_share`` (what the
experiments sweep). For PoW the attacker's budget is this share, not ``f``:
the spec's Byzantine budget does not apply (the protocol's fault model is ``HASH_POWER``).

**Writing your own.** The fast PoW engine computes block arrivals, not
messages (the message-level engine is honest-only), so a PoW attacker has no
replica to wrap: :class:`PowAttacker` is a
:class:`~bftlab.attack.api.NodeStrategy` whose one hook is :meth:`PowAttacker.miner_strategy`.
It returns the sans-IO miner strategy (the seam of
:mod:`bftlab.protocols.pow.strategies`: where to mine, which withheld blocks to publish
when a block is found) for the engine to drive::

    from bftlab.adversary.pow import PowAttacker   # defined in bftlab.protocols.pow.attacker
    from bftlab.protocols.pow.strategies import SelfishMining

    class MySelfish(PowAttacker):
        def miner_strategy(self, chain, share):
            return SelfishMining(chain)

and a spec names it by dotted path (``strategy: mymod:MySelfish``). Extra
parameters go in a ``Params`` dataclass that extends :class:`PowAttacker.Params`
(so ``hash_share`` and ``degree`` still work).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bftlab.protocols.pow import theory
from bftlab.protocols.pow.attacker import AttackerParams, PowAttacker, attacker_for
from bftlab.protocols.pow.chain import Chain
from bftlab.protocols.pow.strategies import Eclipse as EclipseLinks
from bftlab.protocols.pow.strategies import MinerStrategy, PrivateFork, SelfishMining
from bftlab.specs.schema import FieldError

__all__ = ["AttackerParams", "DoubleSpend", "Eclipse", "Majority", "PowAttacker", "SelfishMiner", "attacker_for"]


# ------------------------------------------------------------------ built-ins
@dataclass(frozen=True, kw_only=True)
class SelfishParams(AttackerParams):
    gamma: float = 0.0
    """Idealised mode: fraction of honest hash power that mines on the attacker's block in a tie (Eyal & Sirer's
    gamma). Realistic mode: must be 0, the network decides ties."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.gamma <= 1.0:
            raise FieldError("gamma", f"must be in [0, 1], got {self.gamma!r}.")


class SelfishMiner(PowAttacker):
    """SM1 (Eyal & Sirer, FC'14): keep a private lead, reveal just enough to win races."""

    Params = SelfishParams

    def miner_strategy(self, chain: Chain, share: float) -> MinerStrategy:
        return SelfishMining(chain)

    def expected(self, share: float, pow_params: Any) -> dict[str, float]:
        return {"expected_revenue_share": round(theory.selfish_revenue(share, self.gamma), 6)}


@dataclass(frozen=True, kw_only=True)
class DoubleSpendParams(AttackerParams):
    z: int = 6
    """Confirmations the merchant waits for before delivering (depth of the reversed blocks)."""
    give_up_deficit: int = 0
    """Abandon an attempt when the honest chain leads by this many blocks; 0 = never (simulated with a cut-off where
    catching up has probability < 1e-9)."""
    premine: bool = True
    """Pay only after the first private block is found (Rosenfeld's assumption; success = I_{4pq}(z, 1/2))."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.z < 1:
            raise FieldError("z", f"must be >= 1, got {self.z!r}.")
        if self.give_up_deficit < 0:
            raise FieldError("give_up_deficit", f"must be >= 0 (0 = never), got {self.give_up_deficit!r}.")


class DoubleSpend(PowAttacker):
    """Double spend against a merchant waiting ``z`` confirmations (Nakamoto 2008 s.11, Rosenfeld 2012)."""

    Params = DoubleSpendParams

    def miner_strategy(self, chain: Chain, share: float) -> MinerStrategy:
        p = self.params
        return PrivateFork(chain, share, p.z, p.give_up_deficit, p.premine, pay=True)

    def expected(self, share: float, pow_params: Any) -> dict[str, float]:
        if self.params.give_up_deficit:
            return {}  # the closed form is for an attacker who never gives up
        return {"expected_success_rate": round(theory.double_spend_success(share, self.params.z,
                                                                           self.params.premine), 6)}


@dataclass(frozen=True, kw_only=True)
class MajorityParams(AttackerParams):
    z: int = 6
    """Depth of the history to rewrite: publish the private fork once it is longer and the public chain has z blocks
    past the fork point."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.z < 1:
            raise FieldError("z", f"must be >= 1, got {self.z!r}.")


class Majority(PowAttacker):
    """A 51% attacker: a private fork that overrides ``z``-deep blocks (sure to win with share > 1/2)."""

    Params = MajorityParams

    def miner_strategy(self, chain: Chain, share: float) -> MinerStrategy:
        return PrivateFork(chain, share, self.params.z, 0, premine=False, pay=False)


@dataclass(frozen=True, kw_only=True)
class EclipseParams(AttackerParams):
    victim: int = 1
    """The isolated node."""
    end_s: float = 3600.0
    """Until when (from the start of the run) the attacker holds the victim's blocks, both ways."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.victim < 0:
            raise FieldError("victim", f"must be a node id >= 0, got {self.victim!r}.")
        if not self.end_s > 0:
            raise FieldError("end_s", f"must be > 0, got {self.end_s!r}.")


class Eclipse(PowAttacker):
    """Eclipse (Heilman et al., USENIX Security'15): the attacker takes every connection of ``victim``
    and passes no block across until ``end_s``; the victim mines on a stale view, so its blocks are
    wasted and it reorganises deeply when released. The attacker's own node mines honestly."""

    Params = EclipseParams
    mines = False

    @property
    def eclipse(self) -> EclipseLinks:
        return EclipseLinks(self.params.victim, self.params.end_s)

    def miner_strategy(self, chain: Chain, share: float) -> None:
        return None

    def check(self, pow_params: Any, n: int) -> None:
        super().check(pow_params, n)
        if pow_params.mode != "realistic":
            raise FieldError("strategy", "eclipse needs protocol.params.mode: realistic (idealised mode has "
                                         "no connections).")
        if self.params.victim >= n:
            raise FieldError("params.victim", f"must be a node id 0..{n - 1}, got {self.params.victim}.")
        if self.params.victim == self.node:
            raise FieldError("params.victim", f"must be another node than the attacker's ({self.node}).")


# ------------------------------------------------------------------ wiring
