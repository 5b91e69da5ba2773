"""Run every benchmark in turn (``make bench``); each writes JSON to benchmarks/results/.

    python -m benchmarks.run_all [--quick] [--only NAME]...
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

BENCHMARKS = ("bench_kernel", "bench_sim", "bench_crypto", "bench_costs", "bench_pow", "bench_real", "bench_gossip",
              "bench_linearizability")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="pass --quick to the benchmarks that have it")
    ap.add_argument("--only", action="append", choices=BENCHMARKS, help="run only this benchmark (repeatable)")
    args = ap.parse_args(argv)
    here = Path(__file__).resolve().parent
    failed = []
    for name in args.only or BENCHMARKS:
        quick = args.quick and "--quick" in (here / f"{name}.py").read_text()
        cmd = [sys.executable, "-m", f"benchmarks.{name}", *(["--quick"] if quick else [])]
        print(f"== {' '.join(cmd[2:])}", flush=True)
        t0 = time.perf_counter()
        if subprocess.run(cmd, cwd=here.parent, check=False).returncode != 0:
            failed.append(name)
        print(f"   ({time.perf_counter() - t0:.0f} s)", flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
