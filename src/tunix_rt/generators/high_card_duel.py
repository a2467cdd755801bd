"""High Card Duel, the built-in game behind the seed's UNGAR panel (SPEC §4).

Each episode deals two cards from a shuffled 52-card deck: one hidden card each. The only
move is ``reveal``; the higher rank wins, equal ranks tie. Pure and deterministic: the
same seed gives the same episodes.
"""

from __future__ import annotations

import random
from typing import Any, Literal

GAME = "high_card_duel"
SOURCE = "ungar"
VERSION = "1.0"
TRACE_VERSION = "1.0"
PROMPT = "High Card Duel: You have 1 hidden card. Action: reveal."
RANKS = "23456789TJQKA"
SUITS = "SHDC"
DECK = tuple(rank + suit for suit in SUITS for rank in RANKS)

Result = Literal["win", "loss", "tie"]


def rank_of(card: str) -> int:
    return RANKS.index(card[0])


def duel_result(my_card: str, opponent_card: str) -> Result:
    mine, theirs = rank_of(my_card), rank_of(opponent_card)
    return "win" if mine > theirs else "loss" if mine < theirs else "tie"


def episode_trace(
    episode_index: int, my_card: str, opponent_card: str, seed: int
) -> dict[str, Any]:
    """One episode as a ReasoningTrace document."""
    unseen = len(DECK) - 1
    return {
        "trace_version": TRACE_VERSION,
        "prompt": PROMPT,
        "steps": [
            {"i": 0, "type": "legal_moves", "content": "Legal moves: reveal"},
            {"i": 1, "type": "observation", "content": f"My hand: {my_card}"},
            {"i": 2, "type": "unseen", "content": f"Unseen cards: {unseen}"},
            {
                "i": 3,
                "type": "decision",
                "content": "Decision: reveal",
            },
        ],
        "final_answer": "reveal",
        "meta": {
            "source": SOURCE,
            "game": GAME,
            "episode_index": episode_index,
            "my_card": my_card,
            "opponent_card": opponent_card,
            "result": duel_result(my_card, opponent_card),
            "seed": seed,
        },
    }


def generate_high_card_duel(count: int, seed: int) -> list[dict[str, Any]]:
    """``count`` episodes; each deals from a fresh shuffled deck of a seeded local RNG."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be a positive integer, got {count!r}")
    rng = random.Random(f"tunix-rt-{GAME}:{seed}")
    traces = []
    for index in range(count):
        my_card, opponent_card = rng.sample(DECK, 2)
        traces.append(episode_trace(index, my_card, opponent_card, seed))
    return traces
