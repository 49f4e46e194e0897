"""`check_config`: every config error is one line naming its key, raised in well under a second with no
model, processor or image loaded; `groundrl sft|grpo` turn them into exit status 2 before the recipe runs."""

import json
import time

import pytest
import transformers
from PIL import Image
from typer.testing import CliRunner

import groundrl.train.grpo
import groundrl.train.sft
from groundrl.cli.app import app
from groundrl.config import ConfigError, load_config
from groundrl.train.grpo import GRPORunConfig
from groundrl.train.preflight import check_config, check_generation_batch
from groundrl.train.sft import SFTRunConfig


@pytest.fixture(autouse=True)
def nothing_heavy(monkeypatch):
    """Any model, processor or image load fails the test: the checks must not need one."""

    def boom(*args, **kwargs):
        raise AssertionError("the config check loaded a model, processor or image")

    monkeypatch.setattr(transformers.AutoModelForImageTextToText, "from_pretrained", boom)
    monkeypatch.setattr(transformers.AutoProcessor, "from_pretrained", boom)
    monkeypatch.setattr(Image, "open", boom)
    monkeypatch.delenv("WORLD_SIZE", raising=False)


@pytest.fixture
def paths(tmp_path):
    """A model folder with only a config.json (no weights), a data file, and a file in the way."""
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"model_type": "qwen2_5_vl"}))
    data = tmp_path / "train.jsonl"
    data.write_text(json.dumps({"id": "0", "images": ["a.png"], "question": "the cat", "boxes": [[0, 0, 5, 5]]}) + "\n")
    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "empty.jsonl").write_text("")
    return tmp_path


def _base(root) -> list[str]:
    return [f"model={root / 'model'}", f"data={root / 'train.jsonl'}", f"output_dir={root / 'out'}"]


def _check(config_cls, overrides: list[str]) -> None:
    cfg = load_config(config_cls, None, overrides)
    started = time.perf_counter()
    try:
        check_config(cfg)
    finally:
        assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize("config_cls", [SFTRunConfig, GRPORunConfig])
def test_a_good_config_passes(paths, config_cls):
    _check(config_cls, [*_base(paths), "trl.report_to=none", "trl.learning_rate=1e-5", "trl.max_steps=3"])


GRPO_ERRORS = [
    (["trl.max_steps=abc"], "trl.max_steps: expected int, got 'abc'"),
    (
        ["trl.max_stepz=3"],
        "unknown config key 'trl.max_stepz' (GRPOConfig has no such field); did you mean 'trl.max_steps'?",
    ),
    (["trl.lr_scheduler_type=cosinee"], "trl.lr_scheduler_type: unknown value 'cosinee'; did you mean 'cosine'?"),
    (["trl.beta=high"], "trl.beta: expected float, got 'high'"),
    (
        ["trl.num_generations=3"],
        "trl.num_generations: 3 does not divide the generation batch of 8 "
        "(per_device_train_batch_size 8 x gradient_accumulation_steps 1 x 1 process(es))",
    ),
    (
        ["trl.num_generations=4", "trl.per_device_train_batch_size=2", "trl.gradient_accumulation_steps=3"],
        "trl.num_generations: 4 does not divide the generation batch of 6",
    ),
    (["trl.num_generations=1"], "trl.num_generations: GRPO needs at least 2 completions per prompt, got 1"),
    (
        ["trl.generation_batch_size=8", "trl.steps_per_generation=2"],
        "trl: 'generation_batch_size' and 'steps_per_generation' can not be both configured at the same time",
    ),
    (['rewards=[{"name": "iuo"}]'], "rewards[0]: unknown reward 'iuo'; did you mean 'iou'?"),
    (['rewards=[{"name": "iou_mix", "options": {"taus": 0.5}}]'], "unknown option 'taus'; did you mean 'tau'?"),
    (["rewards=[]"], "rewards: at least one reward is required"),
    (["difficulty=expo"], "difficulty: unknown value 'expo'; did you mean 'exp'?"),
    (["difficulty_reward=iuo"], "difficulty_reward: unknown value 'iuo'; did you mean 'iou'?"),
    (["family=qwen25-vl"], "family: unknown value 'qwen25-vl'; did you mean 'qwen2.5-vl'?"),
    (["format=vlmr1"], "format: unknown value 'vlmr1'; did you mean 'vlm-r1'?"),
    (["limit=0"], "limit: expected a positive number of records, got 0"),
    (["prompt=<image>{expression}<image>"], "prompt: 2 <image> markers; one places all the images"),
]


@pytest.mark.parametrize(("overrides", "message"), GRPO_ERRORS)
def test_grpo_errors_name_their_key(paths, overrides, message):
    with pytest.raises(ConfigError) as error:
        _check(GRPORunConfig, [*_base(paths), *overrides])
    assert message in str(error.value) and "\n" not in str(error.value)


def test_an_sft_runs_tools_are_checked(paths):
    _check(SFTRunConfig, [*_base(paths), "tools=zoom"])
    with pytest.raises(ConfigError, match=r"^tools: unknown value 'zom'; did you mean 'zoom'\?$"):
        _check(SFTRunConfig, [*_base(paths), "tools=zom"])


