"""Tests of the model store, the tiny test model and (slow) the SmolLM2 fetch."""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from coevo.models import store
from coevo.models.store import COMPLETE_MARKER, ensure_built, resolve_model
from coevo.models.tiny import build_tiny


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def tiny_tokenizer(tiny_model_path):
    return AutoTokenizer.from_pretrained(tiny_model_path)


@pytest.fixture(scope="module")
def tiny_model(tiny_model_path):
    return AutoModelForCausalLM.from_pretrained(tiny_model_path).eval()


# --- the tiny model -------------------------------------------------------------------------------


def test_tiny_build_is_reproducible_per_seed(tmp_path):
    first = build_tiny(tmp_path / "a", seed=0)
    again = build_tiny(tmp_path / "b", seed=0)
    other = build_tiny(tmp_path / "c", seed=1)
    assert _sha256(first / "model.safetensors") == _sha256(again / "model.safetensors")
    assert _sha256(first / "tokenizer.json") == _sha256(again / "tokenizer.json")
    assert _sha256(first / "model.safetensors") != _sha256(other / "model.safetensors")


def test_tiny_build_leaves_global_rng_alone(tmp_path):
    torch.manual_seed(1234)
    expected = torch.rand(3)
    torch.manual_seed(1234)
    build_tiny(tmp_path / "m", seed=7)
    assert torch.equal(torch.rand(3), expected)


def test_tiny_config_matches_tokenizer(tiny_model, tiny_tokenizer):
    config = tiny_model.config
    assert (config.hidden_size, config.intermediate_size, config.num_hidden_layers) == (64, 128, 2)
    assert (config.num_attention_heads, config.num_key_value_heads) == (4, 2)
    assert config.tie_word_embeddings
    assert tiny_model.lm_head.weight.data_ptr() == tiny_model.model.embed_tokens.weight.data_ptr()
    assert config.vocab_size == len(tiny_tokenizer)
    assert 512 <= len(tiny_tokenizer) <= 1024
    # Same special ids as the converted SmolLM2: pad 0, bos 1, eos 2.
    assert (tiny_tokenizer.pad_token, tiny_tokenizer.bos_token, tiny_tokenizer.eos_token) == (
        "<|pad|>", "<|im_start|>", "<|im_end|>")
    assert (tiny_tokenizer.pad_token_id, tiny_tokenizer.bos_token_id, tiny_tokenizer.eos_token_id) == (0, 1, 2)
    for holder in (config, tiny_model.generation_config):
        assert (holder.pad_token_id, holder.eos_token_id) == (0, 2)


@pytest.mark.parametrize(
    "text",
    [
        "What is 12 + 30? Answer with just the number.",
        "  leading and trailing spaces  ",
        "line one\nline two\n\n\ttabbed\r\n",
        "3.14159 -42 1,000,000 0x1F 2**10 == 1024 #### 7",
        "naïve café, Straße, 漢字, emoji 🙂👍, Ελληνικά, עברית",
        "<score>1</score> <Answer>Correct</Answer> {'a': [1, 2]} \\ ` ~ ^ | @",
        "",
    ],
)
def test_tiny_tokenizer_round_trips(tiny_tokenizer, text):
    ids = tiny_tokenizer(text, add_special_tokens=True)["input_ids"]
    assert tiny_tokenizer.decode(ids) == text


def test_tiny_tokenizer_keeps_chat_tokens_whole(tiny_tokenizer):
    ids = tiny_tokenizer("<|im_start|>user\nhi<|im_end|>")["input_ids"]
    assert ids[0] == tiny_tokenizer.bos_token_id and ids[-1] == tiny_tokenizer.eos_token_id
    # Common game words are single tokens, so tiny-model prompts stay short.
    assert len(tiny_tokenizer(" solution")["input_ids"]) == 1


def test_chat_template_renders_chatml(tiny_tokenizer):
    messages = [
        {"role": "user", "content": "What is 2 + 3?"},
        {"role": "assistant", "content": "5"},
        {"role": "user", "content": "Sure?"},
    ]
    default_system = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
    expected = (
        f"<|im_start|>system\n{default_system}<|im_end|>\n"
        "<|im_start|>user\nWhat is 2 + 3?<|im_end|>\n"
        "<|im_start|>assistant\n5<|im_end|>\n"
        "<|im_start|>user\nSure?<|im_end|>\n"
    )
    rendered = tiny_tokenizer.apply_chat_template(messages, tokenize=False)
    assert rendered == expected
    prompt = tiny_tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert prompt == expected + "<|im_start|>assistant\n"


def test_chat_template_keeps_given_system_message(tiny_tokenizer):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    rendered = tiny_tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert rendered == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    )


def test_tiny_model_generates_left_padded_batch(tiny_model, tiny_tokenizer):
    questions = ["Hi", "What is 7 * 8? Answer with just the number.", "Tom has 3 apples and buys 4 more."]
    prompts = [
        tiny_tokenizer.apply_chat_template([{"role": "user", "content": q}], tokenize=False, add_generation_prompt=True)
        for q in questions
    ]
    tiny_tokenizer.padding_side = "left"
    batch = tiny_tokenizer(prompts, return_tensors="pt", padding=True)
    lengths = batch["attention_mask"].sum(dim=1).tolist()
    assert len(set(lengths)) == 3  # the rows really need different amounts of padding
    assert (batch["input_ids"][0, : batch["input_ids"].shape[1] - lengths[0]] == tiny_tokenizer.pad_token_id).all()

    with torch.no_grad():
        out = tiny_model.generate(**batch, max_new_tokens=6, do_sample=False)
        batched_logits = tiny_model(**batch).logits[:, -1]
        for row, prompt in enumerate(prompts):
            alone = tiny_tokenizer(prompt, return_tensors="pt")
            # Padding must not change what a row sees: same next-token logits as unpadded.
            torch.testing.assert_close(tiny_model(**alone).logits[0, -1], batched_logits[row], atol=1e-5, rtol=1e-4)
    prompt_width = batch["input_ids"].shape[1]
    assert out.shape[0] == 3 and prompt_width < out.shape[1] <= prompt_width + 6
    assert torch.equal(out[:, :prompt_width], batch["input_ids"])


