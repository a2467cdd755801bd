"""GRPO rollouts through the product's Gemma decoder (imports jax: child process only).

Tunix's RL cluster samples each step's completions with a rollout engine; its "vanilla"
engine wraps Tunix's ``Sampler``, whose KV-cache layout costs XLA:CPU a transpose of the
whole cache every decode step (see ``training.decode``). At a GRPO batch (prompts ×
completions, 128 rows in the demo) that made sampling about as slow as the update itself.
``DecoderRollout`` is a Tunix rollout engine (``base_rollout.BaseRollout``) that samples
with ``decode.GemmaDecoder`` instead: the same model, the same top-p rule and the same
random draws for a seed (the decoder follows the sampler's ``fold_in(key, step)``), so it
returns the tokens the vanilla engine would, in the form the learner reads (completions
cut before their first end token, prompts left-padded to the rollout's prompt length).

The engine samples from the actor itself (Tunix shares the actor's weights with a custom
engine), reading the weights at every call, so it always samples the current policy and
needs no weight sync. Models the decoder does not handle (LoRA-wrapped, other families)
keep Tunix's engine (``engine_for``).
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from flax import nnx
from tunix.generate.tokenizer_adapter import TokenizerAdapter
from tunix.rl import common
from tunix.rl.rollout import base_rollout

from tunix_rt.training import decode
from tunix_rt.training.generate import prompt_ids, until_eos
from tunix_rt.training.grpo_prepare import PROMPT_ROUND


class DecoderRollout(base_rollout.BaseRollout):  # type: ignore[misc]
    """A Tunix rollout engine that samples with ``decode.GemmaDecoder``."""

    def __init__(
        self,
        rollout_actor: Any,
        tokenizer: Any,
        mesh: Any = None,
        rollout_config: base_rollout.RolloutConfig | None = None,
    ) -> None:
        del mesh, rollout_config  # one process's devices; the config comes with each call
        self._model = rollout_actor
        self._tokenizer = TokenizerAdapter(tokenizer)

    def generate(
        self, prompts: list[str], rollout_config: base_rollout.RolloutConfig, **kwargs: Any
    ) -> base_rollout.RolloutOutput:
        del kwargs
        tok = self._tokenizer
        pad = int(tok.pad_id())
        ids = [prompt_ids(tok, text) for text in prompts]
        width = max(rollout_config.max_prompt_length, max(len(row) for row in ids))
        if width > rollout_config.max_prompt_length:  # longer than planned: round up too
            width = -(-width // PROMPT_ROUND) * PROMPT_ROUND
        padded = np.full((len(ids), width), pad, dtype=np.int32)
        for i, row in enumerate(ids):
            padded[i, width - len(row) :] = row
        eos = tuple(int(e) for e in (rollout_config.eos_tokens or [tok.eos_id()]))
        # The weights as they are now (the actor trains between calls); one device, so a
        # seed draws the same tokens on any machine.
        decoder = decode.GemmaDecoder(self._model, devices=[])
        out, _ = decoder(
            padded,
            max_new_tokens=rollout_config.max_tokens_to_generate,
            eos_ids=eos,
            pad_id=pad,
            temperature=float(rollout_config.temperature),
            top_p=1.0 if rollout_config.top_p is None else float(rollout_config.top_p),
            # As Tunix's sampler: the same key at every call, the rows drawing apart
            # within the batch.
            seed=_seed(rollout_config.seed),
        )
        tokens = [np.asarray(until_eos(row, eos), dtype=np.int32) for row in out]
        return base_rollout.RolloutOutput(
            text=[tok.decode(row.tolist()) for row in tokens],
            logits=None,  # the learner does not read them
            tokens=tokens,
            left_padded_prompt_tokens=padded,
            logprobs=None,
        )

    def get_per_token_logps(self, prompt_tokens: jax.Array, completion_tokens: jax.Array) -> Any:
        graphdef, state = nnx.split(self._model)
        return common.compute_per_token_logps(
            graphdef,
            state,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            pad_id=self.pad_id(),
            eos_id=self.eos_id(),
            stop_gradient=True,
            return_logits=False,
        )

    def update_params(self, params: Any, filter_types: Any = None) -> None:
        nnx.update(self._model, params)  # only when Tunix did not share the actor

    def pad_id(self) -> int:
        return int(self._tokenizer.pad_id())

    def eos_id(self) -> int:
        return int(self._tokenizer.eos_id())

    def model(self) -> Any:
        return self._model


def _seed(seed: Any) -> int:
    """An int seed as it is; a raw ``PRNGKey(n)`` (``[0, n]``) as ``n``."""
    if seed is None:
        return 0
    return int(np.asarray(seed).ravel()[-1])


def engine_for(model: Any) -> str | type[base_rollout.BaseRollout]:
    """The rollout engine for ``model``: the decoder where it handles the model, else
    Tunix's vanilla sampler."""
    return DecoderRollout if decode.supports(model) else "vanilla"
