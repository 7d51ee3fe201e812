"""Who can sit at a tournament table, parsed from `tournament.players`.

| spec | player |
|---|---|
| `base` | the frozen base model, no adapter |
| `RUN_DIR:AGENT` | AGENT's adapter from RUN_DIR's latest checkpoint |
| `RUN_DIR@ITER:AGENT` | the same from the checkpoint of iteration ITER (one that `keep_checkpoints` kept) |
| `scripted:NAME` | a scripted player the game ships (`GameSpec.players`, games/scripted.py) |

Adapters must be of the model the tournament loads (`model=...`, with the same LoRA settings):
all model players are adapters of ONE base, so one generate call serves every seat of a tick.
Every mistake is a `ConfigError` that names the player and what would work.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from coevo.checkpoint import ADAPTER_FILE, checkpoint_root, latest_checkpoint
from coevo.config import ConfigError


@dataclass(frozen=True)
class Player:
    spec: str  # as the user wrote it
    label: str  # how tables and transcripts name it
    kind: str  # "base" | "adapter" | "scripted"
    adapter: Path | None = None  # the adapter's safetensors file (kind "adapter")
    script: str | None = None  # the scripted player's name (kind "scripted")


def parse_player(spec: str, game_players: dict, model: dict) -> Player:
    """`spec` as a Player; `game_players` are the game's scripted players, `model` the
    tournament's model config (adapters must come from runs of the same model)."""
    spec = str(spec).strip()
    if spec == "base":
        return Player(spec, "base", "base")
    if spec.startswith("scripted:"):
        name = spec.split(":", 1)[1]
        if name not in game_players:
            known = ", ".join(f"scripted:{n}" for n in sorted(game_players)) or "none"
            raise ConfigError(f"tournament.players: {spec!r}: the game ships no such player; its scripted "
                              f"players: {known}")
        return Player(spec, spec, "scripted", script=name)
    run_part, sep, agent = spec.rpartition(":")
    if not sep or not run_part or not agent:
        raise ConfigError(f"tournament.players: {spec!r} is not a player; write base, scripted:NAME, "
                          "RUN_DIR:AGENT or RUN_DIR@ITER:AGENT")
    run_text, at, iteration = run_part.rpartition("@")
    if not at or not iteration.isdigit():
        run_text, iteration = run_part, ""
    run_dir = Path(run_text).expanduser()
    if not (run_dir / "config.yaml").is_file():
        raise ConfigError(f"tournament.players: {spec!r}: {run_dir} is not a run directory (no config.yaml)")
    if iteration:
        ckpt = checkpoint_root(run_dir) / f"iter_{int(iteration):06d}"
        if not (ckpt / "driver.json").is_file():
            kept = sorted(p.name for p in checkpoint_root(run_dir).glob("iter_*") if (p / "driver.json").is_file())
            raise ConfigError(f"tournament.players: {spec!r}: no checkpoint of iteration {iteration} in "
                              f"{run_dir}; it has: {', '.join(kept) or 'none'}")
    else:
        ckpt = latest_checkpoint(run_dir)
        if ckpt is None:
            raise ConfigError(f"tournament.players: {spec!r}: {run_dir} has no finished checkpoint yet")
    adapter = ckpt / agent / ADAPTER_FILE
    if not adapter.is_file():
        agents = sorted(p.name for p in ckpt.iterdir() if (p / ADAPTER_FILE).is_file())
        raise ConfigError(f"tournament.players: {spec!r}: {ckpt} has no agent {agent!r}; its agents: {', '.join(agents)}")
    saved = yaml.safe_load((run_dir / "config.yaml").read_text()) or {}
    trained_on = saved.get("model", {})
    own = ((saved.get("population") or {}).get("models") or {}).get(agent)
    if own:  # an agent on a base of its own (population.models)
        trained_on = {**trained_on, "name": own["name"], "lora": own.get("lora") or trained_on.get("lora")}
    for key in ("name", "lora"):
        if trained_on.get(key) != model.get(key):
            raise ConfigError(f"tournament.players: {spec!r} was trained with model.{key}={trained_on.get(key)!r}, "
                              f"this tournament loads model.{key}={model.get(key)!r}: pass the run's model "
                              f"(model.name={trained_on.get('name')} and its model.lora.* settings)")
    step = int(ckpt.name.split("_")[1])
    return Player(spec, f"{run_dir.resolve().name}@{step}:{agent}", "adapter", adapter=adapter)


def parse_players(specs: list[str], game_players: dict, model: dict) -> list[Player]:
    if len(specs) < 2:
        raise ConfigError(f"tournament.players: a tournament needs at least 2 players, got {len(specs)}; "
                          "e.g. tournament.players=[base,scripted:random]")
    players = [parse_player(s, game_players, model) for s in specs]
    # runs in different folders of the same name (a study's `0_seed=0` of two arms): name them
    # by as many parent folders as it takes to tell them apart
    for depth in range(2, 8):
        labels = [p.label for p in players]
        clash = {x for x in labels if labels.count(x) > 1}
        if not clash:
            break
        for i, p in enumerate(players):
            if p.label in clash and p.kind == "adapter":
                run_dir = p.adapter.resolve().parents[3]  # <run>/checkpoints/iter_N/<agent>/adapter
                players[i] = replace(p, label="/".join(run_dir.parts[-depth:]) + "@" + p.label.split("@", 1)[1])
    labels = [p.label for p in players]
    twice = sorted({x for x in labels if labels.count(x) > 1})
    if twice:
        raise ConfigError(f"tournament.players: {twice} listed more than once")
    return players
