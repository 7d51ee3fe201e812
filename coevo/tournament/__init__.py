"""`coevo tournament`: players meet in a game and come out ranked, with the uncertainty of the ranking.

    coevo tournament experiment=tictactoe model=tiny out_dir=runs/ttt-cup \
        tournament.players=[base,scripted:random,scripted:minimax,runs/tictactoe:agent_0] \
        tournament.games_per_pairing=8

Players (`players.py`): the frozen base, adapters from runs' checkpoints, scripted players the game
ships. Schedules and seat rotation (`schedule.py`): round robin or Swiss; every player of a pair
holds every seat equally often. Every game of a round is played by one batched rollout
(`coevo.rollout.play`): model players are adapters of one model, scripted players answer in the
same tick without it. Ratings (`ratings.py`): openskill from the game's own ranking of its seats.

`out_dir` gets `matches.jsonl` (every game with its transcript), `ratings.csv`, `pairwise.csv`
(win/draw/loss per pair, overall and per role), `ratings.md`, `heatmap.png` and `index.html`.
"""
from coevo.tournament.run import run_tournament

__all__ = ["run_tournament"]
