"""The cuda path: bf16 generation with logprobs and one bf16-autocast learner step. Skipped without a GPU."""
import pytest
import torch

from coevo.config import AlgoConfig

from coevo.episode import Turn
from coevo.learners.learner import Learner
from coevo.models.hf import HFPolicies

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")]
LORA = {"r": 4, "alpha": 8, "target_modules": "all-linear"}


def test_bf16_generation_and_learner_step_on_cuda(tiny_model_path):
    pol = HFPolicies(tiny_model_path, ["agent_0"], LORA, dtype="bfloat16", device="cuda")
    torch.manual_seed(0)
    outs = pol.generate(["agent_0"] * 4, [f"What is {i} + 1?" for i in range(4)], max_new_tokens=8)
    assert all(len(o.completion_ids) > 0 and all(lp <= 0 for lp in o.logprobs) for o in outs)
    model_cfg = {"device": "cuda", "autocast": True, "learner_dtype": "float32", "lora": LORA}
    algo = {**AlgoConfig().model_dump(), "kl_coef": 0.05, "lr": 1e-2, "micro_batch_size": 2}
    learner = Learner("agent_0", tiny_model_path, model_cfg, algo, temperature=1.0, seed=0)
    before = learner.adapter()
    turns = [Turn("agent_0", "solver_0", "", o.text, o.prompt_ids, o.completion_ids, o.logprobs,
                  reward=float(i % 2), group="g") for i, o in enumerate(outs)]
    metrics = learner.step(turns)
    after = learner.adapter()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert all(torch.isfinite(torch.tensor(v)) for v in metrics.values())
    # the learner's recomputation (fp32 weights, bf16 autocast) agrees with the bf16 sampler's
    # logprobs to about bf16 precision (a mean |gap| per token; logprobs here are about -6)
    assert metrics["learner/agent_0/rollout_logprob_gap"] < 0.1, metrics
    # the all-or-nothing step's snapshot keeps the optimizer moments on the CPU, not on the GPU
    snap = learner.snapshot()
    moments = [t for state in snap["optimizer"]["state"].values() for t in state.values() if t.dim()]
    assert moments and all(t.device.type == "cpu" for t in moments)
    assert all(t.device.type == "cuda" for st in learner.optimizer.state.values() for t in st.values() if t.dim())


def test_a_cuda_learner_with_lora_dropout_repeats_its_step_after_a_load(tiny_model_path, tmp_path):
    """LoRA dropout on a GPU draws its masks from the CUDA generator: a checkpoint keeps its state,
    so a resumed step equals the uninterrupted one."""
    lora = {**LORA, "dropout": 0.3}
    pol = HFPolicies(tiny_model_path, ["agent_0"], lora, dtype="float32", device="cuda")
    outs = pol.generate(["agent_0"] * 4, [f"What is {i} + 1?" for i in range(4)], max_new_tokens=8,
                        temperature=1.0, seeds=[0, 1, 2, 3])
    turns = [Turn("agent_0", "solver_0", "", o.text, o.prompt_ids, o.completion_ids, o.logprobs,
                  reward=float(i % 2), group="g") for i, o in enumerate(outs)]
    model_cfg = {"device": "cuda", "autocast": False, "learner_dtype": "float32", "lora": lora}
    algo = {**AlgoConfig().model_dump(), "lr": 1e-2, "micro_batch_size": 2}
    learner = Learner("agent_0", tiny_model_path, model_cfg, algo, temperature=1.0, seed=0)
    learner.step(turns)  # B leaves zero, so dropout changes the gradient
    learner.save(str(tmp_path / "ckpt"))
    learner.step(turns)
    straight = learner.adapter()
    learner.load(str(tmp_path / "ckpt"))
    learner.step(turns)
    resumed = learner.adapter()
    # close, not bit-equal: CUDA kernels need not be deterministic; other dropout masks move far more
    assert all(torch.allclose(straight[k], resumed[k], atol=1e-6, rtol=0) for k in straight)
