"""Generation backends behind one Protocol: transformers (batched, CPU or GPU); vLLM and OpenAI-compatible
servers come with the evaluation issue."""

from groundrl.engines.base import Engine, Generation, Prompt

__all__ = ["Engine", "Generation", "Prompt"]
