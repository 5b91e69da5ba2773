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
the spec's Byzantine budget does not apply (``ProtocolSpec.extra["byzantine_budget"]``).

**Writing your own.** The fast PoW engine computes block arrivals, not
messages (the message-level engine is honest-only), so a PoW attacker has no
replica to wrap: :class:`PowAttacker` is a
:class:`~bftlab.adversary.api.NodeStrategy` whose one hook is :meth:`PowAttacker.miner_strategy`.
It returns the sans-IO miner strategy (the seam of
:mod:`bftlab.protocols.pow.strategies`: where to mine, which withheld blocks to publish
when a block is found) for the engine to drive::

    from bftlab.adversary.pow import PowAttacker
    from bftlab.protocols.pow.strategies import SelfishMining

    class MySelfish(PowAttacker):
        def miner_strategy(self, chain, share):
            return SelfishMining(chain)

and a spec names it by dotted path (``strategy: mymod:MySelfish``). Extra
parameters go in a ``Params`` dataclass that extends :class:`PowAttacker.Params`
(so ``hash_share`` and ``degree`` still work).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Optional

from bftlab.core import seeds
from bftlab.errors import ConfigError
from bftlab.specs.schema import FieldError

from bftlab.attack.api import AdversaryContext, Controlled, NodeStrategy
from bftlab.protocols.pow import theory
from bftlab.protocols.pow.chain import Chain, hash_shares
from bftlab.protocols.pow.strategies import Eclipse as EclipseLinks
from bftlab.protocols.pow.strategies import MinerStrategy, PrivateFork, SelfishMining

__all__ = ["AttackerParams", "DoubleSpend", "Eclipse", "Majority", "PowAttacker", "SelfishMiner", "attacker_for"]


@dataclass(frozen=True, kw_only=True)
class AttackerParams:
    """What every PoW attacker takes: its hash power and, on a real topology, its connections."""

    hash_share: Optional[float] = None
    """Share of total hash power of the controlled node (alpha / q); other miners keep their relative shares, scaled to 1 - hash_share. null: the node's share from protocol.params."""
    degree: int = 0
    """Realistic mode: connections of the attacker's node (a well-connected attacker wins more ties); 0 = like any node."""

    def __post_init__(self) -> None:
        if self.hash_share is not None and not (math.isfinite(self.hash_share) and 0.0 <= self.hash_share < 1.0):
            raise FieldError("hash_share", f"must be in [0, 1), got {self.hash_share!r}.")
        if self.degree < 0:
            raise FieldError("degree", f"must be >= 0, got {self.degree!r}.")


class PowAttacker(NodeStrategy):
    """Base of PoW attackers: controls one mining node; a subclass supplies :meth:`miner_strategy`.

    The engine reads :attr:`node`, :attr:`hash_share`, :attr:`degree`,
    :attr:`gamma` and :attr:`eclipse`, calls :meth:`miner_strategy` once when
    the run starts and adds :meth:`expected` to the report's ``metrics.pow.attack``.
    """

    Params: ClassVar[type] = AttackerParams
    protocols: ClassVar[tuple[str, ...]] = ("pow",)
    """The protocols it attacks: loading a spec that pairs it with another protocol fails."""
    mines: ClassVar[bool] = True
    """Whether the attack needs hash power (eclipse does not)."""

    # ---- what the engine reads
    @property
    def node(self) -> int:
        """The controlled node (``byzantine[0]``)."""
        return self.ctx.byzantine[0]

    @property
    def hash_share(self) -> float | None:
        return getattr(self.params, "hash_share", None)

    @property
    def degree(self) -> int:
        return getattr(self.params, "degree", 0)

    @property
    def gamma(self) -> float:
        """Idealised mode: fraction of honest hash power mining on the attacker's block in a tie."""
        return getattr(self.params, "gamma", 0.0)

    @property
    def eclipse(self) -> EclipseLinks | None:
        """A victim whose connections the attacker holds (topology attacks); None for most attackers."""
        return None

    def miner_strategy(self, chain: Chain, share: float) -> MinerStrategy | None:
        """The controlled node's mining strategy over the run's block tree; ``share`` is its hash share.

        None: the node mines and relays honestly (the attack works through the network, like eclipse).
        """
        raise NotImplementedError(f"{type(self).__name__} must override miner_strategy(chain, share)")

    def expected(self, share: float, pow_params: Any) -> dict[str, float]:
        """Closed-form expectations reported next to the measured outcome (none by default)."""
        return {}

    def check(self, pow_params: Any, n: int) -> None:
        """Checks against the protocol's parameters; raise FieldError naming a key under ``adversary[0]``."""
        if self.gamma and pow_params.mode != "idealised":
            raise FieldError("params.gamma", "applies to protocol.params.mode: idealised only; in realistic mode "
                                             "ties are decided by the network (first seen).")
        if self.degree >= n:
            raise FieldError("params.degree", f"must be < n={n}, got {self.degree}.")
        if self.mines and self.hash_share is None and hash_shares(pow_params, n)[self.node] <= 0:
            raise FieldError("byzantine", f"node {self.node} has no hash power in protocol.params (miners / "
                                          f"hash_shares); control a mining node or set params.hash_share.")

    # ---- the message-level hooks do not apply
    def control(self, c: Controlled) -> None:
        raise ConfigError(f"adversary: {self.ctx.name!r} is a proof-of-work attacker; it controls a miner of "
                          f"protocol pow and cannot run with protocol {self.ctx.protocol!r}.")


