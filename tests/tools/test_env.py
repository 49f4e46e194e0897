"""The zoom environment: what TRL's environment_factory calls, and that GRPOTrainer takes it."""

from __future__ import annotations

import dataclasses
import functools
import math

import torch
from PIL import Image

from groundrl.models.families import FAMILIES
from groundrl.models.templates import use_tool_template
from groundrl.tools.env import ZoomEnvironment, ZoomOptions
from groundrl.tools.zoom import ANSWER_NOW, CROP_TEXT, PRESETS, ZoomLimits, ZoomPreset


def env_on(images, **kw) -> ZoomEnvironment:
    env = ZoomEnvironment(FAMILIES["qwen3-vl"], **kw)
    env.reset(images=images, prompt=[{"role": "user", "content": "Where?"}])
    return env


def test_a_call_returns_the_crop_as_typed_parts():
    parts = env_on([Image.new("RGB", (640, 480))]).search_coordinate([500, 500])
    assert [p["type"] for p in parts] == ["text", "image"]
    assert parts[0]["text"] == CROP_TEXT + "\n" and parts[1]["image"].size == (672, 672)


def test_a_bad_argument_is_a_text_observation():
    parts = env_on([Image.new("RGB", (640, 480))]).search_coordinate("500, 500")
    assert parts == [{"type": "text", "text": 'Error: "coordinate" must be a list of two numbers [x, y].'}]


def test_every_prompt_image_counts_and_the_target_image_is_zoomed():
    images = [Image.new("RGB", (640, 480), "red"), Image.new("RGB", (320, 320), "blue")]
    env = ZoomEnvironment(FAMILIES["qwen3-vl"], limits=ZoomLimits(max_images=3))
    env.reset(images=images, image_index=1)
    parts = env.search_coordinate([500, 500])
    assert parts[1]["image"].getpixel((5, 5)) == (0, 0, 255)  # the blue one
    assert parts[-1] == {"type": "text", "text": "\n" + ANSWER_NOW}  # 2 prompt images + 1 crop: the limit


def test_the_crop_is_cut_from_the_original_file_when_the_row_names_it(tmp_path):
    """A 4 px red mark that the model's downscale (2000 -> 480 px here) blurs away is in the crop of the file."""
    original = Image.new("RGB", (2000, 2000), "white")
    original.paste((255, 0, 0), (998, 998, 1002, 1002))
    original.save(tmp_path / "big.png")
    family = dataclasses.replace(FAMILIES["qwen3-vl"], max_pixels=500 * 500)  # the processor's pixel budget
    seen = original.resize(family.input_size(2000, 2000), Image.Resampling.BICUBIC)  # the row's image
    crops = []
    for row in ({"images": [seen]}, {"images": [seen], "image_paths": [str(tmp_path / "big.png")]}):
        env = ZoomEnvironment(family, ZoomPreset(8, 64))
        env.reset(**row)
        crops.append(env.search_coordinate([500, 500])[1]["image"])  # norm1000: the centre
    least_green = [min(c.getpixel((x, y))[1] for x in range(64) for y in range(64)) for c in crops]
    assert least_green[1] == 0 and least_green[0] > 100  # pure red in the file's crop; pale in the seen one


def test_options_build_the_factory_trl_calls_once_per_rollout():
    factory = ZoomOptions("web", half=50, size=384, max_images=3, max_turns=2).factory(FAMILIES["qwen3-vl"])
    env = factory()
    assert factory() is not env and env.limits == ZoomLimits(max_images=3, max_turns=2)
    assert env.preset == ZoomPreset(50, 384, dot_radius=PRESETS["web"].dot_radius)
    env.reset(images=[Image.new("RGB", (640, 480))])
    first, second = env.search_coordinate([500, 500]), env.search_coordinate([100, 100])
    assert first[1]["image"].size == (384, 384) and first[-1]["type"] == "image"
    assert second[-1] == {"type": "text", "text": "\n" + ANSWER_NOW}  # max_turns=2: the second call is the last


