"""Attacking miners as small sans-IO state machines.

A strategy never touches the network or the clock: the engine tells it what
happened (:meth:`on_own_block` when the attacker finds a block,
:meth:`on_public_block` when a block of someone else reaches the attacker's
node) and it answers with the ids of its withheld blocks to publish now. It
says where the attacker mines with :meth:`mining_parent`. It reads the block
tree through the engine's :class:`~bftlab.protocols.pow.chain.Chain` (heights only).

This is the protocol side of the seam to the adversary API: a spec selects an
attacker like any other strategy (``adversary: {strategy: selfish-mining,
byzantine: [0]}``); :class:`bftlab.protocols.pow.attacker.PowAttacker` implements
:class:`Attacker`, what the engine reads, and its ``miner_strategy`` returns one
of the objects below (or a researcher's own :class:`MinerStrategy`).

* :class:`SelfishMining`: SM1 of Eyal & Sirer, "Majority is not enough:
  Bitcoin mining is vulnerable" (FC'14), Algorithm 1, written in terms of
  the lead after a public block arrives (identical when blocks come one at a
  time, and well defined when, in realistic mode, several arrive together).
* :class:`PrivateFork`: the double-spend race of Nakamoto (2008, section 11)
  as analysed by Rosenfeld (2012): pay a merchant, mine a fork without the
  payment, publish it once the merchant saw ``z`` confirmations and the fork
  is longer; with ``premine`` the payment is sent only after the first fork
  block is found. ``majority`` is the same race without a payment (a
  51% attacker rewriting ``z``-deep history).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

from bftlab.protocols.pow.chain import Chain


class MinerStrategy(Protocol):
    """An attacking miner's decisions; block ids index the engine's :class:`~bftlab.protocols.pow.chain.Chain`."""

    def mining_parent(self) -> int:
        """The block the attacker mines on now."""
        ...

    def on_own_block(self, b: int, now_ns: int) -> list[int]:
        """The attacker found ``b`` (withheld until returned): the blocks to publish now."""
        ...

    def on_public_block(self, b: int, now_ns: int) -> list[int]:
        """Someone else's block ``b`` reached the attacker's node: the blocks to publish now."""
        ...

    def summary(self) -> dict:
        """What the attack achieved, for ``metrics.pow.attack``."""
        ...


@dataclass(frozen=True)
class Eclipse:
    """The attacker takes every connection of ``victim``; no block crosses them before ``end_s``."""

    victim: int
    end_s: float


class Attacker(Protocol):
    """What the engine needs from an attacker (implemented by :class:`bftlab.protocols.pow.attacker.PowAttacker`)."""

    @property
    def node(self) -> int: ...

    @property
    def hash_share(self) -> float | None:
        """The node's hash share, others rescaled; None: the share ``protocol.params`` gives it."""
        ...

    @property
    def degree(self) -> int:
        """Realistic mode: the node's connections (0 = like any node)."""
        ...

    @property
    def gamma(self) -> float:
        """Idealised mode: fraction of honest hash power mining on the attacker's block in a tie."""
        ...

    @property
    def eclipse(self) -> Eclipse | None: ...

    def miner_strategy(self, chain: Chain, share: float) -> MinerStrategy | None:
        """None: the node mines and relays honestly."""
        ...

    def expected(self, share: float, pow_params: Any) -> dict[str, float]:
        """Closed-form expectations added to ``metrics.pow.attack``."""
        ...


