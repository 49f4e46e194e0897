"""`groundrl predict`: ground one expression in one image and draw the answer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from groundrl.cli.common import fail
from groundrl.config import ConfigError


def predict(
    expression: Annotated[str, typer.Argument(help='What to find, e.g. "the man in red".')],
    model: Annotated[str, typer.Option(help="Checkpoint folder.")],
    image: Annotated[Path, typer.Option(help="The image.")],
    out: Annotated[
        Path | None, typer.Option(help="Where to write the image with the answer drawn (default: IMAGE.pred.png).")
    ] = None,
    task: Annotated[str, typer.Option(help="box or point.")] = "box",
    max_new_tokens: Annotated[int, typer.Option(min=1)] = 256,
) -> None:
    """Print the box (or point) in original-image pixels as JSON and write the image with it drawn."""
    from PIL import ImageDraw

    from groundrl.boxes.score import predict_box, predict_point
    from groundrl.data.images import ImageProblem, load_image
    from groundrl.data.records import Record
    from groundrl.engines.base import Prompt, Sampling
    from groundrl.engines.hf import TransformersEngine
    from groundrl.models.families import get_family
    from groundrl.models.prompts import build_messages
    from groundrl.train.preflight import check_model

    if task not in ("box", "point"):
        fail(f"--task: expected box or point, got {task!r}")
    try:
        check_model(model, None)  # the recipes' check: a missing folder is named, not a hub repo-id error
    except ConfigError as e:
        fail(str(e).replace("model:", "--model:", 1))
    try:
        picture = load_image(image)
    except ImageProblem as e:
        fail(e)
    engine = TransformersEngine(model, batch_size=1)
    family = get_family(engine.model_type)
    record = Record(id=0, images=[str(image)], image_sizes=[list(picture.size)], task="rec", question=expression)
    output = engine.generate(
        [Prompt(build_messages(record, family), [picture])], Sampling(max_new_tokens=max_new_tokens)
    )[0][0].text
    frame = family.frame(*picture.size)
    answer = (predict_box if task == "box" else predict_point)(output, frame, *picture.size)
    print(json.dumps({task: answer, "output": output}))
    if answer is not None:
        draw = ImageDraw.Draw(picture)
        width = max(2, round(max(picture.size) / 200))
        if task == "box":
            draw.rectangle(answer, outline=(230, 30, 30), width=width)
        else:
            r = 4 * width
            draw.ellipse(
                [answer[0] - r, answer[1] - r, answer[0] + r, answer[1] + r], outline=(230, 30, 30), width=width
            )
    target = out or image.with_suffix(".pred.png")
    picture.save(target)
