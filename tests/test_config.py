"""Config validation: every bad input fails before any job, with one line naming the key."""

import subprocess
import sys

import pytest
import yaml

from adamw_repro.config import (
    ConfigError,
    data_owners,
    left_out,
    load_config,
    load_schema,
    min_tokens,
    study_configs,
    validate_config,
)

VALID = {"optimizers": {"adamw": {"lr": 1e-3, "weight_decay": 0.1}}, "seeds": [0]}


def with_(path, value, base=VALID):
    cfg = yaml.safe_load(yaml.safe_dump(base))
    *parents, last = path.split(".")
    node = cfg
    for p in parents:
        node = node.setdefault(p, {})
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return cfg


DELETE = object()

BAD = [
    (with_("optimizers.adamx", {"lr": 1e-3}), "optimizers", "adamx"),
    (with_("optimizers.adamw.lr", -0.1), "optimizers.adamw.lr", "-0.1"),
    (with_("optimizers.adamw.lr", 0), "optimizers.adamw.lr", "0"),
    (with_("optimizers.adamw.lr", "fast"), "optimizers.adamw.lr", "not of type"),
    (with_("optimizers.adamw.weight_decay", -1), "optimizers.adamw.weight_decay", "-1"),
    (with_("optimizers.adamw.lr", [float("nan")]), "optimizers.adamw.lr", "nan"),
    (with_("optimizers.adamw.lr", [float("inf")]), "optimizers.adamw.lr", "finite"),
    (with_("study.margin", float("nan")), "study.margin", "nan is not a finite number"),
    (with_("optimizers.adamw.decay_timescale", 1.0), "optimizers.adamw", "not both"),
    (with_("optimizers.adamw.betas", [0.9]), "optimizers.adamw.betas", "short"),
    (
        with_("optimizers.adam", {"lr": 1e-3, "weight_decay": 0.1}),
        "optimizers.adam",
        "weight_decay",
    ),
    (with_("optimizers.adamw.weight_decay", DELETE), "optimizers.adamw", "one is required"),
    (with_("seeds", DELETE), "config", "seeds"),
    (with_("seeds", []), "seeds", "non-empty"),
    (with_("seeds", [0, 0]), "seeds", "non-unique"),
    (with_("seeds", [-1]), "seeds.0", "-1"),
    (with_("train.batch_size", "sixteen"), "train.batch_size", "not of type 'integer'"),
    (with_("train.batch_size", "16.5"), "train.batch_size", "not of type 'integer'"),
    (with_("train.batch_size", 0), "train.batch_size", "0"),
    (with_("train.tokens", 0), "train.tokens", "0"),
    (with_("train.tokens", 100), "train.tokens", "less than one step"),
    (with_("train.schedule", "exponential"), "train.schedule", "exponential"),
    (with_("train.precision", "fp16"), "train.precision", "fp16"),
    (with_("train.lr", 1e-3), "train", "'lr' was unexpected"),
    (with_("study.axes", ["width"]), "study.axes.0", "width"),
    (with_("study.axes", ["data", "data"]), "study.axes", "non-unique"),
    (with_("paper.crosscheck", [{"ledger": "x.csv"}]), "paper.crosscheck.0", "label"),
    (with_("model.n_head", 3), "model.n_head", "does not divide"),
    (with_("train.data_tokens", 1000), "train.data_chunks", "cannot each fill one context"),
    (with_("corpus.heldout_fraction", 0.5), "corpus.heldout_fraction", "0.5"),
    (with_("corpus.source", "wikipedia"), "corpus.source", "wikipedia"),
    (with_("corpus.source", "file"), "corpus.path", "required"),
    (
        with_("corpus", {"source": "file", "path": "/no/such/file.txt"}),
        "corpus.path",
        "no such file",
    ),
    (with_("tokenizer.vocab_size", 70000), "tokenizer.vocab_size", "70000"),
    (with_("optimizers", {}), "optimizers", "empty"),
    (with_("optimizers.adamw.lr", []), "optimizers.adamw.lr", "non-empty"),
    (with_("optimizers.adamw.momentum", 0.9), "optimizers.adamw", "'momentum' was unexpected"),
    (with_("study.margin", -0.01), "study.margin", "-0.01"),
    (with_("study.slope_margin", float("nan")), "study.slope_margin", "not a finite number"),
    (with_("study.tuning_seeds", [1, 1]), "study.tuning_seeds", "non-unique"),
    (with_("study.bootstrap_samples", 0), "study.bootstrap_samples", "minimum of 100"),
    (with_("model.dropout", 1.5), "model.dropout", "1.5"),
    (with_("train.warmup_fraction", 1.5), "train.warmup_fraction", "1.5"),
    (with_("train.eval_tokens", 0), "train.eval_tokens", "0"),
    (with_("train.grad_clip", -1), "train.grad_clip", "-1"),
    (with_("train.data_tokens", -5), "train.data_tokens", "-5"),
    (with_("seeds", [0.5]), "seeds.0", "not of type 'integer'"),
    (with_("tokenizer.kind", "sentencepiece"), "tokenizer.kind", "sentencepiece"),
    (with_("results", {}), "config", "'results' was unexpected"),
    # a ladder's studies: each overlay is validated as a config of its own
    (with_("studies", [{"name": "a"}, {"name": "a"}]), "studies", "'a' is given twice"),
    (with_("studies", [{"name": "s", "modle": {}}]), "studies.0", "'modle' was unexpected"),
    (with_("studies", [{"name": "big", "model": {"n_head": 3}}]), "studies.big",
     "model.n_head: 3 does not divide"),
    (with_("studies", [{"name": "typo", "model": {"n_layers": 4}}]), "studies.typo",
     "model: Additional properties"),
    (with_("studies", [{"name": "fast", "optimizers": {"adamw": {"lr": [-1e-3]}}}]),
     "studies.fast", "optimizers.adamw.lr"),
    (with_("studies", [{"name": "Big"}]), "studies.0.name", "'Big' does not match"),
    (with_("studies", [{"name": "ladder"}]), "studies.0.name", "'ladder' should not be valid"),
    # a ladder run in parts: known names, the main study among them
    (with_("run_studies", ["a"]), "run_studies", "this config has no studies list"),
    (with_("run_studies", ["a", "c"], with_("studies", [{"name": "a"}, {"name": "b"}])),
     "run_studies", "'c' is not a study of this config (a, b)"),
    (with_("run_studies", ["b"], with_("studies", [{"name": "a"}, {"name": "b"}])),
     "run_studies", "must include 'a', the first study"),
    (with_("run_studies", ["a", "c"], with_("studies", [
        {"name": "a"}, {"name": "b", "corpus": {"source": "stdlib"}},
        {"name": "c", "corpus": {"source": "stdlib"}}])),
     "run_studies", "'c' reads the data of 'b', which must run too"),
]  # fmt: skip


