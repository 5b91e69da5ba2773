"""The selfish-mining strategy driven by hand, event by event, on a block tree built for the scenario."""

from __future__ import annotations

from bftlab.protocols.pow.chain import Chain
from bftlab.protocols.pow.strategies import SelfishMining

POOL, HONEST = 0, 1


class Scenario:
    """A chain and a selfish pool; ``pool``/``honest`` mine a block on a parent and tell the pool."""

    def __init__(self) -> None:
        self.chain = Chain(1.0)
        self.sm = SelfishMining(self.chain)
        self.t = 0

    def _add(self, parent: int, miner: int) -> int:
        self.t += 1_000_000_000
        return self.chain.add(parent, miner, self.t, 1.0, 0, 0, 80, self.t, miner == POOL, 0)

    def pool(self) -> tuple[int, list[int]]:
        b = self._add(self.sm.mining_parent(), POOL)
        return b, self.sm.on_own_block(b, self.t)

    def honest(self, parent: int) -> tuple[int, list[int]]:
        b = self._add(parent, HONEST)
        return b, self.sm.on_public_block(b, self.t)


def test_tie_races_are_counted_only_when_a_withheld_block_is_published() -> None:
    s = Scenario()
    h1, out = s.honest(0)  # no private block: the pool just mines on it (old counting: a race)
    assert out == [] and s.sm.mining_parent() == h1
    a2, out = s.pool()  # lead 1, withheld
    assert out == []
    h2, out = s.honest(h1)  # same height as a2: publish it, race 1 (state 0')
    assert out == [a2]
    a3, out = s.pool()  # the pool extends its side of the race and wins it
    assert out == [a3]
    _, out = s.honest(h2)  # height 3, not above the public tip a3: nothing
    assert out == []
    a4, _ = s.pool()
    a5, _ = s.pool()  # lead 2
    _, out = s.honest(a3)  # lead drops to 1: publish both, an override, not a race
    assert out == [a4, a5]
    a6, _ = s.pool()
    h6, out = s.honest(a5)  # race 2
    assert out == [a6]
    h7, out = s.honest(h6)  # the others won this race: the pool adopts h7
    assert out == [] and s.sm.mining_parent() == h7
    _, out = s.honest(h7)  # no private block again (old counting: a race)
    assert out == []
    assert s.sm.summary() == {"tie_races": 2, "overrides": 2}


def test_a_long_lead_reveals_without_racing() -> None:
    s = Scenario()
    a = [s.pool()[0] for _ in range(3)]  # lead 3
    h1, out = s.honest(0)  # lead 2: reveal a[0] to match, no race (the pool is still ahead)
    assert out == [a[0]]
    _, out = s.honest(h1)  # lead 1: publish the rest and win
    assert out == a[1:]
    assert s.sm.summary() == {"tie_races": 0, "overrides": 1}
