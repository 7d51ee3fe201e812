"""Waiting on Ray actors: a deadline that names who did not answer, and actor deaths by name.

A co-evolution run waits on its actors hundreds of times. `get` never waits forever: past
`ray.get_timeout_s` it raises `ActorTimeout` naming the actor and the call. A dead actor makes Ray
raise `RayActorError` at once; `died` names it for the driver's restart (coevo/loop.py `train`).
"""
from __future__ import annotations

import re

import ray
from ray.exceptions import GetTimeoutError, RayActorError


class ActorTimeout(RuntimeError):
    pass


def get(refs, what: str, timeout_s: float):
    """ray.get(refs) within `timeout_s` seconds; `what` names the actor and call in the error."""
    try:
        return ray.get(refs, timeout=timeout_s)
    except GetTimeoutError:
        raise ActorTimeout(f"{what} did not answer within {timeout_s:g} s (ray.get_timeout_s); "
                           "the actor is alive but stuck, or the machine is far slower than expected") from None


def died(error: RayActorError) -> str:
    """Which actor a RayActorError is about, in a few words."""
    text = str(error)
    name = re.search(r"class_name:\s*(\w+)", text)
    return f"a {name.group(1)} actor" if name else "an actor"