@pytest.mark.parametrize("cfg, key, detail", BAD, ids=[f"{k}:{d}" for _, k, d in BAD])
def test_bad_config_names_the_key_and_writes_nothing(cfg, key, detail, tmp_path, monkeypatch):
    """Read from a file as the Snakefile reads it, in an empty working directory: one line that
    names the key, and no file beside the config (Snakemake itself is run on two of these in
    test_snakemake_stops_before_any_job_with_one_line and test_scale)."""
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as e:
        load_config(path)
    msg = str(e.value)
    assert msg.startswith(f"{key}: "), msg
    assert detail in msg
    assert "\n" not in msg
    assert [p.name for p in tmp_path.iterdir()] == ["bad.yaml"]


def test_the_bad_config_table_spans_types_ranges_unknown_keys_and_studies():
    keys = {k for _, k, _ in BAD}
    assert len(BAD) >= 30
    assert {"studies", "study.margin", "optimizers.adamw.lr", "seeds", "config"} <= keys
    assert any(k.startswith("studies.") for k in keys)


def test_defaults_are_filled_and_input_is_not_mutated():
    raw = yaml.safe_load(yaml.safe_dump(VALID))
    cfg = validate_config(raw)
    assert raw == VALID
    assert cfg["train"]["batch_size"] == 16 and cfg["model"]["n_layer"] == 2
    assert cfg["study"]["tuning_seeds"] == [1000] and cfg["train"]["decay_embeddings"] is False
    assert cfg["optimizers"]["adamw"]["betas"] == [0.9, 0.95]
    assert cfg["corpus"]["source"] == "kjv"


def test_shipped_configs_are_valid(repo):
    shipped = sorted(p.name for p in (repo / "config").glob("*.yaml"))
    assert shipped == [
        "config.yaml",
        "ladder.yaml",
        "ladder_v2.yaml",
        "paper.yaml",
        "smoke.yaml",
        "smoke_ladder.yaml",
    ]
    for name in shipped:
        cfg = load_config(repo / "config" / name)
        assert cfg["seeds"] and cfg["optimizers"]
    # the ladders: at least three sizes spanning about 10x, two corpora for the CPU v2 one
    for name, corpora in (("ladder.yaml", 1), ("ladder_v2.yaml", 2), ("paper.yaml", 1)):
        studies = study_configs(load_config(repo / "config" / name)).values()
        widths = {(s["model"]["n_layer"], s["model"]["n_embd"]) for s in studies}
        assert len(widths) >= 3 and len({s["corpus"]["source"] for s in studies}) == corpora


