"""The run contract: the one definition of a run's training and generation parameters.

Every consumer takes its fields, bounds and defaults from here: the API's run request
(``runs.schemas.RunRequest`` extends ``TrainParams``), the SFT manifest, the CLI (which
validates through ``RunRequest``), the web form (through the OpenAPI schema) and the
training child, which reads ``run_config.json`` as a ``training.config.TrainConfig`` (also
a ``TrainParams``) and so refuses exactly what the API refuses. Evaluation's generation
settings share the ``Gen*`` types with the child's ``GenerateConfig`` the same way.

tests/test_run_contract.py drives every bound through each consumer.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

CompletionFormat = Literal["reasoning", "answer_only"]
# Training algorithm. GRPO (SPEC §10) arrives as a second value with its own parameters.
Method = Literal["sft"]

STEPS_MAX = 10_000_000
SEED_MAX = 2**31 - 1

LearningRate = Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]
NumEpochs = Annotated[int, Field(ge=1, le=100)]
BatchSize = Annotated[int, Field(ge=1, le=512)]
MaxSeqLength = Annotated[int, Field(ge=16, le=32768)]
Steps = Annotated[int, Field(ge=1, le=STEPS_MAX)]
WarmupSteps = Annotated[int, Field(ge=0, le=STEPS_MAX)]
Seed = Annotated[int, Field(ge=0, le=SEED_MAX)]
LoraRank = Annotated[int, Field(ge=0, le=1024)]
LoraAlpha = Annotated[float, Field(gt=0, le=1e6, allow_inf_nan=False)]
WeightDecay = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]

GenBatchSize = Annotated[int, Field(ge=1, le=1024)]
MaxNewTokens = Annotated[int, Field(ge=1, le=32768)]
Temperature = Annotated[float, Field(ge=0, le=2, allow_inf_nan=False)]
TopP = Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]


class TrainParams(BaseModel):
    """How to train: optimiser, schedule, sizes, seed, adapter and what the loss sees."""

    model_config = ConfigDict(extra="forbid")

    learning_rate: LearningRate = 2e-5
    num_epochs: NumEpochs = 3
    batch_size: BatchSize = 8
    max_seq_length: MaxSeqLength = 2048
    max_steps: Steps | None = Field(default=None, description="Stop after this many steps.")
    seed: Seed = 0
    method: Method = Field(default="sft", description="Training method (sft; grpo later).")
    lora_rank: LoraRank = Field(default=0, description="0 = full fine-tune.")
    lora_alpha: LoraAlpha | None = Field(default=None, description="LoRA scale; default 2×rank.")
    weight_decay: WeightDecay = Field(default=0.0, description="AdamW weight decay.")
    eval_every: Steps | None = Field(default=None, description="Eval-loss interval in steps.")
    checkpoint_every: Steps | None = Field(default=None, description="Checkpoint interval.")
    warmup_steps: WarmupSteps | None = Field(default=None, description="Linear warm-up steps.")
    completion_format: CompletionFormat = Field(
        default="reasoning", description="Train on steps + answer, or on the answer only."
    )
    group_by_length: bool = Field(
        default=False,
        description=(
            "Batch examples of similar length together, each batch padded only to its "
            "longest example (rounded up to 32 tokens): less compute on padding when "
            "lengths differ a lot."
        ),
    )


TRAIN_PARAM_FIELDS = frozenset(TrainParams.model_fields)


def train_params_of(config: dict[str, object]) -> TrainParams:
    """The training parameters held in a stored run config (which has more keys)."""
    return TrainParams.model_validate({k: v for k, v in config.items() if k in TRAIN_PARAM_FIELDS})
