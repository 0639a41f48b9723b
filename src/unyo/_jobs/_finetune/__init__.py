"""Fine-tuning: validate a dataset, estimate and reserve its cost, run and follow the job, use the model."""

from unyo._jobs._finetune import _api as finetune

__all__ = ["finetune"]
