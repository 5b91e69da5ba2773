"""Nakamoto proof of work (Nakamoto 2008) with a peer-to-peer network and incentive attackers.

Theory of operation. Miners extend the chain with the most cumulative work
(section 4: "the longest chain"; a tie keeps the tip seen first). Finding a
block is a Poisson process per miner with rate proportional to its hash-power
share, so a block interval is exponential; the difficulty is retargeted every
``retarget_interval`` blocks to keep the mean interval at ``block_interval_s``.
Blocks carry a range of a global Poisson transaction stream, limited by the
block size. A transaction is confirmed once its block is ``k`` deep; PoW
safety is violated when a block with ``k`` confirmations is reorganised away
(section 11: the attacker's chance falls exponentially with ``k`` while its
share ``q < 1/2``).

Layout:

* :mod:`~bftlab.protocols.pow.params`: the spec's ``protocol.params`` (validated);
* :mod:`~bftlab.protocols.pow.chain`: headers, Merkle roots, difficulty, block tree columns;
* :mod:`~bftlab.protocols.pow.miner`: the honest node as a sans-IO state machine (inv/getdata/block relay);
* :mod:`~bftlab.protocols.pow.topology`, :mod:`~bftlab.protocols.pow.relay`: the peer-to-peer graph and the
  numba kernel that computes a block's arrival at every node;
* :mod:`~bftlab.protocols.pow.engine`: the fast engine (mining events, attackers event-driven, relay by kernel);
* :mod:`~bftlab.protocols.pow.eventsim`: the message-level engine (every message a simulator event);
* :mod:`~bftlab.protocols.pow.strategies`: the attacker seam, selfish mining (Eyal & Sirer, FC'14), double
  spending and majority rewrites (Rosenfeld 2012) as sans-IO miner strategies; eclipse is a
  topology attack built in :mod:`~bftlab.protocols.pow.topology`. A spec picks an attacker in its
  ``adversary`` section (``{strategy: selfish-mining, byzantine: [0]}``; see :mod:`bftlab.adversary.pow`);
* :mod:`~bftlab.protocols.pow.theory`: the closed forms the simulator is checked against;
* :mod:`~bftlab.protocols.pow.metrics`, :mod:`~bftlab.protocols.pow.run`: report.
"""

from __future__ import annotations

from typing import Any

from bftlab.api import HASH_POWER, NodeContext, ProtocolSpec, RunOptions
from bftlab.protocols.pow.miner import BlockMsg, GetData, Inv, Miner
from bftlab.protocols.pow.params import PowParams
from bftlab.protocols.pow.report import SECTION


def _run(spec: Any, options: RunOptions) -> dict:
    from bftlab.protocols.pow.run import run

    return run(spec, options)


def _check_spec(spec: Any) -> None:
    from bftlab.protocols.pow.run import check_spec

    check_spec(spec)


def make_miner(ctx: NodeContext) -> Miner:
    """A miner with an equal share of hash power, no links and no transactions (for generic tooling)."""
    import numpy as np

    from bftlab.core.costs import CpuCosts
    from bftlab.protocols.pow.chain import TxStream

    return Miner(ctx, ctx.params, 1.0 / ctx.n, (), TxStream(np.random.default_rng(0), 0.0), CpuCosts())


def _no_client(ctx: NodeContext) -> Miner:
    raise NotImplementedError("PoW has no client nodes; transactions come from protocol.params.tx_rate_tps")


PROTOCOL = ProtocolSpec(
    name="pow",
    params=PowParams,
    make_replica=make_miner,
    make_client=_no_client,
    message_types=(Inv, GetData, BlockMsg),
    description="Nakamoto proof of work: longest-chain mining over a peer-to-peer network, with attackers.",
    fault_model=HASH_POWER,  # the attacker's budget is its hash share, checked by check_spec
    oracles=(),  # chain safety (forks, reorgs) is measured by the protocol's own metrics
    # protocol.params set the load and the duration; miners keep no log
    unused_sections=("workload", "faults", "stop", "f", "allow_exceeding_f", "oracles", "storage"),
    check_spec=_check_spec,  # checks that need n and the adversary section
    run=_run,  # the relay kernel (or the message-level engine), not the generic simulator
    report_sections=(SECTION,),  # chain, stale rate, propagation, transactions, revenue, attack
)

__all__ = ["PROTOCOL", "PowParams"]
