"""Launched by test_distributed.py under torch.distributed.run: 2 GRPO steps, then each rank writes a
checksum of its weights so the test can check that the ranks agree."""

import hashlib
import sys
from pathlib import Path

import torch
from transformers import TrainerCallback

from groundrl.rewards import RewardSpec
from groundrl.train import grpo


class WeightChecksum(TrainerCallback):
    def on_train_end(self, args, state, control, model=None, **kwargs):
        digest = hashlib.sha256()
        for _, p in sorted(model.named_parameters()):
            digest.update(p.detach().cpu().numpy().tobytes())
        rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
        (Path(args.output_dir) / f"weights-rank{rank}.sha256").write_text(digest.hexdigest())


def main() -> None:
    model, data, out = sys.argv[1:4]
    cfg = grpo.GRPORunConfig(
        model=model,
        data=data,
        output_dir=out,
        rewards=[RewardSpec("length_penalty", 1.0, {"max_chars": 8}), RewardSpec("repetition_penalty", 1.0, {"n": 1})],
        difficulty="exp",
        difficulty_reward="iou",
        trl={
            "max_steps": 2,
            "per_device_train_batch_size": 4,
            "num_generations": 4,
            "max_completion_length": 8,
            "learning_rate": 1e-2,
            "save_strategy": "no",
            "ddp_backend": "gloo",
        },
    )
    trainer = grpo.build_trainer(cfg, callbacks=[WeightChecksum()])
    trainer.train()


if __name__ == "__main__":  # pytest imports this file while collecting doctests
    main()
