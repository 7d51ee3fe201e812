"""docs/new-game.md is executed, top to bottom, so the tutorial cannot rot.

How the page's fenced code blocks run, in page order, in an empty folder (the user's folder):

- ```python whose first line is `# file: NAME`: saved as NAME (the comment line stays; it is Python);
- ```pycon: a doctest; its output must match (NORMALIZE_WHITESPACE);
- any other ```python: executed; all Python blocks share one namespace;
- ```bash: run by `bash -euo pipefail` with the virtualenv's bin/ first on PATH, so `coevo`,
  `python` and `pytest` are the ones installed here. `coevo train` gets `ray.num_cpus=2` appended
  (a local Ray of 2 CPUs on any machine, as in tests/test_experiments.py);
- other blocks (```text, no language) are only shown.

The page runs in a subprocess (this file, run as a script), so the user's game registers in a
fresh process, like the user's, and leaves nothing behind in this one. A failure names the page's
line. Afterwards the test checks the training run the page made.
"""
from __future__ import annotations

import doctest
import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "new-game.md"
FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)
FILE_MARK = re.compile(r"#\s*file:\s*(\S+)")
# `coevo train ...` inside a bash block, on any machine: a local Ray of 2 CPUs.
BASH_PRELUDE = ('coevo() { if [ "${1:-}" = train ]; then command coevo "$@" ray.num_cpus=2; '
                'else command coevo "$@"; fi; }\n')


@dataclass
class Block:
    lang: str
    code: str
    line: int  # line of the page where the code starts (1-based)

    @property
    def file(self) -> str | None:
        m = FILE_MARK.fullmatch(self.code.split("\n", 1)[0].strip()) if self.lang == "python" else None
        return m.group(1) if m else None


def blocks(text: str) -> list[Block]:
    return [Block(m.group(1), m.group(2), text.count("\n", 0, m.start(2)) + 1) for m in FENCE.finditer(text)]


def run_page(doc: Path, workdir: Path) -> None:
    """Run every block of `doc` in `workdir`; raise on the first one that fails."""
    doc, workdir = doc.resolve(), workdir.resolve()
    os.chdir(workdir)
    sys.path.insert(0, str(workdir))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    namespace: dict = {"__name__": "__main__"}
    for b in blocks(doc.read_text()):
        where = f"{doc.name} line {b.line} ({b.lang} block)"
        print(f"---- {where}", flush=True)
        if b.file:
            path = workdir / b.file
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(b.code)
        elif b.lang == "python":  # padded so that tracebacks give the page's line numbers
            exec(compile("\n" * (b.line - 1) + b.code, str(doc), "exec"), namespace)
        elif b.lang == "pycon":
            test = doctest.DocTestParser().get_doctest(b.code, namespace, where, str(doc), b.line - 1)
            runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
            runner.run(test, clear_globs=False)
            namespace.update(test.globs)  # DocTest works on a copy: carry its names to later blocks
            if runner.failures:
                raise AssertionError(f"{where}: {runner.failures} doctest example(s) failed (see above)")
        elif b.lang == "bash":
            rc = subprocess.run(["bash", "-euo", "pipefail", "-c", BASH_PRELUDE + b.code], env=env).returncode
            if rc:
                raise AssertionError(f"{where}: exit status {rc}")


def test_new_game_tutorial_runs(tmp_path: Path):
    page = blocks(DOC.read_text())
    # The page must keep the steps the tutorial promises (deleting one must not pass silently).
    files = [b.file for b in page if b.file]
    bash = [b.code for b in page if b.lang == "bash"]
    assert "my_game.py" in files and any(f.startswith("test_") for f in files), files
    assert any(b.lang == "pycon" for b in page), "no pycon (try it by hand) block"
    assert any("pytest" in c for c in bash), "no bash block runs the user's tests"
    train = [c for c in bash if c.lstrip().startswith("coevo train")]
    assert len(train) == 1, "expected one `coevo train` block"

    workdir = tmp_path / "user"
    workdir.mkdir()
    proc = subprocess.run([sys.executable, __file__, str(DOC), str(workdir)], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, f"the page failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}"

    words = shlex.split(train[0].replace("\\\n", " "))
    args = dict(w.split("=", 1) for w in words[2:] if "=" in w and not w.startswith("~"))
    run_dir = workdir / args["run_dir"]
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [row["iteration"] for row in metrics] == list(range(int(args["iterations"]) + 1))
    played = [json.loads(line) for line in (run_dir / "transcripts.jsonl").read_text().splitlines()]
    assert played and {ep["game"] for ep in played} == {args["game.name"]}
    assert all(ep["turns"] and "winner" in ep["outcome"] for ep in played)
    assert (run_dir / "checkpoints").is_dir() and (run_dir / "config.yaml").is_file()


if __name__ == "__main__":  # the subprocess of the test above: python tests/test_docs.py DOC WORKDIR
    try:
        run_page(Path(sys.argv[1]), Path(sys.argv[2]))
    except Exception:  # noqa: BLE001 - print where the page broke and fail
        import traceback

        traceback.print_exc()
        sys.exit(1)
