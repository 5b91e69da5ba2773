"""What every sub-command shares: exit statuses, the error paragraph, the spec arguments."""

from __future__ import annotations

import argparse
import sys

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_UNSAFE = 3

_EXIT_CODES = """\
exit status:
  0  finished (a run exits 0 whatever its verdict, unless --fail-on-unsafe)
  1  internal error: a bug in bftlab; the seed and the replay command are printed
  2  bad spec or command line: one "error:" paragraph on stderr
  3  safety violated (run --fail-on-unsafe only)"""


def error(message: str) -> None:
    print(f"error: {' '.join(message.split())}", file=sys.stderr)


def add_spec_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", metavar="SPEC", help="experiment spec (YAML file)")
    p.add_argument(
        "--set",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="override a spec value; KEY is a dotted path (list items as [i]), VALUE is YAML "
        "(50, true, [], {a: 1}, null). Repeatable; applied in order before validation.",
    )
    p.add_argument("--seed", metavar="N", type=int, help="master seed (replaces the spec's seed)")