# --- the store -------------------------------------------------------------------------------------


def test_cache_dir_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("COEVO_CACHE", str(tmp_path / "c"))
    assert store.cache_dir() == tmp_path / "c"
    monkeypatch.delenv("COEVO_CACHE")
    assert store.cache_dir() == Path.home() / ".cache" / "coevo"


def test_resolve_tiny_builds_once_in_cache(tiny_model_path):
    path = Path(tiny_model_path)
    assert path.parent.parent == store.cache_dir()
    assert (path / COMPLETE_MARKER).is_file() and (path / "model.safetensors").is_file()
    before = (path / "model.safetensors").stat().st_mtime_ns
    assert resolve_model("tiny") == tiny_model_path
    assert (path / "model.safetensors").stat().st_mtime_ns == before


def test_resolve_existing_dir_and_hub_id(tmp_path):
    assert resolve_model(str(tmp_path)) == str(tmp_path)
    assert resolve_model("Qwen/Qwen2.5-3B-Instruct") == "Qwen/Qwen2.5-3B-Instruct"
    assert resolve_model("no-such-dir-or-model") == "no-such-dir-or-model"


@pytest.mark.parametrize("name", ["smollm2-135m", "smollm2"])
def test_smollm2_without_fetch_in_empty_cache_says_how_to_fetch(monkeypatch, tmp_path, name):
    monkeypatch.setenv("COEVO_CACHE", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="coevo models fetch smollm2-135m"):
        resolve_model(name, fetch=False)
    assert not any(tmp_path.rglob("*.safetensors"))


def test_known_models_listed():
    assert {"tiny", "smollm2-135m"} <= set(store.KNOWN_MODELS)
    assert all(isinstance(text, str) and "\n" not in text for text in store.KNOWN_MODELS.values())


def _fake_build(calls: list[int], delay: float = 0.0):
    def build(target: Path) -> Path:
        calls.append(1)
        time.sleep(delay)
        (target / "weights.bin").write_bytes(b"x" * 10)
        return target

    return build


def test_concurrent_builds_do_the_work_once(tmp_path):
    target, calls, results, errors = tmp_path / "models" / "m", [], [], []

    def worker():
        try:
            results.append(ensure_built(target, _fake_build(calls, delay=0.3)))
        except Exception as error:  # surfaced by the assert below
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and results == [target] * 4 and len(calls) == 1
    assert (target / COMPLETE_MARKER).is_file() and (target / "weights.bin").is_file()
    assert sorted(p.name for p in target.parent.iterdir()) == ["m", "m.lock"]  # no staging left behind


def test_build_losing_a_rename_race_uses_the_winner(tmp_path):
    target = tmp_path / "m"

    def build_while_someone_else_finishes(staging: Path) -> Path:
        # Another process without the lock completes `target` while this build runs.
        target.mkdir()
        (target / "weights.bin").write_bytes(b"winner")
        (target / COMPLETE_MARKER).write_text("{}")
        (staging / "weights.bin").write_bytes(b"loser")
        return staging

    assert ensure_built(target, build_while_someone_else_finishes) == target
    assert (target / "weights.bin").read_bytes() == b"winner"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m", "m.lock"]


def test_failed_build_leaves_nothing_and_incomplete_dir_is_rebuilt(tmp_path):
    target = tmp_path / "m"

    def failing(staging: Path) -> Path:
        (staging / "half").write_text("half")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        ensure_built(target, failing)
    assert not target.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["m.lock"]

    target.mkdir()  # a directory without the marker is not trusted
    (target / "junk").write_text("junk")
    calls: list[int] = []
    ensure_built(target, _fake_build(calls))
    assert calls == [1] and not (target / "junk").exists() and (target / COMPLETE_MARKER).is_file()


# --- the real model (slow: downloads about 90 MiB and converts it) ---------------------------------


@pytest.mark.slow
def test_fetch_smollm2_gives_a_working_chat_model(monkeypatch, tmp_path):
    monkeypatch.setenv("COEVO_CACHE", str(tmp_path))
    path = resolve_model("smollm2-135m", fetch=True)
    assert resolve_model("smollm2", fetch=False) == path
    assert not (Path(path) / "config.json").read_text().count("quantization_config")

    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path).eval()
    assert abs(sum(p.numel() for p in model.parameters()) - 134_515_008) < 1_000_000
    assert (tokenizer.eos_token, tokenizer.eos_token_id) == ("<|im_end|>", 2)
    assert tokenizer.pad_token_id is not None and tokenizer.pad_token_id != tokenizer.eos_token_id
    assert model.generation_config.eos_token_id == 2
    assert model.generation_config.pad_token_id == tokenizer.pad_token_id

    questions = ["What is 2 + 3? Answer with just the number.", "What is 4 + 4? Answer with just the number."]
    prompts = [
        tokenizer.apply_chat_template([{"role": "user", "content": q}], tokenize=False, add_generation_prompt=True)
        for q in questions
    ]
    tokenizer.padding_side = "left"
    batch = tokenizer(prompts, return_tensors="pt", padding=True)
    with torch.no_grad():
        out = model.generate(**batch, max_new_tokens=16, do_sample=False)
    answers = tokenizer.batch_decode(out[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)
    assert "5" in answers[0] and "8" in answers[1], answers
