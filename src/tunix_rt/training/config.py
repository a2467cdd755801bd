"""The child's config file, ``run_config.json`` (docs/training.md), read with pydantic.

``TrainConfig`` is the run contract (``training.params.TrainParams``) plus where things
are; ``GenerateConfig`` uses the contract's generation types. Both refuse unknown keys, so
the child accepts exactly what the API accepts. jax-free.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from tunix_rt.kit.text import ModelRef, Text
from tunix_rt.training.params import (
    GenBatchSize,
    MaxNewTokens,
    Seed,
    Temperature,
    TopP,
    TrainParams,
)

# A run directory holds a final model when this file exists (training.model writes it).
FINAL_MODEL_FILE = Path("model") / "model.json"


class ConfigError(ValueError):
    """The config, its data or its model is invalid; the child exits with code 2."""


def _absolute(value: str) -> str:
    if not Path(value).is_absolute():
        raise ValueError("must be an absolute path")
    return value


AbsPath = Annotated[Text, Field(min_length=1, max_length=4096), AfterValidator(_absolute)]


class TrainConfig(TrainParams):
    """A train or dry-run task: the run's parameters, its model and its files."""

    task: Literal["train", "dry_run"]
    run_id: str = Field(default="run", max_length=200)
    model_id: ModelRef
    output_dir: AbsPath
    train_file: AbsPath
    eval_file: AbsPath | None = None
    # Where local checkpoints may come from (TUNIX_RT_MODEL_DIRS), besides the HF caches.
    model_dirs: list[AbsPath] = Field(default_factory=list, max_length=64)
    # GRPO: the directory of the init_from run (its model/ and tokenizer/), set by the server.
    init_dir: AbsPath | None = None

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class GenerateConfig(BaseModel):
    """A generate task: answer the prompts of ``input_file`` with the model in ``run_dir``
    (a run's final model) or ``model_dir`` (a Hugging Face checkpoint directory, e.g. a
    registered model version)."""

    model_config = ConfigDict(extra="forbid")

    task: Literal["generate"]
    run_dir: AbsPath | None = None
    model_dir: AbsPath | None = None
    input_file: AbsPath
    output_file: AbsPath
    batch_size: GenBatchSize = 32
    max_new_tokens: MaxNewTokens = 256
    temperature: Temperature = 0.0
    top_p: TopP | None = None
    seed: Seed = 0
    run_id: str | None = Field(default=None, max_length=200)
    max_prompt_length: MaxNewTokens | None = None

    @model_validator(mode="after")
    def _one_model(self) -> GenerateConfig:
        if (self.run_dir is None) == (self.model_dir is None):
            raise ValueError("give exactly one of run_dir and model_dir")
        return self

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class ExportConfig(BaseModel):
    """An export task: write ``run_dir``'s final model to ``out_dir`` in the Hugging Face
    layout (config.json, model.safetensors, tokenizer files)."""

    model_config = ConfigDict(extra="forbid")

    task: Literal["export"]
    run_dir: AbsPath
    out_dir: AbsPath


AnyConfig = TrainConfig | GenerateConfig | ExportConfig
ChildConfig = Annotated[AnyConfig, Field(discriminator="task")]
_CHILD_CONFIG: TypeAdapter[AnyConfig] = TypeAdapter(ChildConfig)


def describe_error(exc: ValidationError) -> str:
    """The first problem of a validation error, naming its field."""
    err = exc.errors()[0]
    if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
        got = err.get("ctx", {}).get("tag")
        return f"task: must be 'train', 'dry_run', 'generate' or 'export' (got {got!r})"
    tasks = ("train", "dry_run", "generate", "export")
    where = ".".join(str(p) for p in err["loc"] if p not in tasks)
    message = err["msg"].removeprefix("Value error, ")
    value = err.get("input")
    shown = f" (got {value!r})" if isinstance(value, int | float | str) and value != "" else ""
    return f"{where or 'config'}: {message}{shown}"


def parse_config(text: str | bytes) -> AnyConfig:
    """Validate a config document; ``ConfigError`` names the first bad field."""
    try:
        return _CHILD_CONFIG.validate_json(text)
    except ValidationError as exc:
        raise ConfigError(describe_error(exc)) from None


def load_config(path: str | Path) -> AnyConfig:
    try:
        text = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from None
    return parse_config(text)
