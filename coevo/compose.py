"""CLI overrides -> a validated Config: hydra composes `configs/` with the user's words
(`experiment=comas model=tiny iterations=2`), or a run's saved config.yaml takes them on top
(`coevo eval run_dir=...`); coevo/config/ validates. hydra's own errors become one
`ConfigError` line naming the override and the nearest field, never a stack trace.
"""
from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel

from coevo.config import CONFIG_DIR, Config, ConfigError, validate


def _hydra_message(err: Exception, overrides: list[str], config_dir: Path) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    missing = re.search(r"Could not find '([\w/]+)/([^'/]+)'", text)
    if missing:  # an unknown option of a config group: list the ones that exist
        group, option = missing.groups()
        options = sorted(p.stem for p in (config_dir / group).glob("*.yaml"))
        return f"{group}={option}: no such option; available: {', '.join(options)}"
    for ov in overrides:  # name the offending override and suggest the nearest field
        key = ov.split("=", 1)[0].lstrip("+~")
        if f"'{key}'" in str(err) or key in text:
            parent, _, leaf = key.rpartition(".")
            fields = _fields_at(parent)
            close = difflib.get_close_matches(leaf, fields, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            if fields and leaf not in fields:
                return f"unknown config field {key!r}{hint} (fields here: {', '.join(fields)})"
    return text


def _fields_at(dotted: str) -> list[str]:
    model: type[BaseModel] = Config
    for part in filter(None, dotted.split(".")):
        field = model.model_fields.get(part)
        ann = getattr(field, "annotation", None)
        # an optional section (`lora: LoraSettings | None`) is still that section
        ann = next((a for a in get_args(ann) if isinstance(a, type) and issubclass(a, BaseModel)), ann)
        if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            return []
        model = ann
    return sorted(model.model_fields)


def compose(overrides: list[str], config_dir: Path = CONFIG_DIR) -> dict[str, Any]:
    """hydra composition of `configs/config.yaml` with CLI-style overrides, as a plain dict."""
    from hydra import compose as hydra_compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        with initialize_config_dir(config_dir=str(config_dir), version_base=None):
            cfg = hydra_compose(config_name="config", overrides=list(overrides))
        return OmegaConf.to_container(cfg, resolve=True)
    except (HydraException, OmegaConfBaseException) as e:
        raise ConfigError("config error: " + _hydra_message(e, overrides, config_dir)) from None


def load_config(overrides: list[str], config_dir: Path = CONFIG_DIR) -> Config:
    return validate(compose(overrides, config_dir))


def saved_run_config(run_dir: Path, overrides: list[str]) -> Config:
    """The config a run was trained with (RUN_DIR/config.yaml), with `key=value` overrides on top
    (`coevo eval run_dir=runs/comas eval.num_tasks=8`). Groups (`model=tiny`) are not re-chosen here:
    the saved file holds their settings already."""
    import yaml
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    groups = [o for o in overrides if "=" in o and "." not in o.split("=", 1)[0]
              and isinstance(saved.get(o.split("=", 1)[0].lstrip("+")), dict)]
    if groups:  # `model=tiny` chooses a config group; the saved file has the group's fields already
        raise ConfigError(f"{', '.join(groups)}: on top of {run_dir / 'config.yaml'} set fields (e.g. model.name=tiny), "
                          "not groups; or name the experiment to compose from configs/ as train does")
    try:
        merged = OmegaConf.merge(OmegaConf.create(saved), OmegaConf.from_dotlist([o.lstrip("+") for o in overrides]))
    except (OmegaConfBaseException, ValueError) as e:
        raise ConfigError(f"config error: {str(e).splitlines()[0]} (on top of {run_dir / 'config.yaml'}, set fields "
                          "such as model.name=..., not groups such as model=...; or name the experiment)") from None
    return validate(OmegaConf.to_container(merged, resolve=True))