# ------------------------------------------------------------------ built-ins
@dataclass(frozen=True, kw_only=True)
class SelfishParams(AttackerParams):
    gamma: float = 0.0
    """Idealised mode: fraction of honest hash power that mines on the attacker's block in a tie (Eyal & Sirer's gamma). Realistic mode: must be 0, the network decides ties."""

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
    """Abandon an attempt when the honest chain leads by this many blocks; 0 = never (simulated with a cut-off where catching up has probability < 1e-9)."""
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
    """Depth of the history to rewrite: publish the private fork once it is longer and the public chain has z blocks past the fork point."""

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
def attacker_for(spec: Any, pow_params: Any) -> PowAttacker | None:
    """The PoW attacker of ``spec`` (None for an honest network).

    Raises :class:`~bftlab.specs.schema.FieldError` naming the key path when the
    adversary section asks for something PoW cannot do: a strategy that is not a
    :class:`PowAttacker` (network and PBFT strategies act on messages, which the
    fast engine does not simulate), more than one attacker or controlled node,
    an attacker on the (honest-only) events engine.
    """
    from bftlab.attack.config import load_strategy

    entries = tuple(spec.adversary)
    for i, entry in enumerate(entries):
        cls = load_strategy(entry.strategy)
        if not issubclass(cls, PowAttacker):
            raise FieldError(
                f"adversary[{i}].strategy",
                f"{entry.strategy!r} is a {cls.kind} strategy acting on messages; PoW attacks run on the "
                f"fast engine, which computes block arrivals, not messages, so PoW takes PoW attackers only: "
                f"selfish-mining, double-spend, majority, eclipse, or a subclass of bftlab.adversary.pow.PowAttacker.")
    if not entries:
        return None
    if len(entries) > 1:
        raise FieldError("adversary", f"PoW runs take one attacker, got {len(entries)}.")
    entry = entries[0]
    if len(entry.byzantine) != 1:
        raise FieldError("adversary[0].byzantine", f"a PoW attacker controls one node; list exactly one, "
                                                   f"got {list(entry.byzantine)}.")
    if pow_params.engine != "fast":
        raise FieldError("adversary", "PoW attackers run on protocol.params.engine: fast only (the events engine "
                                      "is honest-only).")
    cls = load_strategy(entry.strategy)
    if cls.miner_strategy is PowAttacker.miner_strategy:
        raise FieldError("adversary[0].strategy", f"{entry.strategy!r} must override "
                                                  f"miner_strategy(chain, share) (return None to mine honestly).")
    params = entry.params if isinstance(entry.params, cls.Params) else cls.Params(**(entry.params or {}))
    limit = pow_params.max_time_s or math.inf
    ctx = AdversaryContext(entry.strategy, spec.n, spec.f, tuple(range(spec.n)), (), tuple(entry.byzantine),
                           seeds.rng(spec.seed, f"adversary/{entry.strategy}"), spec.protocol.name, limit)
    attacker = cls(params, ctx)
    try:
        attacker.check(pow_params, spec.n)
    except FieldError as exc:
        raise FieldError(f"adversary[0].{exc.field}", exc.message) from None
    return attacker
