"""FusedLoraLinear (coevo/models/fused_lora.py): the same outputs and gradients as peft's own LoRA
layer, on the same weights, in every case it fuses; peft's own forward where it does not."""
import copy

import pytest
import torch
from peft.tuners.lora.layer import Linear as PeftLoraLinear

from coevo.models.fused_lora import FusedLoraLinear
from coevo.models.hf import add_lora, load_base

LORA = {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": "all-linear"}
IDS = torch.tensor([[5, 9, 2, 7, 7, 1, 3, 8], [4, 4, 6, 2, 9, 5, 1, 0]])


def lora_layers(model):
    return [m for m in model.modules() if isinstance(m, PeftLoraLinear)]


def moved(model, seed=1):
    """Every adapter's B away from its zero init, so the updates count in the outputs."""
    gen = torch.Generator().manual_seed(seed)
    for m in lora_layers(model):
        for b in m.lora_B.values():
            b.weight.data = 0.05 * torch.randn(b.weight.shape, generator=gen)
    return model


def as_peft(model):
    """A copy of `model` whose LoRA layers are peft's own class: the same weights, peft's forward."""
    twin = copy.deepcopy(model)
    for m in lora_layers(twin):
        m.__class__ = PeftLoraLinear
    return twin


def logits_and_grads(model, **kwargs):
    model.zero_grad(set_to_none=True)
    logits = model(input_ids=IDS, **kwargs).logits
    (logits.float() ** 2).mean().backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return logits.detach(), grads


def assert_same(a, b):
    torch.testing.assert_close(a[0], b[0], rtol=1e-6, atol=1e-6)
    assert a[1].keys() == b[1].keys() and a[1]
    for k in a[1]:
        torch.testing.assert_close(a[1][k], b[1][k], rtol=1e-5, atol=1e-7)


@pytest.fixture()
def model(tiny_model_path):
    return moved(add_lora(load_base(tiny_model_path), ["a0", "a1"], LORA))


def test_add_lora_makes_every_adapted_linear_fused(model):
    layers = lora_layers(model)
    assert layers and all(type(m) is FusedLoraLinear for m in layers)
    # the LM head stays a plain Linear ("all-linear" leaves it out)
    assert not isinstance(model.get_base_model().get_output_embeddings(), PeftLoraLinear)


def test_fused_forward_and_backward_equal_peft(model):
    model.set_adapter("a1")
    for name, p in model.named_parameters():  # gradients of the adapters and of nothing else, as in a learner
        p.requires_grad_("lora_" in name)
    # the fused path is the one that runs here (were it never taken, equality would prove nothing)
    assert all(m._fusable(torch.zeros(1, m.in_features), {}) for m in lora_layers(model))
    twin = as_peft(model)
    fused, plain = logits_and_grads(model), logits_and_grads(twin)
    assert_same(fused, plain)
    # and the adapter counts: a model without its update gives other logits
    with model.disable_adapter():
        base = model(input_ids=IDS).logits.detach()
    assert (base - fused[0]).abs().max() > 1e-3


def test_the_cases_it_leaves_to_peft(model):
    model.eval()  # peft takes adapter_names in eval mode only
    twin = as_peft(model)
    with torch.no_grad():
        with model.disable_adapter(), twin.disable_adapter():  # adapters off: the bare base
            assert torch.equal(model(input_ids=IDS).logits, twin(input_ids=IDS).logits)
        # peft's mixed batch: each row on the adapter it names
        names = ["a0", "a1"]
        assert torch.equal(model(input_ids=IDS, adapter_names=names).logits,
                           twin(input_ids=IDS, adapter_names=names).logits)


def test_bfloat16_base_with_float32_adapters_runs_peft(tiny_model_path):
    # peft adds a float32 update to a bfloat16 output (promoting, then casting back): not one addmm
    model = add_lora(load_base(tiny_model_path, "bfloat16"), ["a0"], LORA)
    layer = lora_layers(model)[0]
    assert layer.lora_A["a0"].weight.dtype == torch.float32
    assert not layer._fusable(torch.zeros(1, layer.in_features, dtype=torch.bfloat16), {})


def test_fused_under_autocast_matches_peft(model):
    # every matmul casts its inputs to bfloat16 here, the fused addmm as peft's own matmuls: the same
    # sum, rounded once instead of twice
    model.eval()
    twin = as_peft(model)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert all(m._fusable(torch.zeros(1, m.in_features), {}) for m in lora_layers(model))
        fused, plain = model(input_ids=IDS).logits, twin(input_ids=IDS).logits
        with model.disable_adapter():
            base = model(input_ids=IDS).logits
    assert fused.dtype == plain.dtype  # the layers hand on what peft's would (bfloat16 here)
    fused, plain, base = fused.float(), plain.float(), base.float()
    assert (fused - plain).abs().max() < 0.05 * (fused - base).abs().max()


def test_dropout_draws_the_same_masks(tiny_model_path):
    model = moved(add_lora(load_base(tiny_model_path), ["a0"], {**LORA, "dropout": 0.3})).train()
    twin = as_peft(model).train()
    torch.manual_seed(7)
    fused = logits_and_grads(model)
    torch.manual_seed(7)
    plain = logits_and_grads(twin)
    assert_same(fused, plain)
    torch.manual_seed(8)  # other masks, other logits: the dropout is live in both
    assert not torch.allclose(logits_and_grads(model)[0], fused[0])
