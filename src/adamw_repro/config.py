"""Load and validate a study config against ``workflow/schemas/config.schema.yaml``.

jsonschema's own messages are long and multi-line; a config error here is one line that names
the key, e.g. ``config error: optimizers.adamw.lr: -0.1 is less than or equal to the minimum of 0``.
Defaults from the schema are filled in, so code downstream sees every key.
"""

from __future__ import annotations

import copy
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


def _where(error: jsonschema.ValidationError) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "config"


def validate_config(config: dict, schema: dict | None = None) -> dict:
    """Return a validated copy of ``config`` with defaults filled in; raise ``ConfigError``."""
    if not isinstance(config, dict):
        raise ConfigError("config: expected a mapping of keys to values")
    schema = schema or load_schema()
    cfg = copy.deepcopy(config)
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(schema).iter_errors(cfg)
    )
    if error is not None:
        raise ConfigError(f"{_where(error)}: {error.message}")
    _fill_defaults(cfg, schema)
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
    corpus = cfg["corpus"]
    if corpus["source"] == "file":
        if not corpus["path"]:
            raise ConfigError("corpus.path: required when corpus.source is 'file'")
        if not Path(corpus["path"]).is_file():
            raise ConfigError(f"corpus.path: no such file: {corpus['path']}")


def load_config(path: str | Path, schema: dict | None = None) -> dict:
    """Read a YAML config file and validate it."""
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({e.__class__.__name__})") from e
    return validate_config(raw or {}, schema)
