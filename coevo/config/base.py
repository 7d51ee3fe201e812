"""What every config section is built on: `Strict` (unknown fields and inf/nan refused), the one
error a user sees (`ConfigError`), and how pydantic's errors become one line naming the field."""
from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

CONFIG_DIR = Path(__file__).resolve().parent.parent.parent / "configs"


class ConfigError(ValueError):
    """A config the run cannot start with; the message is meant for the user as is."""


class Strict(BaseModel):
    # inf and nan are never a setting (algo.lr=inf trained all-NaN adapters and exited 0)
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def pydantic_lines(err: ValidationError, prefix: str = "") -> str:
    """pydantic's errors as one line: each names its field (under `prefix`), what is wrong, what it got."""
    lines = []
    for e in err.errors():
        where = ".".join(str(p) for p in (prefix, *e["loc"]) if p != "")
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown field"
        # a whole section (a model validator's input) is no help to show
        got = "" if e["type"] == "missing" or isinstance(e.get("input"), dict) else f" (got {e.get('input')!r})"
        lines.append((f"{where}: {msg}{got}" if where else f"{msg}{got}")[:400])
    return "; ".join(lines)


def registered(registry, name: str) -> str:
    """`name` if `registry` knows it; else the registry's own error (it lists the known names)."""
    try:
        registry.lookup(name)
    except KeyError as e:
        raise ValueError(e.args[0]) from None
    return name
