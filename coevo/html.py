"""A few helpers to write the static HTML pages of reports: one file, images beside it, no script."""
from __future__ import annotations

import html
from collections.abc import Iterable, Sequence

STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}img{max-width:100%;margin:.5em 0}
pre{white-space:pre-wrap;background:#f7f7f7;padding:.5em;border-left:3px solid #aaa;font-size:90%}
details{margin:.4em 0}summary{cursor:pointer}.muted{color:#777}"""


def esc(x) -> str:
    return html.escape(str(x))


def fmt(x, digits: int = 3) -> str:
    """Floats (also as read back from a CSV) to `digits` places; None and "" as "-"."""
    if isinstance(x, str) and "." in x:
        try:
            x = float(x)
        except ValueError:
            return x
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return "-" if x is None or x == "" else str(x)


def table(header: Sequence[str], rows: Iterable[Sequence]) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{esc(fmt(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def image(src: str, alt: str) -> str:
    return f'<img src="{esc(src)}" alt="{esc(alt)}">'


def page(title: str, body: Iterable[str]) -> str:
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{esc(title)}</h1>{''.join(body)}</body></html>\n")


def transcript(ep: dict, who: dict[str, str] | None = None, summary: str = "") -> str:
    """One game (an `Episode.to_json()`) turn by turn: seat, who played it, reward, the text.
    `who` names a seat's player where that is not the episode's agent (tournament labels)."""
    who = who or {}
    parts = [f"<details><summary>{esc(summary or ep.get('game', 'game'))}</summary>"]
    task = ep.get("task") or {}
    if task.get("question"):
        parts.append(f"<p><b>task</b> {esc(task.get('id', ''))}: {esc(task['question'])}</p>")
    for t in ep.get("turns", []):
        player = who.get(t["seat"], t["agent"])
        parts.append(f"<p><b>{esc(t['seat'])}</b> ({esc(player)}) <span class='muted'>reward "
                     f"{esc(fmt(float(t.get('reward', 0.0))))}</span></p><pre>{esc(t['completion_text'])}</pre>")
    illegal = (ep.get("outcome") or {}).get("illegal_moves") or []
    for m in illegal:
        parts.append(f"<p class='muted'>illegal move by {esc(m.get('agent'))} at turn {esc(m.get('turn'))}: "
                     f"{esc(m.get('reason'))}</p>")
    parts.append(f"<p class='muted'>native rewards: {esc(ep.get('native_rewards'))}</p></details>")
    return "".join(parts)
