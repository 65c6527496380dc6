"""LoRA fine-tuning of the planner's model on decision examples (causal-LM loss on the answer only).

Each example is tokenized exactly as ``engine.planner.inference.Scorer`` scores it at run time:
the chat-template prompt (``prompts.prompt_text``), then the answer's tokens and end-of-turn. Only
the answer tokens carry loss, so the model learns which action to choose, not to echo pages. The
result is written next to nothing else: a new folder under ``RPA_HOME/models`` (atomic rename), the
base model's files are only read.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from loguru import logger
from pydantic import BaseModel, Field

from engine.config import Settings
from engine.errors import ConfigError
from engine.training.examples import Example, renumbered
from engine.training.store import TrainingInfo, fingerprint, model_dir, read_info

MAX_ALTERNATIVES = 5  # the planner shows the model six candidates (planner.TOP_K)
TARGET_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


class TrainConfig(BaseModel):
    name: str
    base: str | None = Field(None, description="Base model: None = embedded; a trained NAME, folder or .gguf.")
    epochs: int = Field(2, ge=1, le=100)
    lr: float = Field(3e-4, gt=0)
    rank: int = Field(8, ge=1, le=256)
    alpha: int = 16
    batch_size: int = Field(4, ge=1)
    max_tokens: int = Field(1024, ge=64, description="Longer examples are left out (counted).")
    device: str | None = None
    threads: int | None = None
    force: bool = False
    seed: int = 0
    renumber: bool = Field(True, description="Draw element refs afresh each epoch (learn names, not ref numbers).")
    contrast: float = Field(1.0, ge=0, description="Weight of the ranking loss over the planner's other candidates "
                                                    "(0: answer likelihood only).")
    likelihood: float = Field(0.0, ge=0, description="Weight of the answer's own likelihood next to the ranking loss. "
                                                     "0 learns choices only: examples without alternatives are left "
                                                     "out, so frequent answers ('Submit') do not gain a prior.")


class Progress(BaseModel):
    step: int
    total: int
    epoch: int
    loss: float
    examples_per_s: float
    seconds: float


class TrainResult(BaseModel):
    name: str
    path: Path
    info: TrainingInfo
    first_loss: float
    last_loss: float
    dropped_long: int = 0
    no_alternatives: int = Field(0, description="Examples left out because the ranking loss had nothing to rank.")


def _device(config: TrainConfig, settings: Settings) -> str:
    import torch

    device = config.device or settings.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda"):
        raise ConfigError(f"Training: unknown device '{device}'. Use --device cpu or --device cuda.")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("Training: --device cuda but no CUDA device is available. Use --device cpu.")
    return device


def base_folder(settings: Settings, base: str | None) -> tuple[str, Path]:
    """(display name, folder of dense weights) of the base; converts the embedded GGUF once if needed."""
    from engine.planner.model import load_model, resolve_source

    display, folder, gguf = resolve_source(settings, base)
    if gguf is None:
        return display, folder
    dense = settings.cache_dir / "models" / Path(gguf).stem
    if not (dense / "config.json").exists():
        load_model(settings, base)  # converts and caches the dense weights (the planner's own path)
    if not (dense / "config.json").exists():
        raise ConfigError(f"Training: cannot cache the dense weights of {display} under {dense}. "
                          "Check RPA_CACHE_DIR is writable.")
    return display, dense


def _check_memory(folder: Path, device: str) -> None:
    """Refuse before loading anything when the machine clearly lacks the memory."""
    if device != "cpu":
        return
    try:
        import psutil
    except ImportError:
        return
    size = sum(p.stat().st_size for p in folder.glob("*.safetensors")) or sum(p.stat().st_size for p in folder.glob("*.bin"))
    # fp32 weights + a merged copy at save time + activations: about 3x the weights plus 1 GiB.
    need = 3 * size + (1 << 30)
    free = psutil.virtual_memory().available
    if size and free < need:
        raise ConfigError(f"Training: needs about {need / 2**30:.1f} GiB of free memory, {free / 2**30:.1f} GiB "
                          "available. Close other programs or use a smaller --base.")


def load_base(folder: Path, device: str) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    _drop_quantizer(model)
    return model.to(device), tok


@contextmanager
def _quiet_peft() -> Iterator[None]:
    """peft asks transformers a deprecated question (is_gradient_checkpointing); not the user's concern."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        yield


