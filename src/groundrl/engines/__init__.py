"""Generation backends behind one Protocol: transformers (batched, CPU or GPU), vLLM (offline, GPU), and
OpenAI-compatible servers (vLLM, SGLang, `groundrl serve`). Heavy imports happen inside each engine."""

from __future__ import annotations

from groundrl.engines.base import Engine, Generation, Prompt, Sampling

ENGINES = ("transformers", "vllm", "openai")

__all__ = ["ENGINES", "Engine", "Generation", "Prompt", "Sampling", "build_engine"]


def build_engine(name: str, model: str, base_urls: list[str] | None = None, batch_size: int = 16, **kwargs) -> Engine:
    """The engine `name` for `model` (a checkpoint folder, or a served model name for openai).

    Raises:
        ValueError: unknown engine, or openai without base URLs.
    """
    if name == "transformers":
        from groundrl.engines.hf import TransformersEngine

        return TransformersEngine(model, batch_size=batch_size, **kwargs)
    if name == "vllm":
        from groundrl.engines.vllm_engine import VLLMEngine

        return VLLMEngine(model, **kwargs)
    if name == "openai":
        from groundrl.engines.openai_engine import OpenAIEngine

        return OpenAIEngine(model, base_urls or [], **kwargs)
    raise ValueError(f"unknown engine {name!r}; expected one of {', '.join(ENGINES)}")
