#!/usr/bin/env bash
# The GPU checks of issues 9 and 13, in one call on the lent GPU machine (Python 3.12 with torch,
# transformers and peft; no Ray, pydantic or PettingZoo; no network):
#   here:   bash bench/gpu_wheels.sh
#   then:   the device tool's run(command="bash bench/gpu_session.sh", carry=[".whl"], timeout_s=480)
# tests/test_gpu.py (bf16 generation, a bf16-autocast learner step on CUDA), then bench/gpu.py
# (0.5B and 1.5B random-weight models, bf16; it prints each row as it is measured). Each step has
# its own time limit, so that a slow one leaves the other its time and the session's 15 device
# minutes a rerun. vLLM's half of the backend suite cannot run there: the machine has no vllm, and
# its wheel is far over the 64 MiB a call can carry. Output: $OUT/{machine,tests,bench_gpu,rc}.txt;
# the call fails if any step did.
set -uo pipefail
OUT=${OUT:-/tmp/coevo-gpu}
PY=${PY:-python3}
mkdir -p "$OUT"
$PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH="/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
{ nvidia-smi; $PY -c "import torch, transformers, peft, pydantic, games, coevo.learners.learner
print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'transformers', transformers.__version__,
      'peft', peft.__version__, 'pydantic', pydantic.__version__)"; } 2>&1 | tee "$OUT/machine.txt"
imports=${PIPESTATUS[0]}
[ "$imports" = 0 ] || { echo "imports: rc $imports" | tee "$OUT/rc.txt"; exit 1; }
timeout 120 $PY -m pytest -q -rs -m gpu tests/test_gpu.py 2>&1 | tee "$OUT/tests.txt"
tests=${PIPESTATUS[0]}
timeout 300 $PY bench/gpu.py 2>&1 | tee "$OUT/bench_gpu.txt"
bench=${PIPESTATUS[0]}
echo "tests: rc $tests   bench/gpu.py: rc $bench (124: stopped at its time limit)" | tee "$OUT/rc.txt"
[ "$tests" = 0 ] && [ "$bench" = 0 ]
