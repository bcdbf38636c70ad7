"""The smoke ladder (config/smoke_ladder.yaml) end to end: several studies in one DAG, the
cross-study stage and the ladder paper. In a file of its own so that ``make test``'s two
workers (pytest-xdist, one file each at a time) run it beside the smoke DAG's tests."""

import pandas as pd
import pytest
import yaml
from helpers import LADDER_CLAIMS, REPO, pdf_text, smoke

from adamw_repro.analysis.claims import VERDICTS

pytestmark = pytest.mark.slow  # runs Snakemake


def test_a_smoke_ladder_builds_one_paper_with_a_row_per_study(tmp_path):
    """config/smoke_ladder.yaml: a data axis and a size axis of tiny studies in one DAG (the
    main study also a length axis of one rung), each study under its own folder, sharing one
    data stage, then the cross-study stage and the ladder paper."""
    work = tmp_path / "work"
    work.mkdir()
    smoke(work, REPO / "config" / "smoke_ladder.yaml")
    cfg = yaml.safe_load((REPO / "config" / "smoke_ladder.yaml").read_text())
    names = [s["name"] for s in cfg["studies"]]
    for name in names:
        assert (work / f"results/{name}/tables/ledger.csv").exists()
        assert (work / f"logs/{name}/train").is_dir()
    assert sorted(p.name for p in (work / "resources").iterdir()) == [names[0]]  # shared data
    studies = pd.read_csv(work / "results/ladder/studies.csv")
    assert list(studies["study"]) == names
    on = {
        a: studies[studies["axes"].str.split().map(lambda x, a=a: a in x)] for a in ("data", "size")
    }
    assert len(on["data"]) == len(on["size"]) == 4
    assert on["data"]["n_params_ne"].nunique() == 1 and on["data"]["steps"].nunique() == 1
    assert on["size"]["epochs"].round(1).nunique() == 1
    for name, row in zip(names, studies.itertuples(), strict=True):
        regime = pd.read_csv(work / f"results/{name}/tables/regime.csv").set_index("check")
        assert row.benefit == pytest.approx(regime.loc["decay helps", "value"])
        assert row.acts == regime.loc["decay acts", "status"]
    ledger = pd.read_csv(work / "results/ladder/ledger.csv").set_index("id")
    assert list(ledger.index) == LADDER_CLAIMS
    assert set(ledger["verdict"]) <= set(VERDICTS)
    assert ledger.loc["U8c", "verdict"] == "untested"  # one corpus
    assert ledger.loc["U8a", "verdict"] != "untested" and ledger.loc["WA2", "verdict"] != "untested"
    joined = pd.read_csv(work / "results/ladder/ledgers.csv")
    assert set(joined["study"]) == set(names)
    flat = " ".join(pdf_text(work / "results/paper/paper.pdf").split())
    assert "Scale: 3 axes, 7 studies in one workflow" in flat and "Each study's ledger" in flat
    assert "On the data axis (4 studies)" in flat and "On the size axis (4 studies)" in flat
    # the main study is a one-rung length axis: its figure is drawn from real runs, its claims
    # need four rungs
    assert "On the length axis (1 study)" in flat
    assert ledger.loc["LN2", "verdict"] in ("untested", "untestable here")
    drawn = {p.stem for p in (work / "results/ladder/figures").glob("*.pdf")}
    assert drawn == {"ladder_size", "ladder_data", "ladder_curves", "ladder_length"}
    for cid in ledger.index:
        assert f"{cid}: " in flat, cid
    for name in names:
        assert f"Ledger of study {name}" in flat
    for fig in ("ladder_size", "ladder_data", "ladder_curves"):
        assert (work / f"results/ladder/figures/{fig}.png").stat().st_size > 10_000
