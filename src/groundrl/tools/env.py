"""The zoom tool as an environment for TRL's `GRPOTrainer(environment_factory=...)`.

TRL builds one instance per rollout, calls `reset(**row)` with the dataset row (its `images` included), and
exposes every public method as a tool whose JSON schema it reads from the signature and docstring. The
method returns typed parts; TRL appends the crop to the sample, expands its image tokens and masks the tool
turn from the loss. TRL forces no answer at its cap, so the last observation carries `ZoomLimits.answer_now`.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PIL import Image
from transformers.utils.chat_template_utils import render_jinja_template

from groundrl.data.images import load_image
from groundrl.models.families import Family
from groundrl.models.templates import TOOL_TEMPLATES
from groundrl.tools.zoom import PRESETS, ZoomLimits, ZoomPreset, ZoomSession, coordinate_call


@dataclass(frozen=True)
class ZoomOptions:
    """The zoom tool of a run (`zoom:` in a GRPO config).

    Attributes:
        preset: qa (+-182 px -> 672 px) or web (+-100 px -> 512 px, red dot); see `tools.zoom.PRESETS`.
        half: the window's half side in seen pixels, instead of the preset's (ViGoRL's RL script: 50).
        size: the crop's side in pixels, instead of the preset's (ViGoRL's RL script: 384).
        max_images: images per trajectory, the prompt's included (ViGoRL: 5).
        max_turns: tool calls per trajectory (ViGoRL: 5); also TRL's `max_tool_calling_iterations`.
    """

    preset: str = "qa"
    half: int | None = None
    size: int | None = None
    max_images: int = 5
    max_turns: int = 5

    def zoom_preset(self) -> ZoomPreset:
        """The preset with `half` and `size` applied.

        >>> ZoomOptions("web", size=384).zoom_preset()
        ZoomPreset(half=100, size=384, dot_radius=7)
        """
        base = PRESETS[self.preset]
        return dataclasses.replace(base, half=self.half or base.half, size=self.size or base.size)

    def limits(self) -> ZoomLimits:
        return ZoomLimits(max_images=self.max_images, max_turns=self.max_turns)

    def factory(self, family: Family) -> Callable[[], ZoomEnvironment]:
        """TRL's `environment_factory`: a fresh environment per rollout, for the family (with its processor's
        pixel bounds, see `train.data.processor_family`)."""
        return functools.partial(ZoomEnvironment, family, self.zoom_preset(), self.limits())


class ZoomEnvironment:
    """One rollout's zoom tool over the row's target image.

    The window is measured in pixels of the image as the model saw it (ViGoRL's); the crop is cut from the
    original file when the row names it (`image_paths`, as GroundRL's GRPO rows do), so that a crop shows
    the detail the model's own downscale lost, as multi-turn evaluation's crops do; else from the row's image.
    The original is decoded on the first call only.

    >>> from PIL import Image
    >>> from groundrl.models.families import FAMILIES
    >>> env = ZoomEnvironment(FAMILIES["qwen3-vl"])
    >>> env.reset(images=[Image.new("RGB", (640, 480))], prompt=[])
    >>> [p["type"] for p in env.search_coordinate([500, 500])]
    ['text', 'image']
    """

    def __init__(self, family: Family, preset: ZoomPreset = PRESETS["qa"], limits: ZoomLimits | None = None) -> None:
        self.family = family
        self.preset = preset
        self.limits = limits or ZoomLimits()
        self.session: ZoomSession | None = None
        self._target: str | Image.Image | None = None
        self._images_used = 0

    def reset(self, **row: Any) -> None:
        """Start a rollout on the row's target image (`image_index`, default the first); every image of the
        prompt counts towards the image limit."""
        images = row.get("images") or []
        paths = row.get("image_paths") or []
        index = row.get("image_index") or 0
        self._target = paths[index] if index < len(paths) else images[index]
        self._images_used = len(images)
        self.session = None

    def search_coordinate(self, coordinate: list[float]) -> list[dict]:
        """Crop the image around a point and show the crop at a higher resolution.

        Args:
            coordinate: [x, y], the point to look at, in the coordinates of the full image.
        """
        if self._target is None:
            raise RuntimeError("ZoomEnvironment.search_coordinate before reset")
        if self.session is None:
            image = load_image(self._target) if isinstance(self._target, str) else self._target
            self.session = ZoomSession(image, self.family, self.preset, self.limits, images_used=self._images_used)
        return self.session.answer(coordinate_call(coordinate)).as_parts()


TOOLS_SYSTEM = "tools"  # the setting (eval's zoom_system, synth's --system) that asks for tool_system_text


def tool_system_text(family: Family) -> str:
    """The system turn a zoom GRPO run's prompts open with: the family's tool template
    (`models.templates.TOOL_TEMPLATES`) renders the zoom tool's schema there. Give it to SFT chains
    (`ChainOptions.system`, `groundrl synth --system tools`) and to evaluation (`zoom_system=tools`) so that a
    model is trained and judged on the prompt its GRPO rollouts see, token for token
    (tests/tools/test_tool_prompts.py).

    >>> from groundrl.models.families import FAMILIES
    >>> tool_system_text(FAMILIES["qwen3-vl"]).splitlines()[0]
    '# Tools'
    """
    tools = [ZoomEnvironment(family).search_coordinate]
    rendered, _ = render_jinja_template(
        [[{"role": "user", "content": "x"}]], tools=tools, chat_template=TOOL_TEMPLATES[family.name]
    )
    text = rendered[0]
    opening = "<|im_start|>system\n"
    if not text.startswith(opening):
        raise ValueError(f"{family.name}: the tool template renders no system turn for the tool")
    return text[len(opening) : text.index("<|im_end|>")]