def _drop_quantizer(model: Any) -> None:
    """The planner's cached weights are dense fp32 but remember their GGUF origin; transformers then
    refuses to save them. They are not quantized, so forget it."""
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    for flag in ("is_quantized", "quantization_method"):
        if flag in model.__dict__:
            del model.__dict__[flag]


def encode_answer(tok: Any, answer: str) -> list[int]:
    return list(tok.encode(answer, add_special_tokens=False)) + [tok.eos_token_id]


def encode(tok: Any, ex: Example) -> tuple[list[int], list[int]]:
    """(prompt ids, answer ids) exactly as the planner's scorer builds them."""
    from engine.planner.prompts import prompt_text

    prompt = tok.encode(prompt_text(tok, ex.messages), add_special_tokens=False)
    return list(prompt), encode_answer(tok, ex.answer)


def _batches(encoded: list[tuple[list[int], list[int]]], size: int, rng: random.Random) -> list[list[int]]:
    """Index batches of similar length (less padding on CPU), in shuffled order."""
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i][0]) + len(encoded[i][1]) + rng.random())
    batches = [order[i:i + size] for i in range(0, len(order), size)]
    rng.shuffle(batches)
    return batches


def _collate(items: list[tuple[list[int], list[int]]], pad: int, device: str) -> tuple[Any, Any, Any, Any, int]:
    """A left-padded batch: every answer ends at the last position, so the model computes logits for
    the last ``k + 1`` positions only (k = longest answer) instead of a 49k-word row per prompt token,
    which was most of the memory and a quarter of the time. Position ids skip the padding, so each
    example is seen exactly as the planner's scorer sees it."""
    import torch

    width = max(len(p) + len(a) for p, a in items)
    k = max(len(a) for _, a in items)
    ids, att, labels = [], [], []
    for p, a in items:
        n = width - len(p) - len(a)
        ids.append([pad] * n + p + a)
        att.append([0] * n + [1] * (len(p) + len(a)))
        labels.append(([-100] * (n + len(p)) + a)[-k:])
    t = lambda x: torch.tensor(x, device=device)  # noqa: E731
    att_t = t(att)
    return t(ids), att_t, (att_t.cumsum(-1) - 1).clamp(min=0), t(labels), k


def _loss_sum(model: Any, batch: tuple[Any, Any, Any, Any, int]) -> tuple[Any, int]:
    """(sum of the answer tokens' cross-entropy, number of answer tokens) of one collated batch."""
    import torch.nn.functional as F

    ids, att, pos, labels, k = batch
    logits = model(input_ids=ids, attention_mask=att, position_ids=pos, logits_to_keep=k + 1).logits[:, :-1]
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), labels.reshape(-1),
                           ignore_index=-100, reduction="sum")
    return loss, int((labels != -100).sum())


def _ranked_loss(model: Any, prompt: list[int], answers: list[list[int]], device: str, contrast: float,
                 likelihood: float = 1.0, cache_kw: str = "past_key_values") -> tuple[Any, int]:
    """Loss of one decision whose first answer is the chosen one and the rest the planner's other
    candidates: ``likelihood`` times the chosen answer's cross-entropy (summed over its tokens) plus
    ``contrast`` times the cross-entropy of picking it among all, ranked by mean token
    log-probability exactly as the planner ranks them at run time. The prompt runs once; its KV
    cache (with gradients) is shared by every answer, so six candidates cost little more than one."""
    import torch
    import torch.nn.functional as F

    out = model(input_ids=torch.tensor([prompt], device=device), use_cache=True, logits_to_keep=1)
    cache = getattr(out, "cache", None) or out.past_key_values
    first = torch.log_softmax(out.logits[0, -1].float(), dim=-1)
    width = max(len(a) for a in answers)
    totals = [first[a[0]] for a in answers]
    if width > 1:
        cache.batch_repeat_interleave(len(answers))
        batch = torch.tensor([a + [a[-1]] * (width - len(a)) for a in answers], device=device)
        logp = torch.log_softmax(model(input_ids=batch[:, :-1], **{cache_kw: cache}).logits.float(), dim=-1)
        got = logp.gather(-1, batch[:, 1:, None])[..., 0]
        totals = [t + got[i, : len(a) - 1].sum() for i, (t, a) in enumerate(zip(totals, answers))]
    loss = -likelihood * totals[0]
    if contrast > 0 and len(answers) > 1:
        means = torch.stack([t / len(a) for t, a in zip(totals, answers)])
        loss = loss + contrast * len(answers[0]) * F.cross_entropy(means[None], torch.tensor([0], device=device))
    return loss, len(answers[0])


