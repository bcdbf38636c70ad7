"""Load and validate a study config against the config schema (package data,
``adamw_repro/schemas/config.schema.yaml``; ``workflow/schemas/config.schema.yaml`` links to it).

jsonschema's own messages are long and multi-line; a config error here is one line that names
the key, e.g. ``config error: optimizers.adamw.lr: -0.1 is less than or equal to the minimum of 0``.
Defaults from the schema are filled in, so code downstream sees every key.
"""

from __future__ import annotations

import copy
import functools
import json
import math
from importlib import resources
from pathlib import Path

import jsonschema
import yaml

from .registry import families
from .schedule import budget

SCHEMA = resources.files("adamw_repro") / "schemas" / "config.schema.yaml"  # installed or not


class ConfigError(ValueError):
    """An invalid config; ``str(e)`` is one line naming the offending key."""


def _inline_refs(node, defs):
    if isinstance(node, dict):
        if "$ref" in node:
            return _inline_refs(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
        return {k: _inline_refs(v, defs) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inline_refs(v, defs) for v in node]
    return node


@functools.cache
def load_schema(path=SCHEMA) -> dict:
    schema = yaml.safe_load(path.read_text(encoding="utf-8"))
    return _inline_refs(schema, schema.get("$defs", {}))


def _fill_defaults(instance, schema) -> None:
    """Insert schema defaults for absent keys, recursing into objects (and their new defaults)."""
    if not isinstance(instance, dict):
        return
    for key, sub in schema.get("properties", {}).items():
        if key not in instance and "default" in sub:
            instance[key] = copy.deepcopy(sub["default"])
        if key in instance:
            _fill_defaults(instance[key], sub)


def _coerce(instance, schema):
    """Strings where the schema wants numbers, booleans or lists parsed as YAML: Snakemake's
    ``--config study='{tuning_seeds: [7]}'`` passes nested values as strings. What still has the
    wrong type after parsing is left for validation to reject."""
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else types
    if isinstance(instance, str) and "string" not in types and types:
        try:
            instance = yaml.safe_load(instance)
        except yaml.YAMLError:
            return instance
    if isinstance(instance, dict):
        props = schema.get("properties", {})
        return {k: _coerce(v, props.get(k, {})) for k, v in instance.items()}
    if isinstance(instance, list) and "items" in schema:
        return [_coerce(v, schema["items"]) for v in instance]
    return instance


def _non_finite(node, path=""):
    """(dotted key, value) of the first NaN or infinity in ``node`` (JSON-Schema accepts them);
    the key is the config key, without the position in a list."""
    if isinstance(node, float):
        return None if math.isfinite(node) else (path, node)
    if isinstance(node, dict):
        for k, v in node.items():
            if found := _non_finite(v, f"{path}.{k}" if path else str(k)):
                return found
    if isinstance(node, list):
        return next(filter(None, (_non_finite(v, path) for v in node)), None)
    return None


# JSON-Schema counts 16.0 as an integer; a batch size of 16.0 would only fail later, in a job.
_Validator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _, x: isinstance(x, int) and not isinstance(x, bool)
    ),
)


def _message(error: jsonschema.ValidationError) -> str:
    where = ".".join(str(p) for p in error.absolute_path) or "config"
    if error.validator == "oneOf":  # the two ways of stating a decoupled decay
        given = [k for k in ("weight_decay", "decay_timescale") if k in error.instance]
        what = "not both" if given else "one is required"
        return f"{where}: give weight_decay or decay_timescale ({what})"
    return f"{where}: {error.message}"


def validate_config(config: dict, schema: dict | None = None) -> dict:
    """Return a validated copy of ``config`` with defaults filled in; raise ``ConfigError``.
    A ladder's studies are each validated as their own config (``study_configs``), so a bad
    overlay fails here, naming the study and the key."""
    cfg = _validate_one(config, schema)
    study_configs(cfg, schema)
    return cfg


def _validate_one(config: dict, schema: dict | None = None) -> dict:
    if not isinstance(config, dict):
        raise ConfigError("config: expected a mapping of keys to values")
    schema = schema or load_schema()
    cfg = _coerce(copy.deepcopy(config), schema)
    error = jsonschema.exceptions.best_match(_Validator(schema).iter_errors(cfg))
    if error is not None:
        raise ConfigError(_message(error))
    if found := _non_finite(cfg):
        raise ConfigError(f"{found[0]}: {found[1]} is not a finite number")
    _fill_defaults(cfg, schema)
    for hp in cfg["optimizers"].values():  # a single value is a grid of one; grids ascend
        for key in ("lr", "weight_decay", "decay_timescale"):
            if key in hp:
                hp[key] = sorted(hp[key] if isinstance(hp[key], list) else [hp[key]])
    _check_consistency(cfg)
    return cfg


