#!/usr/bin/env bash
# Every GPU check of issues 9 and 13 that this project can run on the lent GPU machine, in one call:
#   here:   bash bench/gpu_wheels.sh
#   then:   the device tool's run(command="bash bench/gpu_session.sh", carry=[".whl"], timeout_s=600)
# tests/test_gpu.py (bf16 generation, a bf16-autocast learner step), the backend conformance suite on
# the hf backend (its vLLM half needs vllm, which that machine lacks and whose wheel is far over the
# 64 MiB a call can carry), then bench/gpu.py (0.5B and 1.5B random-weight models, bf16). Each step
# has its own time limit so that a slow one leaves the rest their time. Output: $OUT/*.txt.
set -uo pipefail
OUT=${OUT:-/tmp/coevo-gpu}
PY=${PY:-python3}
mkdir -p "$OUT"
$PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH="/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
{ nvidia-smi; $PY -c "import torch, transformers, peft; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'transformers', transformers.__version__, 'peft', peft.__version__)"; } 2>&1 | tee "$OUT/machine.txt"
timeout 150 $PY -m pytest -q -rs tests/test_gpu.py tests/test_hf_backend.py 2>&1 | tee "$OUT/tests.txt"
timeout 390 $PY bench/gpu.py 2>&1 | tee "$OUT/bench_gpu.txt"
