"""Load and validate a study config against ``workflow/schemas/config.schema.yaml``.

jsonschema's own messages are long and multi-line; a config error here is one line that names
the key, e.g. ``config error: optimizers.adamw.lr: -0.1 is less than or equal to the minimum of 0``.
Defaults from the schema are filled in, so code downstream sees every key.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path

import jsonschema
import yaml

SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


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
def load_schema(path: str | Path = SCHEMA) -> dict:
    schema = yaml.safe_load(Path(path).read_text())
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


# JSON-Schema counts 16.0 as an integer; a batch size of 16.0 would only fail later, in a job.
_Validator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _, x: isinstance(x, int) and not isinstance(x, bool)
    ),
)


def _where(error: jsonschema.ValidationError) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "config"


def validate_config(config: dict, schema: dict | None = None) -> dict:
    """Return a validated copy of ``config`` with defaults filled in; raise ``ConfigError``."""
    if not isinstance(config, dict):
        raise ConfigError("config: expected a mapping of keys to values")
    schema = schema or load_schema()
    cfg = copy.deepcopy(config)
    error = jsonschema.exceptions.best_match(_Validator(schema).iter_errors(cfg))
    if error is not None:
        raise ConfigError(f"{_where(error)}: {error.message}")
    _fill_defaults(cfg, schema)
    for hp in cfg["optimizers"].values():  # a single value is a grid of one
        for key in ("lr", "weight_decay"):
            if key in hp and not isinstance(hp[key], list):
                hp[key] = [hp[key]]
    _check_consistency(cfg)
    return cfg


def _check_consistency(cfg: dict) -> None:
    """Rules that span several keys, which JSON-Schema cannot express."""
    model, train = cfg["model"], cfg["train"]
    if model["n_embd"] % model["n_head"]:
        raise ConfigError(
            f"model.n_head: {model['n_head']} does not divide model.n_embd {model['n_embd']}"
        )
    per_step = train["batch_size"] * train["grad_accum"] * model["block_size"]
    if train["tokens"] < per_step:
        raise ConfigError(
            f"train.tokens: {train['tokens']} is less than one step "
            f"(batch_size × grad_accum × block_size = {per_step})"
        )
    if 0 < train["data_tokens"] <= model["block_size"]:
        raise ConfigError(f"train.data_tokens: {train['data_tokens']} cannot fill one context")
    trials = {name: _n_trials(hp) for name, hp in cfg["optimizers"].items()}
    if len(set(trials.values())) > 1:
        most = max(trials, key=trials.get)
        few = min(trials, key=trials.get)
        raise ConfigError(
            f"optimizers.{few}: {trials[few]} tuning trials but optimizers.{most} has "
            f"{trials[most]}; every optimizer gets the same tuning budget (lr × weight_decay grid)"
        )
    if max(trials.values()) > 1 and cfg["study"]["tuning_seed"] in cfg["seeds"]:
        raise ConfigError(
            f"study.tuning_seed: {cfg['study']['tuning_seed']} is also an evaluation seed; "
            "selection and evaluation must use different seeds"
        )
    corpus = cfg["corpus"]
    if corpus["source"] == "file":
        if not corpus["path"]:
            raise ConfigError("corpus.path: required when corpus.source is 'file'")
        if not Path(corpus["path"]).is_file():
            raise ConfigError(f"corpus.path: no such file: {corpus['path']}")


def _n_trials(hp: dict) -> int:
    return len(hp["lr"]) * len(hp.get("weight_decay", [0.0]))


def load_config(path: str | Path, schema: dict | None = None) -> dict:
    """Read a YAML config file and validate it."""
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({e.__class__.__name__})") from e
    return validate_config(raw or {}, schema)
