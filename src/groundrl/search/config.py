"""The knobs of tree search, with ViGoRL's published defaults (../shared/VIGORL.md section 1), and of a run."""

from __future__ import annotations

from dataclasses import dataclass, field

from groundrl.engines import Sampling

JUDGES = ("auto", "qa", "choice", "point", "iou")


@dataclass(frozen=True)
class MCTSConfig:
    """The algorithm, as published.

    Attributes:
        width: children per expansion, each an independent sampled call.
        max_depth: at this depth the expansion call is told to answer now (its children are terminal).
        simulations: select -> expand -> evaluate -> backup rounds per tree.
        rollouts: rollouts per new non-terminal child.
        rollout_len: thoughts per rollout at most, the last one told to answer.
        c_uct: the exploration constant of `Q + c * sqrt(ln(N_parent + 1) / (N_child + 1))`.
        temperature, top_p, max_new_tokens: sampling of every call.
        min_thoughts: a tree's system prompt says "at least K thoughts", K drawn per tree from this
            inclusive range (a fixed K: the same number twice).
        dedup_points: drop a child that names a point already used on its path (numbers compared, not
            strings as published).
        judge: how a final answer is scored 0 or 1: qa (normalised target contained in the answer), choice
            (the option picked), point (inside the target box), iou (IoU >= 0.5); auto: by the record's task.
    """

    width: int = 3
    max_depth: int = 10
    simulations: int = 8
    rollouts: int = 2
    rollout_len: int = 5
    c_uct: float = 2.0
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 512
    min_thoughts: list[int] = field(default_factory=lambda: [3, 7])
    dedup_points: bool = True
    judge: str = "auto"

    def sampling(self) -> Sampling:
        """The sampling of every call (each call's own seed travels with its prompt)."""
        stop = ("</answer>",)  # a thought that answers ends there
        return Sampling(self.max_new_tokens, self.temperature, self.top_p, n=1, stop=stop)

    def check(self) -> None:
        """Raises ValueError naming the first knob out of range."""
        counts = {"width": self.width, "max_depth": self.max_depth, "simulations": self.simulations}
        counts |= {"rollout_len": self.rollout_len, "max_new_tokens": self.max_new_tokens}
        for name, value in counts.items():
            if value < 1:
                raise ValueError(f"mcts.{name}={value}: must be at least 1")
        if self.rollouts < 0:
            raise ValueError(f"mcts.rollouts={self.rollouts}: must be at least 0")
        low_high = self.min_thoughts
        if len(low_high) != 2 or not 0 <= low_high[0] <= low_high[1]:
            raise ValueError(f"mcts.min_thoughts={low_high}: expected [low, high] with 0 <= low <= high")
        if self.judge not in JUDGES:
            raise ValueError(f"mcts.judge={self.judge!r}: expected one of {', '.join(JUDGES)}")


@dataclass(frozen=True)
class SearchConfig:
    """`groundrl search` options; any of them can be set with key=value (mcts.width=2, ...).

    Attributes:
        model: a checkpoint folder (transformers, vllm) or a served model name (openai).
        engine: transformers, vllm or openai.
        base_urls: OpenAI-compatible servers (a fleet: requests go round-robin over them).
        api_key_env: environment variable holding the servers' API key.
        max_in_flight: concurrent requests over all servers (openai).
        data: records to search (any readable format); format, image_root: as for `groundrl data`.
        family: model family (prompt and coordinate convention); default: from the model's config.
        limit: search the first N records only.
        trees_in_flight: trees searched together; every pending call of all of them goes to the engine as
            one batch per round.
        batch_size: prompts per forward pass of the transformers engine.
        seed: the run's seed; each call's seed derives from it, the tree's id and the call's place in the tree.
        mcts: the algorithm's knobs.
    """

    model: str = ""
    engine: str = "transformers"
    base_urls: list[str] = field(default_factory=list)
    api_key_env: str = "OPENAI_API_KEY"
    max_in_flight: int = 64
    data: str = ""
    format: str = "groundrl"
    image_root: str | None = None
    family: str | None = None
    limit: int | None = None
    trees_in_flight: int = 16
    batch_size: int = 64
    seed: int = 0
    mcts: MCTSConfig = field(default_factory=MCTSConfig)