def merge(base: dict, overlay: dict) -> dict:
    """``base`` with ``overlay`` merged in key by key: mappings merge, anything else replaces."""
    out = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def study_configs(cfg: dict, schema: dict | None = None) -> dict[str, dict]:
    """Each study of a ladder (``studies``) as a validated config of its own: the base with the
    study's overlay merged in, only those ``run_studies`` names if it names any. A config without
    studies is one study, named ""."""
    if not cfg.get("studies"):
        if cfg.get("run_studies"):
            raise ConfigError("run_studies: names studies, but this config has no studies list")
        return {"": cfg}
    # A study's config is the same whichever part of the ladder runs, so its files are too.
    base = {k: v for k, v in cfg.items() if k not in ("studies", "run_studies")}
    out = {}
    for study in cfg["studies"]:
        name = study["name"]
        if name in out:
            raise ConfigError(f"studies: the name {name!r} is given twice")
        overlay = {k: v for k, v in study.items() if k != "name"}
        try:
            resolved = _validate_one(merge(base, overlay), schema)
        except ConfigError as e:
            raise ConfigError(f"studies.{name}: {e}") from None
        resolved["profile"] = f"{base['profile']}/{name}"  # its run_studies: the default, []
        out[name] = resolved
    return _part(out, cfg.get("run_studies") or list(out))


def _part(studies: dict[str, dict], names: list[str]) -> dict[str, dict]:
    """The studies that ``run_studies`` names, in the config's order; the main one must be."""
    if unknown := [n for n in names if n not in studies]:
        raise ConfigError(f"run_studies: {unknown[0]!r} is not a study of this config "
                          f"({', '.join(studies)})")  # fmt: skip
    main = next(iter(studies))
    if main not in names:
        raise ConfigError(f"run_studies: must include {main!r}, the first study (the paper's)")
    owners = data_owners(studies)  # a part prepares the same data as the whole ladder
    if lacking := [n for n in names if owners[n] not in names]:
        raise ConfigError(f"run_studies: {lacking[0]!r} reads the data of "
                          f"{owners[lacking[0]]!r}, which must run too")  # fmt: skip
    return {n: c for n, c in studies.items() if n in names}


def left_out(cfg: dict) -> list[str]:
    """The studies of a ladder that ``run_studies`` leaves out of this run, in config order."""
    names = cfg.get("run_studies") or []
    return [s["name"] for s in cfg.get("studies", []) if names and s["name"] not in names]


def data_owners(studies: dict[str, dict]) -> dict[str, str]:
    """The study whose data stage each study reads: the first study with the same corpus and
    tokenizer (a ladder of sizes on one corpus prepares its data once)."""
    first = {}
    return {
        name: first.setdefault(json.dumps([c["corpus"], c["tokenizer"]], sort_keys=True), name)
        for name, c in studies.items()
    }


def min_tokens(studies: dict[str, dict], owner: str, split: str) -> int:
    """The fewest tokens a split of ``owner``'s data must hold for every study that reads it:
    a training batch (``split`` "train"), or one held-out context."""
    owners = data_owners(studies)
    readers = [c for name, c in studies.items() if owners[name] == owner]
    return max(
        (c["train"]["batch_size"] if split == "train" else 1) * c["model"]["block_size"] + 1
        for c in readers
    )


def decay_key(hp: dict) -> str | None:
    """Which key holds an optimizer's decay grid (None for optimizers without decay)."""
    return next((k for k in ("weight_decay", "decay_timescale") if k in hp), None)


def points_per_decade(values: list[float]) -> float:
    """Grid density: intervals per decade of a log-spaced grid (inf for a single point)."""
    span = math.log10(max(values) / min(values))
    return (len(values) - 1) / span if span else math.inf


def _check_consistency(cfg: dict) -> None:
    """Rules that span several keys, which JSON-Schema cannot express."""
    model, train = cfg["model"], cfg["train"]
    if model["n_embd"] % model["n_head"]:
        raise ConfigError(
            f"model.n_head: {model['n_head']} does not divide model.n_embd {model['n_embd']}"
        )
    per_step = budget(train, model["block_size"]).tokens_per_step
    if train["tokens"] < per_step:
        raise ConfigError(
            f"train.tokens: {train['tokens']} is less than one step "
            f"(batch_size × grad_accum × block_size = {per_step})"
        )
    if train["data_tokens"] and train["data_tokens"] // train["data_chunks"] <= model["block_size"]:
        raise ConfigError(
            f"train.data_chunks: {train['data_chunks']} chunks of train.data_tokens "
            f"{train['data_tokens']} cannot each fill one context of {model['block_size']}"
        )
    _check_families(cfg["optimizers"])
    eval_seeds = set(cfg["seeds"]).union(*(hp["seeds"] for hp in cfg["optimizers"].values()))
    if shared := sorted(eval_seeds & set(cfg["study"]["tuning_seeds"])):
        raise ConfigError(
            f"study.tuning_seeds: {shared[0]} is also an evaluation seed; "
            "selection and evaluation must use different seeds"
        )
    if cfg["study"]["finalists"] and len(cfg["study"]["tuning_seeds"]) < 2:
        raise ConfigError(
            "study.finalists: successive halving needs two or more study.tuning_seeds (a half "
            "for every cell, a half for the finalists)"
        )
    corpus = cfg["corpus"]
    if corpus["source"] == "file":
        if not corpus["path"]:
            raise ConfigError("corpus.path: required when corpus.source is 'file'")
        if not Path(corpus["path"]).is_file():
            raise ConfigError(f"corpus.path: no such file: {corpus['path']}")