CALL = '<tool_call>\n{"name": "search_coordinate", "arguments": {"coordinate": [20, 16]}}\n</tool_call><|im_end|>'
ANSWER = "<answer>red</answer><|im_end|>"


def grpo_trainer(path, tmp_path, **config):
    from datasets import Dataset
    from transformers import AutoModelForImageTextToText, AutoProcessor
    from trl import GRPOConfig, GRPOTrainer

    processor = use_tool_template(AutoProcessor.from_pretrained(path), FAMILIES["qwen2.5-vl"])
    image = Image.new("RGB", (56, 56), "red")
    prompt = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What colour? Zoom in."}]}]
    data = Dataset.from_list([{"prompt": prompt, "images": [image]} for _ in range(2)])
    args = GRPOConfig(
        output_dir=str(tmp_path),
        max_steps=1,
        per_device_train_batch_size=2,
        num_generations=2,
        report_to=[],
        save_strategy="no",
        use_cpu=True,
        logging_steps=1,
        **config,
    )
    return GRPOTrainer(
        model=AutoModelForImageTextToText.from_pretrained(path),
        reward_funcs=[lambda completions, **kw: [float(len(str(c))) for c in completions]],
        args=args,
        train_dataset=data,
        processing_class=processor,
        # a crop of 56 px keeps the tool turn to a few image tokens
        environment_factory=functools.partial(ZoomEnvironment, FAMILIES["qwen2.5-vl"], ZoomPreset(20, 56)),
    )


def test_grpo_trainer_takes_the_environment_and_steps(tiny_models, tmp_path):
    trainer = grpo_trainer(tiny_models["qwen2.5-vl"], tmp_path, max_completion_length=8)
    assert [t.__name__ for t in trainer.tools] == ["search_coordinate"]
    trainer.train()
    losses = [log["loss"] for log in trainer.state.log_history if "loss" in log]
    assert len(losses) == 1 and math.isfinite(losses[0])


def test_grpo_rollout_with_a_zoom_masks_the_tool_turn_from_the_loss(tiny_models, tmp_path):
    """A scripted policy calls the tool once, then answers: TRL runs the environment, appends the crop and
    masks exactly the tool turn (its tokens are the ones the model did not write)."""
    trainer = grpo_trainer(tiny_models["qwen2.5-vl"], tmp_path, max_completion_length=400)
    tokenizer = trainer.processing_class.tokenizer
    model = trainer.model

    def scripted(input_ids, **kw):  # first turn: the call; after a tool response: the answer
        seen = tokenizer.decode(input_ids[0])
        reply = ANSWER if "<tool_response>" in seen else CALL
        ids = tokenizer(reply, add_special_tokens=False, return_tensors="pt").input_ids.repeat(input_ids.shape[0], 1)
        return torch.cat([input_ids, ids], dim=1)

    model.generate = scripted
    outputs = []
    produce = trainer._generate_and_score_completions
    trainer._generate_and_score_completions = lambda inputs: outputs.append(produce(inputs)) or outputs[-1]
    trainer.train()
    out = outputs[0]
    ids, mask, tool = out["completion_ids"][0], out["completion_mask"][0], out["tool_mask"][0]
    model_text = tokenizer.decode(ids[(mask * tool).bool()])
    tool_text = tokenizer.decode(ids[(mask * (1 - tool)).bool()])
    assert model_text.count("search_coordinate") == 1 and "<answer>red</answer>" in model_text
    assert "<tool_response>" not in model_text and "<|image_pad|>" not in model_text
    assert "<tool_response>" in tool_text and "crop of the image" in tool_text and "<|image_pad|>" in tool_text
    assert "search_coordinate" not in tool_text and "<answer>" not in tool_text
    assert out["image_grid_thw"].shape[0] == 4  # 2 rollouts x (the image + its crop)
    metrics = trainer.state.log_history[0]
    assert metrics["tools/call_frequency"] == 1.0 and metrics["tools/failure_frequency"] == 0.0
