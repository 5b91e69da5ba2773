"""The shipped experiment files are valid, full and quick, and their figure names are unique."""

from __future__ import annotations

import pytest

from bftlab.experiments.sweep import load_sweep

from .helpers import ROOT

FILES = sorted((ROOT / "experiments").glob("*.yaml"))


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_experiment_file_is_valid_full_and_quick(path):
    full, quick = load_sweep(path), load_sweep(path, quick=True)
    assert full.file.name == path.stem and full.file.plots, "name the file after the sweep; declare its figures"
    if full.file.benchmark is not None:  # figures of a benchmark's output: nothing to run
        assert full.runs == quick.runs == ()
    else:
        assert 0 < len(quick.runs) <= len(full.runs)


def test_figure_names_are_unique_across_files():
    names = [p.name for path in FILES for p in load_sweep(path).file.plots]
    assert len(names) == len(set(names))
