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

import uuid
from dataclasses import asdict, dataclass, field, replace
from typing import Annotated, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

from tunix_rt.kit.text import ModelRef

CompletionFormat = Literal["reasoning", "answer_only"]
# Training algorithm (SPEC §10): supervised fine-tuning, or GRPO from a trained model.
Algorithm = Literal["sft", "grpo"]
# GRPO's reward functions by name (tunix_rt.training.rewards implements each).
RewardName = Literal["answer_correctness", "format", "step_validity"]
REWARD_NAMES: tuple[RewardName, ...] = ("answer_correctness", "format", "step_validity")

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

NumGenerations = Annotated[int, Field(ge=2, le=64)]
Beta = Annotated[float, Field(ge=0, le=10, allow_inf_nan=False)]
FilterSamples = Annotated[int, Field(ge=2, le=64)]
SamplingTemperature = Annotated[float, Field(gt=0, le=2, allow_inf_nan=False)]
RolloutTokens = Annotated[int, Field(ge=1, le=8192)]
RewardWeight = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]

# What a GRPO run uses for each of its parameters left out.
DEFAULT_REWARD_WEIGHTS: dict[str, float] = {
    "answer_correctness": 1.0,
    "format": 0.1,
    "step_validity": 0.2,
}


@dataclass(frozen=True)
class GrpoSettings:
    """A GRPO run's own parameters, defaults filled in (``grpo_settings``)."""

    num_generations: int = 4
    beta: float = 0.04
    temperature: float = 0.9
    max_new_tokens: int = 256
    rewards: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_REWARD_WEIGHTS))
    filter_samples: int = 0  # 0: train on every prompt

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


GRPO_DEFAULTS = GrpoSettings()
GRPO_FIELDS = (*GrpoSettings.__dataclass_fields__, "init_from")
# SFT settings that mean nothing to GRPO (it trains on the model's own samples).
SFT_ONLY = {
    "completion_format": "reasoning",
    "group_by_length": False,
    "packing": False,
    "lora_rank": 0,
}


class InitFrom(BaseModel):
    """The trained model a run continues from: a completed local run, or a registered
    model version (``name@version|alias``, SPEC §11)."""

    model_config = ConfigDict(extra="forbid")

    run_id: uuid.UUID | None = Field(
        default=None, description="A completed local run with a final model."
    )
    model: ModelRef | None = Field(
        default=None, description="Or a registered model: name@version or name@alias."
    )

    @model_validator(mode="after")
    def _one_source(self) -> InitFrom:
        if (self.run_id is None) == (self.model is None):
            raise ValueError("give exactly one of run_id and model")
        return self


class TrainParams(BaseModel):
    """How to train: optimiser, schedule, sizes, seed, adapter and what the loss sees."""

    model_config = ConfigDict(extra="forbid")

    learning_rate: LearningRate = 2e-5
    num_epochs: NumEpochs = 3
    batch_size: BatchSize = 8
    max_seq_length: MaxSeqLength = 2048
    max_steps: Steps | None = Field(default=None, description="Stop after this many steps.")
    seed: Seed = 0
    algorithm: Algorithm = Field(
        default="sft",
        validation_alias=AliasChoices("algorithm", "method"),
        description=(
            "sft: supervised fine-tuning on the dataset's completions; grpo: reinforcement "
            "learning (Tunix GRPO) on the dataset's prompts from init_from's model. "
            "'method' is accepted as another name."
        ),
    )
    init_from: InitFrom | None = Field(
        default=None,
        description="GRPO: the completed run (run_id) or registered model (model) it starts from.",
    )
    num_generations: NumGenerations | None = Field(
        default=None, description="GRPO: completions sampled per prompt (default 4)."
    )
    beta: Beta | None = Field(
        default=None, description="GRPO: weight of the KL penalty to the start model (0.04)."
    )
    temperature: SamplingTemperature | None = Field(
        default=None, description="GRPO: sampling temperature of the rollouts (0.9)."
    )
    max_new_tokens: RolloutTokens | None = Field(
        default=None, description="GRPO: longest completion sampled, in tokens (256)."
    )
    rewards: dict[RewardName, RewardWeight] | None = Field(
        default=None,
        description=(
            "GRPO: weights by reward function, merged over the defaults "
            "(answer_correctness 1, format 0.1, step_validity 0.2); 0 turns one off."
        ),
    )
    filter_samples: FilterSamples | None = Field(
        default=None,
        description=(
            "GRPO: before training, sample each train prompt this many times with the start "
            "model and train only on the prompts whose samples earned different rewards "
            "(a prompt whose completions all score alike gives GRPO no signal); screening "
            "stops once there are enough for max_steps. Default: every prompt."
        ),
    )
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
    packing: bool = Field(
        default=False,
        description=(
            "Lay several whole examples end to end in each row of max_seq_length tokens "
            "(each attends only to itself; positions restart): less compute on padding. "
            "batch_size then counts rows, and an epoch has fewer steps."
        ),
    )


TRAIN_PARAM_FIELDS = frozenset(TrainParams.model_fields)


def train_params_of(config: dict[str, object]) -> TrainParams:
    """The training parameters held in a stored run config (which has more keys; configs
    stored before GRPO name the algorithm ``method``)."""
    fields = TRAIN_PARAM_FIELDS | {"method"}
    return TrainParams.model_validate({k: v for k, v in config.items() if k in fields})


def algorithm_problem(params: TrainParams) -> tuple[str, str] | None:
    """The first (field, message) that the chosen algorithm does not allow, or None: GRPO
    needs ``init_from`` and takes no SFT-only setting; SFT takes no GRPO parameter."""
    if params.algorithm == "sft":
        for name in GRPO_FIELDS:
            if getattr(params, name) is not None:
                return name, "only for algorithm 'grpo' (this run's algorithm is 'sft')"
        if params.packing and params.group_by_length:
            return "packing", "cannot be combined with group_by_length (packed rows are full)"
        return None
    if params.init_from is None:
        return "init_from", "algorithm 'grpo' needs the run to start from: {\"run_id\": ...}"
    for name, neutral in SFT_ONLY.items():
        if getattr(params, name) != neutral:
            return name, f"not used by algorithm 'grpo' (leave it out or {neutral!r})"
    if not any(w > 0 for w in grpo_settings(params).rewards.values()):
        return "rewards", "at least one reward needs a weight above 0"
    new_tokens = params.max_new_tokens or GRPO_DEFAULTS.max_new_tokens
    if new_tokens >= params.max_seq_length:
        return "max_new_tokens", (
            f"must leave room for the prompt within max_seq_length ({params.max_seq_length})"
        )
    return None


def grpo_settings(params: TrainParams) -> GrpoSettings:
    """A GRPO run's parameters with the defaults filled in; ``rewards`` given are merged
    over the default weights (a weight of 0 turns a reward off)."""
    given: dict[str, object] = {
        name: value
        for name in GrpoSettings.__dataclass_fields__
        if (value := getattr(params, name)) is not None
    }
    if params.rewards is not None:
        weights: dict[str, float] = dict(GRPO_DEFAULTS.rewards)
        weights.update({str(name): weight for name, weight in params.rewards.items()})
        given["rewards"] = weights
    return replace(GRPO_DEFAULTS, **given)  # type: ignore[arg-type]
