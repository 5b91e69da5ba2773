"""Figures come from the store only, with provenance captions."""

from __future__ import annotations

import pytest

from bftlab.cli import main

from .helpers import toy_experiment


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plot")
    experiment = toy_experiment(folder, requests=100, seeds=2)
    store = folder / "store"
    assert main(["sweep", str(experiment), "--store", str(store), "--executor", "serial", "--no-progress"]) == 0
    return experiment, store


def test_plot_writes_png_svg_and_caption_from_stored_results(swept, tmp_path, capsys):
    experiment, store = swept
    out = tmp_path / "figs"
    assert main(["plot", str(experiment), "--store", str(store), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "lat.caption.md", "lat.png", "lat.svg", "tput.caption.md", "tput.png", "tput.svg"]
    assert (out / "tput.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = (out / "lat.svg").read_text()
    assert "theory: 5 one-way delays" in svg and "replicas n" in (out / "tput.svg").read_text()
    caption = (out / "tput.caption.md").read_text()
    for text in ("mean over 2 seeds (1, 2)", "95% confidence interval", "bftlab version: ", "Commit: ",
                 f"bftlab sweep {experiment} --store {store}", f"bftlab plot {experiment} --store {store} --out {out}"):
        assert text in caption
    assert str(out / "tput.png") in capsys.readouterr().out


def test_same_results_give_byte_identical_figures(swept, tmp_path):
    experiment, store = swept
    for d in ("a", "b"):
        out = str(tmp_path / d)
        assert main(["plot", str(experiment), "--store", str(store), "--out", out, "--figure", "tput"]) == 0
    for name in ("tput.png", "tput.svg"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_plot_without_results_names_the_sweep_command(tmp_path, capsys):
    experiment = toy_experiment(tmp_path)
    assert main(["plot", str(experiment), "--quick", "--store", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert "2 of 2 runs are not in" in err and f"Run: bftlab sweep {experiment} --quick --store" in err


def test_unknown_figure_is_a_usage_error(swept, capsys):
    experiment, store = swept
    assert main(["plot", str(experiment), "--store", str(store), "--figure", "nope"]) == 2
    assert "has no such plot; its plots: tput, lat" in capsys.readouterr().err


def test_reproduce_sweeps_and_plots_every_experiment(tmp_path, capsys):
    exps = tmp_path / "exps"
    exps.mkdir()
    toy_experiment(exps, "one")
    two = toy_experiment(exps, "two", grid={"n": [4]}, plots=[{"name": "two-tput", "x": "n", "y": "metrics.committed"}])
    figs = tmp_path / "figs"
    args = ["reproduce", "--quick", "--experiments", str(exps), "--store", str(tmp_path / "store"),
            "--figures", str(figs), "--executor", "serial", "--no-progress"]
    assert main(args) == 0
    assert sorted(p.name for p in figs.glob("*.png")) == ["lat.png", "tput.png", "two-tput.png"]
    assert "reproduce: 2 experiments, 3 runs (quick)" in capsys.readouterr().err
    (exps / "bad.yaml").write_text("name: bad\nbase: {protocol: {name: nope}}\n")
    assert main(args) == 2
    assert "bad.yaml, line 2: protocol.name: unknown protocol 'nope'" in capsys.readouterr().err
    (exps / "bad.yaml").unlink()
    three = toy_experiment(exps, "three", grid={"n": [7]},
                           plots=[{"name": "two-tput", "x": "n", "y": "metrics.committed"}])
    assert main(args) == 2
    assert f"{two}: figure 'two-tput' is also drawn by {three}" in capsys.readouterr().err


def test_a_recipe_may_replace_the_captions_statistics_sentence(swept, tmp_path):
    experiment, store = swept
    pooled = {"name": "pooled", "x": "n", "y": "metrics.throughput_rps", "series": "network.latency_ms",
              "statistics": "Each curve pools every run of its series."}
    other = toy_experiment(tmp_path, requests=100, seeds=2, plots=[pooled])
    assert main(["plot", str(other), "--store", str(store), "--out", str(tmp_path / "figs")]) == 0
    caption = (tmp_path / "figs" / "pooled.caption.md").read_text()
    assert "Each curve pools every run of its series." in caption and "mean over" not in caption