def test_every_schema_leaf_has_type_description_default():
    schema = load_schema()  # with the $defs of the optimizer entries inlined

    def leaves(node, path, required):
        props = node.get("properties")
        if props:
            assert node.get("additionalProperties") is False, f"{path} allows unknown keys"
            # required outright, or one of the alternatives a oneOf asks for
            needed = set(node.get("required", [])).union(
                *(alt.get("required", []) for alt in node.get("oneOf", []))
            )
            for k, sub in props.items():
                yield from leaves(sub, f"{path}.{k}", k in needed)
        else:
            yield path, node, required

    for path, node, required in leaves(schema, "config", False):
        assert "type" in node and "description" in node, path
        assert required or "default" in node, f"{path} has no default"


def test_snakemake_stops_before_any_job_with_one_line(tmp_path, repo):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(with_("optimizers.adam_l2", {"lr": -3e-3, "weight_decay": 1e-3})))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-s",
            str(repo / "Snakefile"),
            "--configfile",
            str(bad),
            "--cores",
            "1",
            "-d",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and not ln.startswith("Using ")]
    assert lines == [
        "config error: optimizers.adam_l2.lr: -0.003 is less than or equal to the minimum of 0"
    ]
    assert not (tmp_path / "results").exists() and not (tmp_path / "resources").exists()


# Property-based: malformed values anywhere in a valid config fail with one line naming the key.
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

