"""`debate`: rewards for `debate_v0` episodes (multi-agent debate, Du et al.; PAPERS.md "Other methods").

Every debater turn is one answer (seat s's k-th turn is its round-k answer, `outcome["answers"][s][k-1]`):

- `target: gold` (default, a verifier reward): a turn earns 1 if its answer equals the gold
  answer, else 0. The default because debate here is played over tasks with known answers, and a
  verifier is the reward a researcher compares a debate against first.
- `target: majority` (label-free): a turn earns 1 if its answer equals the debate's final
  majority vote (`outcome["final_answer"]`), else 0; gold is never read for rewards. It rewards
  consensus, so a crowd that is mostly wrong is trained towards its wrong answer; it is the
  setting of label-free "multi-agent fine-tuning" on debate outcomes, like `rlccf`'s crowd.
- None answers (no number) earn 0 under both; a debate where nobody answered has no majority.
- `final_round_only: false` (default): every round's answer is judged by the same target, so
  round 1 (answering alone, the held-out evaluation's setting) learns too. `true`: only
  last-round turns carry reward; earlier turns get 0 AND `train=False`, because a 0 that the
  learner normalises (batch or group) would be a negative advantage, punishing early answers
  for not being judged.

GRPO grouping. The rollout sets `turn.group = "<task id>/<seat>"`, which in debate pools one
seat's R rounds (and its `games_per_task` debates of the question) into one group. The baseline
is then that seat's mean reward on that question across rounds: it still removes the question's
difficulty (what GRPO's group is for), but its members are not samples of one prompt (rounds 2..R
show the others' answers). With `games_per_task: 1` a group holds only the R turns of one debate,
so a seat right (or wrong) in every round gets advantage 0 and the signal comes only from
changing one's answer between rounds. Hence: with GRPO set `population.games_per_task >= 2`
(more so with `final_round_only`, which leaves one turn per debate in each group), or use
REINFORCE++ (`algo=reinforce_pp`, batch-normalised, groups ignored), as configs/experiment/debate.yaml
does. This arbiter does not rewrite groups: per-round groups (`<task>/<seat>/<round>`) would be
groups of one under `games_per_task: 1`, which GRPO turns into zero advantages.

Metrics (gold is read for these only, under either target; round k = 1..R):
`arbiter/accuracy/round_k` (share of round-k answers equal to gold), `arbiter/majority_accuracy/round_k`
(share of debates whose round-k majority equals gold), `arbiter/agreement/round_k` (mean share of
debaters giving the round-k majority), `arbiter/final_accuracy` (share of debates whose final
majority equals gold), `arbiter/no_answer_rate` (share of all answers that are None),
`arbiter/changed_answer_rate` (share of a debater's answers in rounds 2..R that differ from its
answer of the round before, None included; absent when every debate has one round),
`arbiter/reward_mean`.
"""
from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from coevo.arbiters import register_arbiter
from coevo.episode import Episode
from games.tasks import answers_match


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else 0.0


@register_arbiter("debate")
class DebateArbiter(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    # outcome keys it reads: a game whose outcome lacks one is refused at config time
    READS: ClassVar[tuple[str, ...]] = ("answers", "majority", "final_answer", "agreement")

    target: Literal["gold", "majority"] = "gold"  # what a turn's answer must equal to earn 1
    final_round_only: bool = False  # only last-round turns are rewarded (and trained on)

    def __call__(self, episodes: list[Episode]) -> dict[str, float]:
        acc: dict[int, list[bool]] = {}  # round -> per answer: equals gold
        maj_acc: dict[int, list[bool]] = {}  # round -> per debate: majority equals gold
        agree: dict[int, list[float]] = {}
        final_ok, no_answer, changed, rewards = [], [], [], []
        for ep in episodes:
            answers, votes = ep.outcome.get("answers"), ep.outcome.get("majority")
            if not isinstance(answers, dict) or not isinstance(votes, list):
                raise ValueError(f"episode (game {ep.game!r}, seed {ep.seed}) has no outcome['answers'] and "
                                 "['majority']: the debate arbiter reads debate_v0 outcomes")
            turns = ep.turns_per_answer(answers)
            rounds = len(votes)
            target = ep.outcome["final_answer"] if self.target == "majority" else ep.outcome.get("gold")
            for t in ep.turns:
                t.reward = 0.0  # turns of seats without answers get 0, never a stale value
            for seat, ts in turns.items():
                for k, (t, a) in enumerate(zip(ts, answers[seat]), 1):
                    if self.final_round_only and k < rounds:
                        t.train = False  # see the module docstring: not judged, so not trained on
                        continue
                    t.reward = float(answers_match(a, target))
                    rewards.append(t.reward)
            # ---- evaluation: gold is read from here on whatever the target ----
            gold = ep.outcome.get("gold")
            for seat, ans in answers.items():
                for k, a in enumerate(ans, 1):
                    acc.setdefault(k, []).append(answers_match(a, gold))
                    no_answer.append(a is None)
                    if k > 1:
                        changed.append(a != ans[k - 2])
            for k, (vote, share) in enumerate(zip(votes, ep.outcome["agreement"]), 1):
                maj_acc.setdefault(k, []).append(answers_match(vote, gold))
                agree.setdefault(k, []).append(share)
            final_ok.append(answers_match(ep.outcome["final_answer"], gold))
        if not episodes:
            return {}
        metrics = {"arbiter/final_accuracy": _mean(final_ok), "arbiter/no_answer_rate": _mean(no_answer),
                   "arbiter/reward_mean": _mean(rewards)}
        if changed:
            metrics["arbiter/changed_answer_rate"] = _mean(changed)
        for k in sorted(acc):
            metrics[f"arbiter/accuracy/round_{k}"] = _mean(acc[k])
        for k in sorted(maj_acc):
            metrics[f"arbiter/majority_accuracy/round_{k}"] = _mean(maj_acc[k])
            metrics[f"arbiter/agreement/round_{k}"] = _mean(agree[k])
        return metrics
