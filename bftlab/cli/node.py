"""The ``bftlab node`` subcommand: run one node of a real cluster in this terminal.

A cluster that spans machines lists every replica's ``host:port`` in
``transport.hosts``; each machine runs ``bftlab node SPEC --id N`` with the same
spec. Clients run the same way (one or more ``--id`` of client ids) and issue
their share of the workload, then exit. Ctrl-C stops a node cleanly.
"""

from __future__ import annotations

import argparse

_EPILOG = """\
examples:
  bftlab node configs/cluster.yaml --id 2                      # replica 2, at its transport.hosts entry
  bftlab node configs/cluster.yaml --id 0 --listen 0.0.0.0:7000  # listen on every interface
  bftlab node configs/cluster.yaml --id 4 --id 5               # clients 4 and 5 with their workload share

The spec must be identical on every machine: its digest is checked when nodes connect.

exit status:
  0  stopped (Ctrl-C or SIGTERM), or the clients' workload finished
  2  bad spec or command line"""


def add_node(sub: argparse._SubParsersAction) -> None:
    from bftlab.transport.node_main import add_arguments

    p = sub.add_parser(
        "node",
        help="run one node (replica or clients) of a real cluster",
        description="Run one replica, or a group of clients with their share of the workload, as this process, "
        "over TCP with the peers listed in the spec's transport.hosts.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(p)
    p.set_defaults(handler=cmd_node)


def cmd_node(args: argparse.Namespace) -> int:
    """``bftlab node``: load the spec and serve until stopped."""
    from bftlab.transport.node_main import run_node

    return run_node(args)
