"""Every environment of `pettingzoo.classic`: the coevo game that plays it, or why none does yet.

A model can only play from an observation it can read. The adapter draws 0/1 board planes as a
grid (tic-tac-toe, Connect Four) and a game may bring its own renderer (rock-paper-scissors names
the opponent's last move); the rest would reach a model as unlabelled numbers, so they are listed
here with the reason instead of being offered half-working. `tests/test_pettingzoo_adapter.py`
checks that this table covers every environment pettingzoo.classic ships.
"""
from __future__ import annotations

PLAYED = {  # native env -> coevo game id
    "tictactoe_v3": "tictactoe_v0",
    "connect_four_v3": "connect_four_v0",
    "rps_v2": "rps_v0",
}

UNSUPPORTED = {  # native env -> why there is no coevo game for it yet
    "chess_v6": "needs `pip install chess`; its 8x8x111 observation planes need a board renderer (FEN or "
                "an ASCII board) and its 4672 actions a move-name parser (UCI), which coevo does not ship yet",
    "go_v5": "its 17 observation planes are 8 steps of stone history per player plus a colour plane; the "
             "adapter's grid would draw the history as extra stones, so it needs its own renderer",
    "hanabi_v5": "needs OpenSpiel through Shimmy (`pip install open_spiel`); its observation is a flat "
                 "658-bit vector of cards and hints with no text form here",
    "leduc_holdem_v4": "needs `pip install rlcard`; its observation is a 36-number card encoding that needs "
                       "a renderer naming the cards",
    "texas_holdem_v4": "needs `pip install rlcard`; its observation is a 72-number card and chip encoding "
                       "that needs a renderer naming the cards",
    "texas_holdem_no_limit_v6": "needs `pip install rlcard`; its observation is a 54-number card and chip "
                                "encoding that needs a renderer naming the cards",
}
