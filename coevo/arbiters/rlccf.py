"""`rlccf`: rewards from collective consistency (RLCCF, PAPERS.md section 3) for `rlccf_v0` episodes.

Per episode (one question), with `answers[m]` the n answers of model m (seat `answerer_j`; under
`seating: fixed` seat j is always agent j, so seat = model):

- self-consistency SC_m = (count of m's most common answer) / n. None answers (no number) count
  in n but are never an answer, so a model that mostly fails to answer has a low SC.
- `vote: sc_weighted` (the paper): crowd answer = argmax_a sum_m SC_m * (count_m(a) / n_m);
  `vote: majority`: argmax_a of the number of samples, over all models, that give a.
- reward of a sample: 1 if its answer equals the crowd answer, else 0 (None never equals it; with
  no answer at all in the crowd, the crowd answer is None and every sample gets 0).

Ties are broken by the smallest numeric value, so the result does not depend on the order of
seats or samples (the crowd answer is a function of the multiset of each model's answers).
Votes are summed as exact fractions, so weights that are equal on paper are equal in code
(0.1 + 0.2 vs 0.3 cannot pick a winner).

The gold answer is never read for rewards. It is read only for the evaluation metrics:

- `arbiter/individual_accuracy` (and `/<agent>`): share of samples equal to gold;
- `arbiter/crowd_accuracy_sc`, `arbiter/crowd_accuracy_majority`: share of questions whose crowd
  answer under each vote equals gold (both votes are computed every time, whichever trains);
- `arbiter/mean_sc`: mean SC over (question, model); `arbiter/crowd_agreement`: share of samples
  equal to the training vote's crowd answer (the mean reward); `arbiter/votes_differ`: share of
  questions where the two votes disagree; `arbiter/no_answer_rate`: share of None samples.

The k-th turn of seat s in `episode.turns` (play order) is sample k of `outcome["answers"][s]`;
a mismatch is a framework bug and raises ValueError.
"""
from __future__ import annotations

from fractions import Fraction
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from coevo.arbiters import register_arbiter
from coevo.episode import Episode
from games.tasks import answers_match
from games.votes import canon, crowd_answer, self_consistency


@register_arbiter("rlccf")
class RlccfArbiter(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    # outcome keys it reads: a game whose outcome lacks one is refused at config time
    READS: ClassVar[tuple[str, ...]] = ("answers", "gold")

    vote: Literal["sc_weighted", "majority"] = "sc_weighted"  # which crowd answer earns reward

    def __call__(self, episodes: list[Episode]) -> dict[str, float]:
        samples = correct = no_answer = agree = 0
        crowd_ok = {"sc_weighted": 0, "majority": 0}
        differ = 0
        scs: list[Fraction] = []
        per_agent: dict[str, list[bool]] = {}
        for ep in episodes:
            answers = ep.outcome.get("answers")
            if not isinstance(answers, dict):
                raise ValueError(f"episode (game {ep.game!r}, seed {ep.seed}) has no outcome['answers']: "
                                 "the rlccf arbiter reads rlccf_v0 outcomes")
            turns = ep.turns_per_answer(answers)
            crowd = {v: crowd_answer(answers, v) for v in crowd_ok}
            target = crowd[self.vote]  # decided from the answers alone: no gold above this line
            for t in ep.turns:
                t.reward = 0.0  # turns of seats without answers get 0, never a stale value
            for seat, ts in turns.items():
                for t, a in zip(ts, answers[seat]):
                    t.reward = 1.0 if target is not None and canon(a) == target else 0.0
            # ---- evaluation only: gold is read from here on ----
            gold = ep.outcome.get("gold")
            for seat, ans in answers.items():
                if ans:
                    scs.append(self_consistency(ans))
                for t, a in zip(turns[seat], ans):
                    ok = answers_match(a, gold)
                    per_agent.setdefault(t.agent, []).append(ok)
                    samples += 1
                    correct += ok
                    no_answer += a is None
                    agree += t.reward == 1.0
            for v, a in crowd.items():
                crowd_ok[v] += answers_match(a, gold)
            differ += crowd["sc_weighted"] != crowd["majority"]
        if not episodes:
            return {}
        n_ep, n_s = len(episodes), max(samples, 1)
        metrics = {
            "arbiter/individual_accuracy": correct / n_s,
            "arbiter/crowd_accuracy_sc": crowd_ok["sc_weighted"] / n_ep,
            "arbiter/crowd_accuracy_majority": crowd_ok["majority"] / n_ep,
            "arbiter/mean_sc": float(sum(scs) / len(scs)) if scs else 0.0,
            "arbiter/crowd_agreement": agree / n_s,
            "arbiter/votes_differ": differ / n_ep,
            "arbiter/no_answer_rate": no_answer / n_s,
        }
        for agent, oks in sorted(per_agent.items()):
            metrics[f"arbiter/individual_accuracy/{agent}"] = sum(oks) / len(oks)
        return metrics
