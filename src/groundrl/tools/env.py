"""The zoom tool as an environment for TRL's `GRPOTrainer(environment_factory=...)`.

TRL builds one instance per rollout, calls `reset(**row)` with the dataset row (its `images` included), and
exposes every public method as a tool whose JSON schema it reads from the signature and docstring. The
method returns typed parts; TRL appends the crop to the sample, expands its image tokens and masks the tool
turn from the loss. TRL forces no answer at its cap, so the last observation carries `ZoomLimits.answer_now`.
"""

from __future__ import annotations

from typing import Any

from groundrl.models.families import Family
from groundrl.tools.zoom import PRESETS, ZoomLimits, ZoomPreset, ZoomSession, coordinate_call


class ZoomEnvironment:
    """One rollout's zoom tool over the row's image.

    The crops are cut from the row's image, the image as the model saw it (GRPO rows hold images resized to
    the model's input size), as ViGoRL cuts them.

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

    def reset(self, **row: Any) -> None:
        """Start a rollout on the row's target image (`image_index`, default the first); every image of the
        prompt counts towards the image limit."""
        images = row.get("images") or []
        target = images[row.get("image_index") or 0]
        self.session = ZoomSession(target, self.family, self.preset, self.limits, images_used=len(images))

    def search_coordinate(self, coordinate: list[float]) -> list[dict]:
        """Crop the image around a point and show the crop at a higher resolution.

        Args:
            coordinate: [x, y], the point to look at, in the coordinates of the full image.
        """
        if self.session is None:
            raise RuntimeError("ZoomEnvironment.search_coordinate before reset")
        return self.session.answer(coordinate_call(coordinate)).as_parts()
