"""The zoom environment: what TRL's environment_factory calls, and that GRPOTrainer takes it."""

from __future__ import annotations

import functools
import math

import pytest
from PIL import Image

from groundrl.models.families import FAMILIES
from groundrl.tools.env import ZoomEnvironment
from groundrl.tools.zoom import ANSWER_NOW, CROP_TEXT, ZoomLimits


def env_on(images, **kw) -> ZoomEnvironment:
    env = ZoomEnvironment(FAMILIES["qwen3-vl"], **kw)
    env.reset(images=images, prompt=[{"role": "user", "content": "Where?"}])
    return env


def test_a_call_returns_the_crop_as_typed_parts():
    parts = env_on([Image.new("RGB", (640, 480))]).search_coordinate([500, 500])
    assert [p["type"] for p in parts] == ["text", "image"]
    assert parts[0]["text"] == CROP_TEXT and parts[1]["image"].size == (672, 672)


def test_a_bad_argument_is_a_text_observation():
    parts = env_on([Image.new("RGB", (640, 480))]).search_coordinate("500, 500")
    assert parts == [{"type": "text", "text": 'Error: "coordinate" must be a list of two numbers [x, y].'}]


def test_every_prompt_image_counts_and_the_target_image_is_zoomed():
    images = [Image.new("RGB", (640, 480), "red"), Image.new("RGB", (320, 320), "blue")]
    env = ZoomEnvironment(FAMILIES["qwen3-vl"], limits=ZoomLimits(max_images=3))
    env.reset(images=images, image_index=1)
    parts = env.search_coordinate([500, 500])
    assert parts[1]["image"].getpixel((5, 5)) == (0, 0, 255)  # the blue one
    assert parts[-1] == {"type": "text", "text": ANSWER_NOW}  # 2 prompt images + 1 crop: the limit


def test_grpo_trainer_takes_the_environment_and_steps(tiny_models, tmp_path):
    pytest.importorskip("trl")
    from datasets import Dataset
    from transformers import AutoModelForImageTextToText, AutoProcessor
    from trl import GRPOConfig, GRPOTrainer
    from trl.chat_template_utils import qwen3_vl_chat_template

    path = tiny_models["qwen2.5-vl"]
    processor = AutoProcessor.from_pretrained(path)
    processor.chat_template = qwen3_vl_chat_template  # Qwen2.5-VL's own template renders no tools
    processor.tokenizer.chat_template = qwen3_vl_chat_template
    image = Image.new("RGB", (56, 56), "red")
    prompt = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What colour? Zoom in."}]}]
    data = Dataset.from_list([{"prompt": prompt, "images": [image]} for _ in range(2)])
    args = GRPOConfig(
        output_dir=str(tmp_path),
        max_steps=1,
        per_device_train_batch_size=2,
        num_generations=2,
        max_completion_length=8,
        report_to=[],
        save_strategy="no",
        use_cpu=True,
        logging_steps=1,
    )
    trainer = GRPOTrainer(
        model=AutoModelForImageTextToText.from_pretrained(path),
        reward_funcs=[lambda completions, **kw: [float(len(str(c))) for c in completions]],
        args=args,
        train_dataset=data,
        processing_class=processor,
        environment_factory=functools.partial(ZoomEnvironment, FAMILIES["qwen2.5-vl"]),
    )
    assert [t.__name__ for t in trainer.tools] == ["search_coordinate"]
    trainer.train()
    losses = [log["loss"] for log in trainer.state.log_history if "loss" in log]
    assert len(losses) == 1 and math.isfinite(losses[0])
