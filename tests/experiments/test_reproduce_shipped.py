"""CI smoke test: the shipped experiments' quick versions run end to end and draw every figure."""

from __future__ import annotations

from bftlab.cli import main
from bftlab.experiments.sweep import load_sweep

from .helpers import ROOT

EXPERIMENTS = ROOT / "experiments"


def test_reproduce_quick_draws_every_shipped_figure(tmp_path, capsys):
    figures = tmp_path / "figures"
    status = main(["reproduce", "--quick", "--experiments", str(EXPERIMENTS), "--store", str(tmp_path / "store"),
                   "--figures", str(figures), "--no-progress"])
    err = capsys.readouterr().err
    assert status == 0, err
    for path in sorted(EXPERIMENTS.glob("*.yaml")):
        sweep = load_sweep(path, quick=True)
        if sweep.benchmark_file is not None and not sweep.benchmark_file.is_file():
            # Benchmark outputs are machine-specific and not committed: reproduce names the command instead.
            assert f"not found; figures {', '.join(p.name for p in sweep.file.plots)} need them. " \
                   f"Run: {sweep.file.benchmark.command}" in err
            continue
        for plot in sweep.file.plots:
            for suffix in (".png", ".svg", ".caption.md"):
                assert (figures / f"{plot.name}{suffix}").stat().st_size > 0, f"{path.name}: {plot.name}{suffix}"
