"""GRPO with Tunix's learner (``tunix.rl``) from a trained run's model (imports jax: child
process only).

The actor and the frozen reference both start as the ``init_dir`` run's final model; each
step samples ``num_generations`` completions per prompt (``training.rollout``: the
product's decoder as Tunix's rollout engine, or Tunix's own for models it does not handle),
scores them with the run's weighted reward functions (``training.rewards``) and updates
the actor with the GRPO loss (group-normalised advantages, clipped ratio, KL to the
reference weighted by ``beta``). Checkpoints go to ``checkpoints/actor/<step>`` and a
resumed attempt continues from the newest one (Tunix restores the actor and skips the
batches already used); the final model is saved like an SFT run's.

Per step the child reports one ``metric`` event: the GRPO loss, KL, the mean and standard
deviation of the summed reward over the step's completions, and accuracy (the share of
completions whose answer is right), besides the learning rate and speed.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import jax
import numpy as np
import optax
import orbax.checkpoint as ocp
from jax.sharding import AxisType
from tunix.rl import rl_cluster as rl_cluster_lib
from tunix.rl.grpo import grpo_learner
from tunix.rl.rollout import base_rollout

from tunix_rt.kit.jsonl import write_json
from tunix_rt.training import model as model_lib
from tunix_rt.training.data import batch_indices
from tunix_rt.training.grpo_prepare import GrpoPrepared, Prompt
from tunix_rt.training.prepare import CHECKPOINTS_DIR
from tunix_rt.training.protocol import MetricsFile, elapsed, emit, say
from tunix_rt.training.resolve import inspect_hf_dir
from tunix_rt.training.rewards import REWARDS, weighted_rewards
from tunix_rt.training.rollout import engine_for
from tunix_rt.training.tokenizer import END_OF_TURN
from tunix_rt.training.train import warmup_cosine

SCREEN_FILE = "grpo_prompts.json"  # the prompts a filtered run trains on (indices)
SCREEN_ROWS = 256  # completions sampled per call while screening
SCREEN_SAY_SECONDS = 30.0  # a progress line at most this often while screening

# Tunix's actor trainer records these per step (jax.monitoring scalars "actor/train/NAME").
_ACTOR_METRICS = ("loss", "kl", "grad_norm")


def schedule(prep: GrpoPrepared) -> optax.Schedule:
    return warmup_cosine(prep.cfg.learning_rate, prep.total_steps, prep.warmup_steps)


def prompt_batches(prep: GrpoPrepared, prompts: list[Prompt]) -> Iterator[dict[str, np.ndarray]]:
    """Every step's prompts and expected answers, in a deterministic order (the seed);
    Tunix fast-forwards past the ones a resumed run already used."""
    cfg = prep.cfg
    for index in batch_indices(len(prompts), cfg.batch_size, cfg.seed, prep.total_steps):
        chosen = [prompts[i] for i in index]
        yield {
            "prompts": np.array([p.prompt for p in chosen]),
            "answer": np.array([p.answer for p in chosen]),
            "reference": np.array([p.reference for p in chosen]),
        }


def screen_prompts(prep: GrpoPrepared, cluster: Any) -> list[Prompt]:
    """The prompts to train on: with ``filter_samples`` k, those of the train prompts whose
    k samples from the start model earned different summed rewards. GRPO's advantages are
    each reward minus its group's mean: a prompt whose completions all score alike (all
    right, or all wrong) contributes no gradient, only dilutes the step. Prompts are
    screened in a seeded order until ``batch_size × steps`` are kept or none are left; the
    choice is saved (``SCREEN_FILE``) so a resumed attempt trains on the same prompts in the
    same order. Keeps every prompt when k is 0, or when no prompt's samples differed."""
    k = prep.settings.filter_samples
    if k < 2:
        return prep.prompts
    saved = prep.out / SCREEN_FILE
    if saved.is_file():
        chosen = json.loads(saved.read_text(encoding="utf-8"))["kept"]
        say(f"prompts: the {len(chosen)} kept by this run's screening ({SCREEN_FILE})")
        return [prep.prompts[int(i)] for i in chosen] or prep.prompts
    cfg = prep.cfg
    need = cfg.batch_size * prep.total_steps
    order = np.random.default_rng([cfg.seed & 0xFFFFFFFF, 1]).permutation(len(prep.prompts))
    per_call = max(1, SCREEN_ROWS // k)
    rewards = weighted_rewards(prep.settings.rewards)
    kept: list[int] = []
    alike_right = alike = screened = 0
    t0 = last_said = time.monotonic()
    for begin in range(0, len(order), per_call):
        chunk = [int(i) for i in order[begin : begin + per_call]]
        rows = [prep.prompts[i] for i in chunk for _ in range(k)]
        texts = [p.prompt for p in rows]
        completions = list(cluster.generate(prompts=texts).text)
        columns = {"answer": [p.answer for p in rows], "reference": [p.reference for p in rows]}
        total = np.zeros(len(rows))
        for fn in rewards:
            total += np.asarray(fn(texts, completions, **columns), dtype=np.float64)
        right = REWARDS["answer_correctness"]([], completions, answer=columns["answer"])
        groups = total.reshape(len(chunk), k)
        answered = np.asarray(right, dtype=bool).reshape(len(chunk), k)
        for index, group, ok in zip(chunk, groups, answered, strict=True):
            if group.max() - group.min() > 1e-9:
                kept.append(index)
            else:
                alike += 1
                alike_right += bool(ok.all())
        screened += len(chunk)
        if len(kept) >= need:
            break
        if (now := time.monotonic()) - last_said >= SCREEN_SAY_SECONDS:
            last_said = now
            say(f"screening: {screened} of {len(prep.prompts)} prompts, {len(kept)} kept")
    # Whole or not at all: a resumed attempt never reads half a file.
    write_json(saved, {"samples": k, "screened": screened, "kept": kept})
    say(
        f"screened {screened} of {len(prep.prompts)} prompts × {k} samples in "
        f"{time.monotonic() - t0:.1f}s: kept {len(kept)} whose samples' rewards differ; "
        f"{alike} scored alike ({alike_right} all answered right, {alike - alike_right} not)"
    )
    if not kept:
        say("no prompt's samples earned different rewards: training on every prompt")
        return prep.prompts
    return [prep.prompts[i] for i in kept]


class _Reporter:
    """Joins what one step produced — the rollout's rewards (a metric function Tunix calls
    with the completions) and the actor's loss and KL (scalars Tunix records through
    ``jax.monitoring``) — into one ``metric`` event per step."""

    def __init__(self, prep: GrpoPrepared, cluster: Any, start_step: int) -> None:
        self.prep = prep
        self.cluster = cluster
        self.total = prep.total_steps
        self.lrs = np.asarray(jax.jit(jax.vmap(schedule(prep)))(np.arange(max(1, self.total))))
        self.file = MetricsFile(prep.out / "metrics.jsonl")
        self.human_every = max(1, self.total // 20)
        self.start_step = start_step
        self.rollouts: dict[int, dict[str, float]] = {}
        self.actor: dict[int, dict[str, float]] = {}
        self.emitted: set[int] = set()
        self.lock = threading.Lock()
        self.t_first: float | None = None
        self.tokenizer = prep.tokenizer
        self.first_reward: float | None = None
        self.last: dict[str, Any] = {}

    # Tunix metric function: called once per step with that step's completions.
    def rollout_metrics(
        self,
        prompts: Sequence[str],
        completions: Sequence[str],
        rewards: np.ndarray,
        advantages: Any,
        answer: Sequence[str],
        reference: Sequence[str] | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        del prompts, advantages
        step = int(self.cluster.global_steps) + 1
        scores = np.asarray(rewards, dtype=np.float64).reshape(len(completions), -1).sum(axis=1)
        expected = _repeat(answer, completions)
        right = REWARDS["answer_correctness"]([], list(completions), answer=expected)
        tokens = sum(len(self.tokenizer.EncodeAsIds(text)) for text in completions)
        row = {
            "reward_mean": float(scores.mean()),
            "reward_std": float(scores.std()),
            "accuracy": float(np.mean(right)),
            "format": float(np.mean(REWARDS["format"]([], list(completions)))),
            "step_validity": float(
                np.mean(
                    REWARDS["step_validity"](
                        [],
                        list(completions),
                        reference=None if reference is None else _repeat(reference, completions),
                    )
                )
            ),
            "completion_tokens": tokens / max(1, len(completions)),
            "generated_tokens": float(tokens),
            "at": time.monotonic(),
        }
        with self.lock:
            self.rollouts[step] = row
            self._emit_ready()
        return {}

    # jax.monitoring listener (every scalar recorded in the process goes through here).
    def on_scalar(self, event: str, value: Any, **kwargs: Any) -> None:
        prefix, _, name = event.rpartition("/")
        if prefix != "actor/train" or name not in _ACTOR_METRICS or "step" not in kwargs:
            return
        with self.lock:
            self.actor.setdefault(int(kwargs["step"]), {})[name] = float(np.asarray(value))
            self._emit_ready()

    def _emit_ready(self, final: bool = False) -> None:
        for step in sorted(self.rollouts):
            actor = self.actor.get(step, {})
            if step in self.emitted or not (final or {"loss", "kl"} <= actor.keys()):
                continue
            self._emit(step, self.rollouts[step], actor)

    def _emit(self, step: int, rollout: dict[str, float], actor: dict[str, float]) -> None:
        self.emitted.add(step)
        now = time.monotonic()
        if self.t_first is None:
            self.t_first = rollout["at"]
        done = step - self.start_step
        seconds = now - self.t_first
        rate = (done - 1) / seconds if done > 1 and seconds > 0 else None
        generated = rollout["generated_tokens"]
        if self.first_reward is None:
            self.first_reward = rollout["reward_mean"]
        payload = emit(
            "metric",
            step=step,
            loss=_round(actor.get("loss")),
            kl=_round(actor.get("kl")),
            grad_norm=_round(actor.get("grad_norm")),
            reward_mean=round(rollout["reward_mean"], 6),
            reward_std=round(rollout["reward_std"], 6),
            accuracy=round(rollout["accuracy"], 6),
            format=round(rollout["format"], 6),
            step_validity=round(rollout["step_validity"], 6),
            completion_tokens=round(rollout["completion_tokens"], 2),
            learning_rate=float(self.lrs[min(max(step - 1, 0), len(self.lrs) - 1)]),
            tokens_per_second=None if rate is None else round(rate * generated, 1),
            steps_per_second=None if rate is None else round(rate, 3),
            elapsed_seconds=round(elapsed(), 4),
            total_steps=self.total,
        )
        self.file.write(payload)
        self.last = payload
        if step % self.human_every == 0 or step == self.total or step == self.start_step + 1:
            say(
                f"step {step}/{self.total} reward {rollout['reward_mean']:.3f} "
                f"± {rollout['reward_std']:.3f} accuracy {rollout['accuracy']:.1%} "
                f"kl {actor.get('kl', float('nan')):.4f}"
            )

    def close(self) -> None:
        with self.lock:
            self._emit_ready(final=True)
        self.file.close()


def _repeat(answers: Sequence[str], completions: Sequence[str]) -> list[str]:
    """Tunix repeats each prompt's columns per generation; accept either form."""
    answers = [str(a) for a in answers]
    if len(answers) == len(completions):
        return answers
    per = len(completions) // max(1, len(answers))
    return [a for a in answers for _ in range(per)]


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def load_start_model(prep: GrpoPrepared) -> tuple[Any, dict[str, Any]]:
    """The start model: a run's final model, or a Hugging Face directory (registered)."""
    if prep.init_meta.get("hf_dir"):
        resolved = inspect_hf_dir(prep.init_dir, str(prep.init_dir), "local")
        return model_lib.load_hf_checkpoint(resolved), prep.init_meta
    return model_lib.load_final(prep.init_dir)


def run_grpo(prep: GrpoPrepared) -> dict[str, Any]:
    cfg = prep.cfg
    settings = prep.settings
    t0 = time.monotonic()
    actor, meta = load_start_model(prep)
    reference, _ = load_start_model(prep)
    n_params = model_lib.param_count(actor)
    say(
        f"start model from {prep.init_dir} (step {meta.get('final_step')}) loaded in "
        f"{time.monotonic() - t0:.1f}s: {n_params:,} parameters"
    )
    tok = prep.tokenizer
    eos = [int(tok.eos_id())]
    end_id = int(tok.PieceToId(END_OF_TURN))
    if end_id >= 0 and end_id != tok.unk_id():
        eos.append(end_id)
    new_tokens = settings.max_new_tokens
    mesh = jax.make_mesh((1, 1), ("fsdp", "tp"), axis_types=(AxisType.Auto, AxisType.Auto))
    save_every = cfg.checkpoint_every or max(prep.total_steps, 1)
    engine = engine_for(actor)
    optimizer = optax.chain(
        optax.clip_by_global_norm(1.0),
        optax.adamw(schedule(prep), weight_decay=cfg.weight_decay),
    )
    roles = (rl_cluster_lib.Role.ACTOR, rl_cluster_lib.Role.REFERENCE, rl_cluster_lib.Role.ROLLOUT)
    cluster_config = rl_cluster_lib.ClusterConfig(
        role_to_mesh={role: mesh for role in roles},
        rollout_engine=engine,
        offload_to_cpu=False,
        training_config=rl_cluster_lib.RLTrainingConfig(
            actor_optimizer=optimizer,
            eval_every_n_steps=10**9,
            max_steps=prep.total_steps,
            checkpoint_root_directory=str((prep.out / CHECKPOINTS_DIR).resolve()),
            checkpointing_options=ocp.CheckpointManagerOptions(
                save_interval_steps=save_every, max_to_keep=3
            ),
            pbar_description=None,
        ),
        rollout_config=base_rollout.RolloutConfig(
            max_tokens_to_generate=new_tokens,
            max_prompt_length=prep.max_prompt_length,
            kv_cache_size=prep.max_prompt_length + new_tokens + 1,
            temperature=settings.temperature,
            top_p=1.0,
            # An int: the sampler makes its key per call (a key array would be donated
            # by the first call and deleted for the next).
            seed=cfg.seed,
            eos_tokens=eos,
        ),
    )
    weights = settings.rewards
    with mesh:
        cluster = rl_cluster_lib.RLCluster(
            actor=actor, reference=reference, tokenizer=tok, cluster_config=cluster_config
        )
        start_step = int(cluster.actor_trainer.train_steps)
        reporter = _Reporter(prep, cluster, start_step)
        jax.monitoring.register_scalar_listener(reporter.on_scalar)
        learner = grpo_learner.GRPOLearner(
            rl_cluster=cluster,
            algo_config=grpo_learner.GRPOConfig(
                num_generations=settings.num_generations, beta=settings.beta
            ),
            reward_fns=weighted_rewards(weights),
            metric_fns=[reporter.rollout_metrics],
        )
        if start_step:
            say(f"resumed from checkpoint at step {start_step}")
        say(
            f"GRPO {prep.total_steps} steps: {cfg.batch_size} prompts × "
            f"{settings.num_generations} completions (≤ {new_tokens} tokens, temperature "
            f"{settings.temperature}), beta {settings.beta}, lr {cfg.learning_rate:g}, "
            f"rewards {weights}; {len(prep.prompts)} prompts; checkpoints every {save_every} "
            f"steps; rollouts by {'the decoder' if engine != 'vanilla' else 'Tunix sampler'}"
        )
        t_train = time.monotonic()
        if start_step < prep.total_steps:
            prompts = screen_prompts(prep, cluster)
            learner.train(prompt_batches(prep, prompts))
        else:
            say(f"already trained {start_step} of {prep.total_steps} steps; nothing to do")
        train_seconds = time.monotonic() - t_train
        cluster.close()
        reporter.close()
        final_step = int(cluster.actor_trainer.train_steps)
        trained = cluster.actor_trainer.model
    model_lib.save_final(
        trained,
        prep.out,
        {
            "arch": prep.arch,
            "model_id": cfg.model_id,
            "lora_rank": meta.get("lora_rank", 0),
            "lora_alpha": meta.get("lora_alpha"),
            "final_step": final_step,
            "tokenizer": "tokenizer",
            "algorithm": "grpo",
            "init_final_step": meta.get("final_step"),
        },
    )
    steps_run = final_step - start_step
    last = reporter.last
    return {
        "final_step": final_step,
        "start_step": start_step,
        "total_steps": prep.total_steps,
        "first_reward": reporter.first_reward,
        "final_reward": last.get("reward_mean"),
        "final_accuracy": last.get("accuracy"),
        "final_kl": last.get("kl"),
        "first_loss": None,
        "final_loss": last.get("loss"),
        "train_seconds": round(train_seconds, 3),
        "steps_per_second": round(steps_run / train_seconds, 3) if steps_run else None,
        "param_count": n_params,
        "trainable_params": n_params,
        "elapsed_seconds": round(elapsed(), 3),
    }
