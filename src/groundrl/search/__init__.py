"""Tree search over grounded thoughts (ViGoRL's MCTS, batched across many trees) and its linearisation
into SFT chains: `groundrl search`, `groundrl linearize` (docs/search.md)."""