class SelfishMining:
    """Eyal & Sirer's SM1: keep a private lead, reveal just enough to win races."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        self.pub_tip = 0
        self.private: list[int] = []  # attacker blocks above the last public block it built on
        self.published = 0  # how many of ``private`` are public
        self.races = 0
        self.overrides = 0

    def _priv_height(self) -> int:
        return self.chain.height[self.private[-1]] if self.private else self.chain.height[self.pub_tip]

    def mining_parent(self) -> int:
        return self.private[-1] if self.private else self.pub_tip

    def _release(self, upto_height: int) -> list[int]:
        h = self.chain.height
        out = []
        while self.published < len(self.private) and h[self.private[self.published]] <= upto_height:
            out.append(self.private[self.published])
            self.published += 1
        return out

    def _win(self) -> list[int]:
        """Publish everything: the private chain is longer, the network switches to it."""
        out = self._release(1 << 62)
        self.pub_tip = self.private[-1]
        self.private, self.published = [], 0
        self.overrides += 1
        return out

    def on_own_block(self, b: int, now_ns: int) -> list[int]:
        lead_before = self._priv_height() - self.chain.height[self.pub_tip]
        self.private.append(b)
        if lead_before == 0 and self.published:
            return self._win()  # we were in a tie race and extended our side: publish, win
        return []

    def on_public_block(self, b: int, now_ns: int) -> list[int]:
        h = self.chain.height
        if h[b] <= h[self.pub_tip]:
            return []  # not longer than what is public already
        self.pub_tip = b
        lead = self._priv_height() - h[b]
        if lead < 0:  # the others are ahead: adopt their chain
            self.private, self.published = [], 0
            return []
        if lead == 0:
            if not self.private:
                return []  # nothing withheld: we simply mine on their block, there is no race
            # We withheld a block of their height and publish it now: a tie race (Eyal & Sirer's state 0';
            # gamma or the network decides). Only a publication makes a race, so count the release.
            out = self._release(h[b])
            self.races += bool(out)
            return out
        if lead == 1:  # publish all: we are one longer, the others switch
            return self._win()
        return self._release(h[b])  # comfortable lead: reveal up to their height

    def summary(self) -> dict:
        """``tie_races``: withheld blocks published to match an honest block of their height (state 0');
        ``overrides``: times the pool published a longer chain that the others adopted."""
        return {"tie_races": self.races, "overrides": self.overrides}


class PrivateFork:
    """Double spend (or majority rewrite): race a private fork against ``z`` confirmations."""

    def __init__(self, chain: Chain, q: float, z: int, give_up: int, premine: bool, pay: bool) -> None:
        self.chain = chain
        self.z = z
        self.pay = pay
        self.premine = premine and pay
        p = 1.0 - q
        if give_up:
            self.give_up = give_up
        elif q >= p:
            self.give_up = 1 << 30
        else:  # never giving up: stop where catching up has probability (q/p)^d < 1e-9
            self.give_up = z + math.ceil(math.log(1e-9) / math.log(q / p)) if q > 0 else z + 1
        self.pub_tip = 0
        self.attempts = self.successes = self.failures = 0
        self.reversed_depths: list[int] = []
        self._start()

    def _start(self) -> None:
        self.base = self.pub_tip
        self.private: list[int] = []
        self.racing = not self.premine
        if self.racing:
            self.attempts += 1

    def mining_parent(self) -> int:
        return self.private[-1] if self.private else self.base

    def on_own_block(self, b: int, now_ns: int) -> list[int]:
        self.private.append(b)
        if not self.racing:  # the first fork block is in hand: now pay the merchant
            self.racing = True
            self.attempts += 1
        return self._check()

    def on_public_block(self, b: int, now_ns: int) -> list[int]:
        if self.chain.height[b] <= self.chain.height[self.pub_tip]:
            return []
        self.pub_tip = b
        if not self.racing:  # no payment yet: restart the pre-mining on the new tip
            self.base, self.private = b, []
            return []
        return self._check()

    def _check(self) -> list[int]:
        h = self.chain.height
        honest = h[self.pub_tip] - h[self.base]
        mine = len(self.private)
        if honest >= self.z and mine > honest:
            out = list(self.private)
            self.successes += 1
            self.reversed_depths.append(honest)
            self.pub_tip = self.private[-1]
            self._start()
            return out
        if honest - mine >= self.give_up:
            self.failures += 1
            self._start()
        return []

    def summary(self) -> dict:
        done = self.successes + self.failures
        return {"attempts": done, "successes": self.successes, "failures": self.failures,
                "unfinished": self.attempts - done, "give_up_deficit": self.give_up,
                "success_rate": self.successes / done if done else None,
                "success_rate_ci95": wilson(self.successes, done)}


def wilson(k: int, n: int, z: float = 1.96) -> list[float] | None:
    """Wilson score interval of a binomial proportion."""
    if n == 0:
        return None
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    w = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return [max(0.0, c - w), min(1.0, c + w)]