def answer_loss(model: Any, tok: Any, examples: list[Example], device: str, batch_size: int = 8) -> float:
    """Mean cross-entropy per answer token over ``examples`` (no gradient)."""
    import torch

    enc = [encode(tok, e) for e in examples]
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    total, count = 0.0, 0
    model.eval()
    with torch.inference_mode():
        for i in range(0, len(enc), batch_size):
            loss, n = _loss_sum(model, _collate(enc[i:i + batch_size], pad, device))
            total += float(loss)
            count += n
    return total / max(1, count)


def train(examples: list[Example], config: TrainConfig, settings: Settings,
          on_progress: Callable[[Progress], None] | None = None) -> TrainResult:
    """Fine-tune a LoRA adapter on ``examples``; saves adapter + merged weights under models/NAME."""
    import torch
    from peft import LoraConfig, get_peft_model

    from engine.planner.inference import cache_kwarg

    if not examples:
        raise ConfigError("Training: no examples. Give --from-history, --recordings DIR or --dataset FILE.")
    target = model_dir(settings, config.name)
    if target.exists() and not config.force:
        raise ConfigError(f"Training: model '{config.name}' exists at {target}. Choose another --name or pass --force.")
    device = _device(config, settings)
    base_name, folder = base_folder(settings, config.base)
    if config.base and (settings.models_dir / config.base / "training.json").exists():
        base_name = config.base  # continuing a trained model: its merged weights are the base
    _check_memory(folder, device)
    if device == "cpu":
        torch.set_num_threads(config.threads or settings.torch_threads or max(1, (os.cpu_count() or 2)))
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)

    model, tok = load_base(folder, device)
    encoded = [encode(tok, e) for e in examples]
    keep = [i for i, (p, a) in enumerate(encoded) if len(p) + len(a) <= config.max_tokens]
    dropped = len(encoded) - len(keep)
    if dropped:
        logger.warning("train: {} example(s) longer than {} tokens left out", dropped, config.max_tokens)
    if not keep:
        raise ConfigError(f"Training: every example is longer than {config.max_tokens} tokens. Raise --max-tokens.")
    ranked = config.contrast > 0 and any(examples[i].alternatives for i in keep)
    alone: list[int] = []
    if ranked and config.likelihood == 0:
        alone = [i for i in keep if not examples[i].alternatives]
        if alone:  # nothing to choose between: they would teach a prior, not a choice
            logger.info("train: {} example(s) without alternatives left out (ranking only)", len(alone))
            keep = [i for i in keep if examples[i].alternatives]
    encoded = [encoded[i] for i in keep]
    kept = [examples[i] for i in keep]

    lora = LoraConfig(r=config.rank, lora_alpha=config.alpha, lora_dropout=0.05, target_modules=TARGET_MODULES,
                      task_type="CAUSAL_LM")
    with _quiet_peft():
        model = get_peft_model(model, lora)
    params = [p for p in model.parameters() if p.requires_grad]
    cache_kw = cache_kwarg(model)
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=0.0)
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    per_epoch = (len(encoded) + config.batch_size - 1) // config.batch_size
    total = per_epoch * config.epochs
    t0 = time.perf_counter()
    step, seen, losses, first, last = 0, 0, [], None, 0.0
    model.train()
    for epoch in range(config.epochs):
        epoch_loss, epoch_n = 0.0, 0
        shown = [renumbered(e, rng) for e in kept] if config.renumber else kept
        encoded = [encode(tok, e) for e in shown]
        for batch in _batches(encoded, config.batch_size, rng):
            opt.zero_grad(set_to_none=True)
            if ranked:  # one decision at a time (its own prompt cache), gradients summed over the batch
                n = sum(len(encoded[i][1]) for i in batch)
                value = 0.0
                for i in batch:
                    others = [encode_answer(tok, a) for a in shown[i].alternatives[:MAX_ALTERNATIVES]]
                    loss_i, _ = _ranked_loss(model, encoded[i][0], [encoded[i][1], *others], device, config.contrast,
                                             config.likelihood, cache_kw)
                    (loss_i / n).backward()
                    value += float(loss_i.detach()) / n
            else:
                loss_sum, n = _loss_sum(model, _collate([encoded[i] for i in batch], pad, device))
                loss = loss_sum / max(1, n)
                loss.backward()
                value = float(loss.detach())
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            step += 1
            seen += len(batch)
            last = value
            first = last if first is None else first
            epoch_loss += last * len(batch)
            epoch_n += len(batch)
            if on_progress is not None:
                dt = time.perf_counter() - t0
                on_progress(Progress(step=step, total=total, epoch=epoch + 1, loss=last,
                                     examples_per_s=seen / dt if dt else 0.0, seconds=dt))
        losses.append(round(epoch_loss / max(1, epoch_n), 4))
    seconds = time.perf_counter() - t0
    model.eval()

    info = TrainingInfo(
        name=config.name, base=base_name, base_fingerprint=fingerprint(model.get_base_model().config),
        examples=dict(sorted({s: sum(1 for i in keep if examples[i].source == s)
                              for s in {examples[i].source for i in keep}}.items())),
        epochs=config.epochs, steps=step, lora_rank=config.rank, losses=losses, seconds=round(seconds, 2),
        examples_per_s=round(seen / seconds, 2) if seconds else 0.0, device=device,
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    _save(model, tok, info, target, settings)
    logger.info("train: {} saved to {} ({} steps, loss {:.3f} -> {:.3f}, {:.1f} examples/s)", config.name, target,
                step, first or 0.0, last, info.examples_per_s)
    return TrainResult(name=config.name, path=target, info=info, first_loss=first or 0.0, last_loss=last,
                       dropped_long=dropped, no_alternatives=len(alone))


def _save(model: Any, tok: Any, info: TrainingInfo, target: Path, settings: Settings) -> None:
    """adapter/, merged/ and training.json written in a temporary folder, then renamed into place."""
    settings.models_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{info.name}.", dir=settings.models_dir))
    try:
        model.save_pretrained(tmp / "adapter")
        merged = model.merge_and_unload()
        _drop_quantizer(merged)
        merged.save_pretrained(tmp / "merged", safe_serialization=True)
        tok.save_pretrained(tmp / "merged")
        (tmp / "training.json").write_text(info.model_dump_json(indent=2), encoding="utf-8")
        if target.exists():  # --force: the old model goes only once the new one is complete
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            target.rename(old)
            tmp.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def load_adapter(settings: Settings, name: str, base: str | None = None, device: str = "cpu") -> tuple[Any, Any]:
    """(model with the adapter of ``name`` applied, tokenizer), on ``base`` (default: the one it was
    trained on). Refuses a base whose shapes differ from the recorded one, before loading weights."""
    from peft import PeftModel
    from transformers import AutoConfig

    info = read_info(settings, name)
    base_arg = base if base is not None else (None if info.base.startswith("SmolLM2-135M") else info.base)
    display, folder = base_folder(settings, base_arg)
    got = fingerprint(AutoConfig.from_pretrained(folder))
    if got != info.base_fingerprint:
        raise ConfigError(f"Training: adapter '{name}' was trained on {info.base}; base {display} does not match "
                          f"(shape fingerprint {got} != {info.base_fingerprint}). Use --base {info.base}.")
    model, tok = load_base(folder, device)
    with _quiet_peft():
        model = PeftModel.from_pretrained(model, model_dir(settings, name) / "adapter")
    model.eval()
    return model, tok


def write_jsonl(examples: list[Example], path: Path) -> None:
    """The examples in chat format (what --dataset reads back)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for ex in examples:
            fh.write(json.dumps(ex.chat(), ensure_ascii=False) + "\n")