def test_the_processes_count_in_the_generation_batch(paths, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    options = {"num_generations": 4, "per_device_train_batch_size": 2, "gradient_accumulation_steps": 1}
    check_generation_batch(options)  # 2 x 1 x 2 processes = 4
    with pytest.raises(ConfigError, match=r"of 6 \(per_device_train_batch_size 3 x .* x 2 process"):
        _check(GRPORunConfig, [*_base(paths), "trl.num_generations=4", "trl.per_device_train_batch_size=3"])


PATH_ERRORS = [
    ("model={root}/nowhere", "model: no such folder '{root}/nowhere'"),
    ("model={root}/file.txt", "model: '{root}/file.txt' is a file, not a checkpoint folder"),
    ("model={root}", "model: '{root}' has no config.json; it is not a saved checkpoint"),
    ("model=", "model: a checkpoint folder is required"),
    ("data={root}", "data: '{root}' is a folder; give a file of records"),
    ("data={root}/train.jsonl:{root}/missing.jsonl", "data: no such file '{root}/missing.jsonl'"),
    ("data={root}/empty.jsonl", "data: '{root}/empty.jsonl' is empty"),
    ("data=", "data: a file of training records is required"),
    ("image_root={root}/nowhere", "image_root: no such folder '{root}/nowhere'"),
    ("output_dir={root}/file.txt", "output_dir: '{root}/file.txt' is a file, not a folder"),
    ("output_dir={root}/file.txt/run", "output_dir: '{root}/file.txt' is a file, not a folder"),
]


@pytest.mark.parametrize("config_cls", [SFTRunConfig, GRPORunConfig])
@pytest.mark.parametrize(("override", "message"), PATH_ERRORS)
def test_path_errors_name_their_key(paths, config_cls, override, message):
    with pytest.raises(ConfigError) as error:
        _check(config_cls, [*_base(paths), override.format(root=paths)])
    assert str(error.value).startswith(message.format(root=paths))


def test_a_model_of_an_unknown_family(paths):
    (paths / "model" / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(ConfigError, match="model_type 'llama', not a supported family"):
        _check(SFTRunConfig, _base(paths))


def test_a_hub_id_counts_only_when_it_is_in_the_local_cache(paths, monkeypatch):
    import huggingface_hub.constants

    cache = paths / "hub"
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    with pytest.raises(ConfigError, match="model: no such folder 'org/vlm'"):
        _check(SFTRunConfig, [*_base(paths), "model=org/vlm"])
    snapshot = cache / "models--org--vlm" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (cache / "models--org--vlm" / "refs").mkdir()
    (cache / "models--org--vlm" / "refs" / "main").write_text("abc123")
    (snapshot / "config.json").write_text(json.dumps({"model_type": "qwen3_vl"}))
    _check(SFTRunConfig, [*_base(paths), "model=org/vlm"])


def test_refcoco_reads_a_folder_and_only_a_folder(paths):
    _check(SFTRunConfig, [*_base(paths), f"data={paths}", "format=refcoco"])
    with pytest.raises(ConfigError, match="is not a folder"):
        _check(SFTRunConfig, [*_base(paths), "format=refcoco"])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("trl.max_steps=abc", "trl.max_steps: expected int, got 'abc'"),
        ("trl.max_length=none", "trl.max_length: got 'none'; write null for no value"),
        ("trl.max_lenght=10", "did you mean 'trl.max_length'?"),
    ],
)
def test_sft_trl_errors(paths, override, message):
    with pytest.raises(ConfigError, match=message.replace("?", r"\?").replace("(", r"\(")):
        _check(SFTRunConfig, [*_base(paths), override])


@pytest.fixture
def trained(monkeypatch):
    """Stand-ins for the recipes that record the config they were given instead of training."""
    given = []

    class Trainer:
        state = type("State", (), {"log_history": [], "global_step": 0})()

    def run(cfg):
        given.append(cfg)
        return Trainer()

    monkeypatch.setattr(groundrl.train.sft, "run_sft", run)
    monkeypatch.setattr(groundrl.train.grpo, "run_grpo", run)
    return given


@pytest.mark.parametrize(
    ("command", "override", "message"),
    [
        ("grpo", "trl.max_steps=abc", "groundrl: error: trl.max_steps: expected int, got 'abc'"),
        (
            "grpo",
            "trl.num_generations=3",
            "groundrl: error: trl.num_generations: 3 does not divide the generation batch of 8",
        ),
        ("sft", "output_dir={root}/file.txt", "groundrl: error: output_dir: '{root}/file.txt' is a file, not a folder"),
        ("sft", "data={root}", "groundrl: error: data: '{root}' is a folder"),
        ("sft", "model={root}/nowhere", "groundrl: error: model: no such folder '{root}/nowhere'"),
    ],
)
def test_cli_config_errors_exit_2_with_one_line(paths, trained, command, override, message):
    result = CliRunner().invoke(app, [command, *_base(paths), override.format(root=paths)])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().startswith(message.format(root=paths))
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert trained == []


def test_cli_checks_then_runs_with_report_to_none(paths, trained):
    result = CliRunner().invoke(app, ["grpo", *_base(paths), "trl.report_to=none", "trl.num_generations=4"])
    assert result.exit_code == 0, result.output
    assert [cfg.trl for cfg in trained] == [{"report_to": "none", "num_generations": 4}]