LEAVES = {
    "train.batch_size": "integer",
    "train.tokens": "integer",
    "train.eval_interval": "integer",
    "train.warmup_fraction": "fraction",
    "train.grad_clip": "nonneg",
    "model.n_layer": "integer",
    "model.n_embd": "integer",
    "model.dropout": "fraction",
    "tokenizer.vocab_size": "integer",
    "corpus.heldout_fraction": "fraction",
    "optimizers.adamw.lr": "positive",
    "optimizers.adamw.weight_decay": "positive",
    "study.margin": "nonneg",
    "seeds": "seeds",
}
WRONG_TYPE = st.one_of(
    st.text(alphabet="abcd", max_size=5),  # strings stay strings when parsed as YAML
    st.none(),
    st.booleans(),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


def _bad_value(kind):
    if kind == "integer":
        return st.one_of(WRONG_TYPE, st.integers(max_value=0), st.floats(allow_nan=False))
    if kind == "fraction":
        return st.one_of(
            WRONG_TYPE,
            st.floats(max_value=-1e-9, allow_nan=False),
            st.floats(min_value=1.0001, allow_nan=False, allow_infinity=False),
        )
    if kind == "positive":
        return st.one_of(WRONG_TYPE, st.floats(max_value=0, allow_nan=False), st.just([]))
    if kind == "nonneg":
        return st.one_of(WRONG_TYPE, st.floats(max_value=-1e-9, allow_nan=False))
    return st.one_of(
        st.just([]), st.lists(st.integers(max_value=-1), min_size=1, max_size=3), WRONG_TYPE
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_malformed_values_fail_with_one_line_naming_the_key(data):
    key = data.draw(st.sampled_from(sorted(LEAVES)))
    value = data.draw(_bad_value(LEAVES[key]))
    cfg = with_(key, value)
    with pytest.raises(ConfigError) as e:
        validate_config(cfg)
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.split(":")[0] in (key, key.rsplit(".", 1)[0], "config") or msg.startswith(key), (
        key,
        value,
        msg,
    )


@settings(max_examples=60, deadline=None)
@given(
    key=st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12),
    section=st.sampled_from(["", "train.", "model.", "corpus.", "study.", "optimizers.adamw."]),
)
def test_unknown_keys_are_refused(key, section):
    known = {"", "train.", "model.", "corpus.", "study.", "optimizers.adamw."}
    assert section in known
    base = validate_config(VALID)
    node = base
    for part in filter(None, section.rstrip(".").split(".")):
        node = node[part]
    if key in node:
        return
    with pytest.raises(ConfigError, match="was unexpected"):
        validate_config(with_(section + key, 1))


def test_default_profile_has_enough_evaluation_seeds_for_its_smallest_effect(repo):
    cfg = load_config(repo / "config" / "config.yaml")
    assert len(cfg["seeds"]) >= 8 and cfg["study"]["margin"] == 0.01
    assert len(cfg["study"]["tuning_seeds"]) >= 2


def test_command_line_overrides_are_coerced_to_the_schema_types(tmp_path, repo):
    """Snakemake passes nested --config values as strings; validation parses them as YAML,
    and still refuses what cannot be read as the schema's type."""
    cfg = validate_config({**VALID, "study": {"tuning_seeds": "[7]", "margin": "0.02"}})
    assert cfg["study"]["tuning_seeds"] == [7] and cfg["study"]["margin"] == 0.02
    with pytest.raises(ConfigError, match=r"^study.margin: 'abc' is not of type 'number'"):
        validate_config({**VALID, "study": {"margin": "abc"}})
    base = [sys.executable, "-m", "snakemake", "-s", str(repo / "Snakefile"), "-d", str(tmp_path)]
    proc = subprocess.run(
        [*base, "-n", "--configfile", str(repo / "config" / "smoke.yaml"), "--config",
         "seeds=[5, 6]", "study={tuning_seeds: [7, 8], bootstrap_samples: 300}"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "seed7/" in proc.stdout and "config error" not in proc.stderr


def test_ladder_v3_runs_the_decoupling_question_on_every_rung_of_two_axes(repo):
    """config/ladder.yaml (issue 36): Adam, Adam+L2 and AdamW at every rung; a length axis at a
    fixed model and subset spanning at least 16x in epochs with four rungs past the pilot's
    overfitting onset (24 epochs), so that the exponent claims, gated on decay helping, keep
    two residual degrees of freedom; a size axis at one T; the default's protocol."""
    studies = study_configs(load_config(repo / "config" / "ladder.yaml"))
    for name, cfg in studies.items():
        assert {"adam", "adam_l2", "adamw"} <= set(cfg["optimizers"]), name
        assert len(cfg["study"]["tuning_seeds"]) >= 4 and cfg["study"]["finalists"] >= 1, name
        assert len(cfg["seeds"]) == 8, name
    length = [c for c in studies.values() if "length" in c["study"]["axes"]]
    size = [c for c in studies.values() if "size" in c["study"]["axes"]]
    epochs = sorted(c["train"]["tokens"] / c["train"]["data_tokens"] for c in length)
    assert epochs[-1] / epochs[0] >= 16 and sum(e >= 24 for e in epochs) >= 4
    assert len({(c["model"]["n_embd"], c["train"]["data_tokens"]) for c in length}) == 1
    assert len(size) >= 4 and len({c["train"]["tokens"] for c in size}) == 1
    assert len({c["train"]["data_tokens"] for c in size}) == 1


def test_a_ladder_run_in_parts_builds_the_same_study_configs_and_names_what_it_left_out(repo):
    """run_studies: the named studies in the config's order, each config (so its files) the same
    as in the whole ladder's run, and the paper's list of the others."""
    raw = yaml.safe_load((repo / "config" / "ladder.yaml").read_text())
    whole = study_configs(validate_config(raw))
    part_names = ["w48", "len300_w128", "len849"]
    part = validate_config({**raw, "run_studies": part_names})
    studies = study_configs(part)
    assert list(studies) == ["len300_w128", "len849", "w48"]
    assert all(studies[n] == whole[n] for n in studies)
    assert left_out(part) == [n for n in whole if n not in part_names]
    assert left_out(validate_config(raw)) == [] and left_out(VALID) == []
    # the key's default is the same in every study's config whichever part runs
    assert studies["w48"]["run_studies"] == whole["w48"]["run_studies"] == []


def test_studies_on_one_corpus_share_the_data_of_the_first_and_its_fewest_tokens_fit_all():
    """config.data_owners and min_tokens (what the data stage of a ladder is checked against):
    studies with the same corpus and tokenizer read the first one's data, whose train split
    must hold the largest batch of its readers and held-out splits their longest context."""
    base = {"optimizers": {"adam": {"lr": 1e-3}}, "seeds": [0], "model": {"block_size": 32}}
    studies = study_configs(validate_config({**base, "studies": [
        {"name": "a"},
        {"name": "b", "train": {"batch_size": 32}, "model": {"block_size": 64}},
        {"name": "c", "corpus": {"source": "stdlib"}},
    ]}))  # fmt: skip
    assert data_owners(studies) == {"a": "a", "b": "a", "c": "c"}
    assert min_tokens(studies, "a", "train") == 32 * 64 + 1
    assert min_tokens(studies, "a", "val") == 64 + 1
    batch = studies["c"]["train"]["batch_size"]
    assert min_tokens(studies, "c", "train") == batch * 32 + 1
