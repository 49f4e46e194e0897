import re
from dataclasses import dataclass, field

import pytest

from groundrl.config import ConfigError, apply_overrides, from_dict, load_config


@dataclass(frozen=True)
class Inner:
    lr: float = 1e-3
    names: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Outer:
    steps: int = 10
    model: str = "m"
    budget: int | None = None
    inner: Inner = field(default_factory=Inner)


def test_yaml_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("steps: 5\ninner:\n  lr: 2\n")
    cfg = load_config(Outer, path, ["inner.names=a,b", "budget=64", "model=x"])
    assert cfg == Outer(steps=5, model="x", budget=64, inner=Inner(lr=2.0, names=["a", "b"]))
    assert apply_overrides(cfg, ["budget=null"]).budget is None


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["step=3"], "unknown config key 'step'; did you mean 'steps'?"),
        (["inner.lrr=3"], "unknown config key 'inner.lrr'; did you mean 'inner.lr'?"),
        (["steps=many"], "steps: expected int, got 'many'"),
        (["steps=true"], "steps: expected int, got True"),
        (["steps"], "expected key=value"),
        (["model.x=1"], "model has no sub-keys"),
    ],
)
def test_bad_overrides(overrides, message):
    with pytest.raises(ConfigError, match=message.replace("?", r"\?").replace("'", "'")):
        apply_overrides(Outer(), overrides)


def test_unknown_key_in_yaml():
    with pytest.raises(ConfigError, match=re.escape("unknown config key 'inner.name'; did you mean 'inner.names'")):
        from_dict(Outer, {"inner": {"name": ["a"]}})
