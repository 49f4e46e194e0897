import re
from dataclasses import dataclass, field

import pytest

from groundrl.config import ConfigError, apply_overrides, coerce, from_dict, load_config


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


@dataclass(frozen=True)
class WithMapping:
    budget: int | None = 5
    trl: dict = field(default_factory=dict)


def test_free_form_values_read_as_yaml_reads_them():
    """`none` is a word TRL takes (report_to=none), as in a YAML file; `null` is None; numbers are numbers."""
    cfg = apply_overrides(WithMapping(), ["trl.report_to=none", "trl.max_length=null", "trl.lr=1e-5", "budget=none"])
    assert cfg.trl == {"report_to": "none", "max_length": None, "lr": 1e-5}
    assert cfg.budget is None


def test_coerce_names_the_key_and_the_type():
    assert coerce("8", int | None, "trl.max_steps") == 8
    with pytest.raises(ConfigError, match=r"^trl.max_steps: expected int, got 'abc'$"):
        coerce("abc", int | None, "trl.max_steps")
