"""Training on TRL: SFT cold start (`SFTTrainer`) and grounding GRPO (`GRPOTrainer`), with the reward
family, the difficulty-aware weight, LoRA, frozen vision and resumable checkpoints."""
