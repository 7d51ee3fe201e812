#!/usr/bin/env bash
# Run here, before a GPU session: the Python packages coevo's GPU checks need that the GPU machine
# lacks (it has torch, transformers 5.17 and peft; no pydantic, PettingZoo or Ray), as wheels for its
# Python 3.12, in .whl/ (git-ignored locally). The versions are the ones installed in .venv here, so
# the GPU machine runs what the CPU tests ran. About 22 MB; bench/gpu_session.sh installs them there.
set -euo pipefail
cd "$(dirname "$0")/.."
exclude="$(git rev-parse --git-dir)/info/exclude"
mkdir -p "$(dirname "$exclude")" && { grep -qx "/.whl/" "$exclude" 2>/dev/null || echo "/.whl/" >> "$exclude"; }
pins=$(.venv/bin/python - <<'PY'
from importlib.metadata import version
# coevo.config needs pydantic, and imports the games (PettingZoo); transformers as pinned in
# pyproject.toml, with the packages whose versions it checks when imported
names = ["pydantic", "pydantic-core", "annotated-types", "typing-inspection", "pettingzoo", "gymnasium",
         "farama-notifications", "transformers", "tokenizers", "huggingface-hub", "safetensors", "regex"]
print(" ".join(f"{n}=={version(n)}" for n in names))
PY
)
rm -rf .whl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d .whl $pins
ls .whl