def _check_families(optimizers: dict) -> None:
    """Fair tuning: the optimizers of a family share one learning-rate grid (the one without
    decay is their wd = 0 column), and its decaying members get decay grids with as many
    points at the same density, so no optimizer is searched more finely than another."""
    for family in families().values():
        present = [o for o in family if o in optimizers]
        for o in present[1:]:
            if optimizers[o]["lr"] != optimizers[present[0]]["lr"]:
                raise ConfigError(
                    f"optimizers.{o}.lr: {optimizers[o]['lr']} differs from optimizers."
                    f"{present[0]}.lr {optimizers[present[0]]['lr']}; the optimizers of a "
                    "family share one learning-rate grid"
                )
        decaying = [o for o in present if decay_key(optimizers[o])]
        for b in decaying[1:]:
            a = decaying[0]
            ga, gb = (optimizers[o][decay_key(optimizers[o])] for o in (a, b))
            same_density = math.isclose(points_per_decade(ga), points_per_decade(gb), rel_tol=0.05)
            if len(ga) != len(gb) or not same_density:
                raise ConfigError(
                    f"optimizers.{b}.{decay_key(optimizers[b])}: {len(gb)} points at "
                    f"{points_per_decade(gb):.2f} per decade, but optimizers.{a} has {len(ga)} "
                    f"at {points_per_decade(ga):.2f}; decay grids of a family must match"
                )


def load_config(path: str | Path, schema: dict | None = None) -> dict:
    """Read a YAML config file and validate it."""
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({e.__class__.__name__})") from e
    return validate_config(raw or {}, schema)


def _rows(node: dict, key: str = ""):
    """(dotted key, type, default, description) of every key of a schema node, depth first."""
    props = node.get("properties") or node.get("items", {}).get("properties") or {}
    if key:
        kind = node.get("type", "object")
        kind = " or ".join(kind) if isinstance(kind, list) else kind
        default = json.dumps(node["default"]) if "default" in node else "(required)"
        text = " ".join(node.get("description", "").split())
        yield key, kind, default, text
    for name, sub in props.items():
        yield from _rows(sub, f"{key}.{name}" if key else name)


def readme() -> str:
    """config/README.md: every key of the schema with its type, default and description."""
    lines = [
        "# Configuration",
        "",
        "Made from the config schema (`src/adamw_repro/schemas/config.schema.yaml`, linked as",
        "`workflow/schemas/config.schema.yaml`) by `python -m adamw_repro.config readme`; a test",
        "fails when a key is missing here or this file is stale. The profiles:",
        "",
        "| file | what |",
        "|---|---|",
        "| `config.yaml` | the default study, offline, on a CPU |",
        "| `smoke.yaml` | every stage on a tiny model (tests, CI) |",
        "| `smoke_ladder.yaml` | both axes of the ladder on tiny models |",
        "| `ladder.yaml` | twelve studies on a data axis and a size axis |",
        "| `paper.yaml` | the two axes at GPT-2 sizes on FineWeb-Edu (GPU, SLURM) |",
        "",
        "Pass one with `--configfile config/<file>` (it replaces the default, it is not merged",
        "into it), and single keys with `--config section='{key: value}'`. Unknown keys, wrong",
        "types and impossible values stop the workflow before any job with one line naming the",
        "key.",
        "",
        "| key | type | default | description |",
        "|---|---|---|---|",
    ]
    for key, kind, default, text in _rows(load_schema()):
        cells = (f"`{key}`", kind, f"`{default}`", text.replace("|", "\\|"))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    import argparse
    import sys

    ap = argparse.ArgumentParser(description="The config schema, as documentation.")
    ap.add_argument("command", choices=["readme"], help="print config/README.md")
    ap.parse_args(argv)
    sys.stdout.write(readme())


if __name__ == "__main__":
    main()
