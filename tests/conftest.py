import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    """One saved tiny model per family, built once per test session."""
    from groundrl.models.tiny import make_tiny

    root = tmp_path_factory.mktemp("tiny")
    return {family: make_tiny(family, root / family) for family in ("qwen2-vl", "qwen2.5-vl", "qwen3-vl")}
