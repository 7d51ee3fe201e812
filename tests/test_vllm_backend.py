"""The vllm backend's parts that run without vllm: the adapter folder it hands vLLM (peft's format,
checked by loading it into peft) and its config. The backend itself runs in the conformance tests
(tests/test_hf_backend.py) where vllm is installed for the machine's device (`make test-vllm`)."""
import importlib.util
import json

import pytest
import torch

from coevo.compose import load_config
from coevo.config import ConfigError
from coevo.models.hf import adapter_state, add_lora, load_adapter_state, load_base
from coevo.models.vllm_backend import ADAPTER_CONFIG, target_modules, write_adapter

LORA = {"r": 4, "alpha": 8, "target_modules": "all-linear"}


def test_the_adapter_folder_loads_in_peft_as_the_same_adapter(tiny_model_path, tmp_path):
    from peft import PeftModel

    trained = add_lora(load_base(tiny_model_path), ["a0"], LORA)
    g = torch.Generator().manual_seed(0)
    state = {k: v + 0.3 * torch.randn(v.shape, generator=g)
             for k, v in adapter_state(trained, "a0").items()}
    load_adapter_state(trained, "a0", state)
    folder = write_adapter(state, LORA, tiny_model_path, tmp_path / "a0-1")
    config = json.loads((folder / ADAPTER_CONFIG).read_text())
    # explicit module names (vLLM does not read peft's "all-linear"), every linear layer of the tiny Llama
    assert config["target_modules"] == target_modules(state) == sorted(
        ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    assert (config["r"], config["lora_alpha"]) == (4, 8)
    loaded = PeftModel.from_pretrained(load_base(tiny_model_path), str(folder)).eval()
    ids = torch.tensor([[1, 5, 9, 14, 3]])
    with torch.no_grad():
        want, got = trained.eval()(input_ids=ids).logits, loaded(input_ids=ids).logits
        base = load_base(tiny_model_path)(input_ids=ids).logits
    assert torch.allclose(got, want, atol=1e-5)
    assert not torch.allclose(got, base, atol=1e-3)  # the adapter really changes the model


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed here")
def test_backend_vllm_without_the_package_is_a_clear_config_error():
    with pytest.raises(ConfigError, match=r"model: backend: vllm is not installed"):
        load_config(["experiment=comas", "model=tiny", "model.backend=vllm"])


def test_a_kv_cache_of_no_size_is_a_config_error_naming_the_field():
    with pytest.raises(ConfigError, match=r"model\.vllm_kv_cache_mb: .*greater than or equal to 1"):
        load_config(["experiment=comas", "model=tiny", "model.vllm_kv_cache_mb=0"])
    assert load_config(["experiment=comas", "model=tiny", "model.vllm_kv_cache_mb=512"]).model.vllm_kv_cache_mb == 512
