"""The PoW attacker seam: the base class every proof-of-work attacker extends, and its loading.

The fast PoW engine computes block arrivals, not messages, so a PoW attacker
has no replica to wrap: :class:`PowAttacker` is a
:class:`~bftlab.attack.api.NodeStrategy` whose one hook, :meth:`PowAttacker.miner_strategy`,
returns the sans-IO miner strategy (:mod:`bftlab.protocols.pow.strategies`) the
engine drives. It lives with the protocol, which drives it; the built-in
attackers (selfish mining, double spending, 51%, eclipse) are strategies in
:mod:`bftlab.adversary.pow`, found through the registry like every strategy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from bftlab.attack.api import AdversaryContext, Controlled, NodeStrategy
from bftlab.core import seeds
from bftlab.errors import ConfigError
from bftlab.protocols.pow.chain import Chain, hash_shares
from bftlab.protocols.pow.strategies import Eclipse as EclipseLinks
from bftlab.protocols.pow.strategies import MinerStrategy
from bftlab.specs.schema import FieldError

__all__ = ["AttackerParams", "PowAttacker", "attacker_for"]


@dataclass(frozen=True, kw_only=True)
class AttackerParams:
    """What every PoW attacker takes: its hash power and, on a real topology, its connections."""

    hash_share: float | None = None
    """Share of total hash power of the controlled node (alpha / q); other miners keep their relative shares, scaled to
    1 - hash_share. null: the node's share from protocol.params."""
    degree: int = 0
    """Realistic mode: connections of the attacker's node (a well-connected attacker wins more ties); 0 = like any
    node."""

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
                f"selfish-mining, double-spend, majority, eclipse, or a subclass of "
                f"bftlab.protocols.pow.attacker.PowAttacker.")
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
    assert issubclass(cls, PowAttacker)  # checked for every entry above
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
