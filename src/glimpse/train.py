"""Training: clips from a feature store, the model's own loss, validation-based selection.

The trainer never asks which model it trains: it gives the model the streams the model declares,
sums the loss terms the model returns plus the weight decay gamma * sum theta^2, logs every
term, and selects the epoch with the best validation video accuracy under the model's own
prediction rule (the one ``evaluate`` uses). The run folder's files are described in
``glimpse.run``. Re-running the same command resumes from ``last.safetensors`` (after a kill at
any moment the run continues from the last checkpoint and ends with the same weights as an
uninterrupted run); raising ``--epochs`` extends a finished run. Model selection uses the
validation split, never the test split.
"""

from __future__ import annotations

import csv
import math
import time
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from glimpse import GlimpseError, amp, distributed
from glimpse.allocator import reusing_freed_memory
from glimpse.board import Board
from glimpse.config import TrainConfig
from glimpse.evaluate import clip_settings, compute_metrics, multi_hot, run_clips
from glimpse.features.clips import ClipDataset, ClipLoader, split_store, to_device
from glimpse.features.store import FeatureStore
from glimpse.io import write_json_atomic
from glimpse.losses import weight_decay
from glimpse.models import ModelConfig, build_model, model_class, model_options
from glimpse.progress import progress_bar
from glimpse.run import (
    RUN_FORMAT,
    Run,
    load_checkpoint,
    restore_training_state,
    save_checkpoint,
    training_state,
)


def lr_factor(tc: TrainConfig, epoch: int, step: int, n_batches: int) -> float:
    """The learning rate of batch ``step`` of ``epoch`` as a factor of each group's own: a pure
    function of where the run stands, so a resumed run continues its schedule exactly.
    A warm-up ramps the rate linearly from 1 / (its batches) to the full rate over
    ``warmup_epochs``, then the schedule runs from the full rate (torch's and HF's
    ``get_cosine_schedule_with_warmup``): ``step`` times it by ``lr_decay`` every ``lr_step``
    epochs, ``cosine`` is half a cosine from 1 at the end of the warm-up to 0 at ``epochs``
    (per batch)."""
    done = epoch + step / n_batches  # epochs done before this batch
    warm = tc.warmup_epochs
    if warm > 0 and done < warm:
        return min(1.0, (done + 1 / n_batches) / warm)
    if tc.lr_schedule == "step":
        return tc.lr_decay ** (epoch // tc.lr_step)
    if tc.lr_schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (done - warm) / max(tc.epochs - warm,
                                                                          1e-12))))
    return 1.0


def make_optimizer(groups: list[dict], tc: TrainConfig) -> torch.optim.Optimizer:
    """The run's optimizer over the model's parameter groups: Adam (PyTorch's defaults beyond the
    rate) or SGD with ``tc.momentum`` (paper 001). Weight decay is never the optimizer's: it is
    the explicit gamma * sum theta^2 term the trainer adds to the loss."""
    if tc.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=tc.lr, momentum=tc.momentum)
    return torch.optim.Adam(groups, lr=tc.lr)


def _epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    g = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return torch.randperm(n, generator=g).tolist()


def model_inputs(store: FeatureStore, name: str, options: dict) -> dict:
    """The store's specs of the streams model ``name`` with ``options`` reads; a missing stream
    is one line."""
    streams = model_class(name).reads(model_options(name, options))
    missing = [s for s in streams if s not in store.streams]
    if missing:
        how = {"rgb_pooled": "--pooled", "rgb_level2": "--levels 2", "flow": "--streams rgb,flow"}
        hint = "; ".join(f"'glimpse extract DATA STORE {how[s]}' makes {s}" for s in missing
                         if s in how)
        raise GlimpseError(f"model '{name}' reads stream(s) {', '.join(missing)}, which "
                           f"{store.root} lacks (it has {', '.join(store.streams)}); "
                           f"{hint or 'extract them first'}")
    return {s: store.streams[s] for s in streams}


def validate(model, entries, tc: TrainConfig, labels: list[str], device,
             multilabel: bool = False) -> tuple[dict, list]:
    """-> the validation metrics the trainer selects on (and logs: with the attention mass on
    the actor where the store has masks, so that log.csv shows when a run's attention left
    it), and each video's result."""
    results = run_clips(model, entries, device=device,
                        **clip_settings({"train": tc.to_dict(), "multilabel": multilabel}))
    y = np.array([e.label_index for e in entries])
    targets = multi_hot(entries, len(labels)) if multilabel else None
    m, _, _ = compute_metrics(results, y, labels, video_rule="mean" if multilabel else "vote",
                              targets=targets)
    val = {"val_top1": m["top1"], "val_clip_accuracy": m["clip_accuracy"],
           "val_loss": clip_loss(results, y, targets)}
    if "attention" in m:  # the store has actor masks: where the attention is, epoch by epoch
        val["val_actor_mass"] = m["attention"]["mass_in_mask"]
    return val, results


def clip_loss(results, labels: np.ndarray, targets: np.ndarray | None = None) -> float:
    """The validation loss: the mean over every clip of its score's cross-entropy with the
    video's label ``labels[i]`` (with ``targets`` (N, C) multi-hot, a multi-label store: binary
    cross-entropy averaged over the classes), the classifier's term of the training loss on the
    clips evaluation scores."""
    eps = 1e-7
    losses = []
    for i, r in enumerate(results):
        p = np.clip(np.asarray(r.clip_scores, np.float64), eps, 1 - eps)
        if targets is not None:
            t = targets[i]
            losses.extend(-(t * np.log(p) + (1 - t) * np.log(1 - p)).mean(1))
        else:
            losses.extend(-np.log(p[:, labels[i]]))
    return float(np.mean(losses)) if losses else float("nan")


def _distributed(tc: TrainConfig) -> tuple[int, int, str]:
    """(rank, world size, device) under torchrun (``glimpse.distributed.start``); the global
    batch must divide among the processes."""
    rank, world, device = distributed.start(tc.device)
    if tc.batch_size % world:
        raise GlimpseError(f"--batch-size {tc.batch_size} (the global batch) must be divisible "
                           f"by the {world} processes")
    return rank, world, device


def _rank_share(indices: list[int], rank: int, world: int) -> list[int]:
    """This rank's part of one global batch: equal parts, the last batch padded by repeating its
    first clips (as DistributedSampler pads) so that no rank is left without work."""
    per = -(-len(indices) // world)
    padded = (indices * world)[: per * world]
    return padded[rank * per: (rank + 1) * per]


def train(features: str | Path, out: str | Path, model: str, options: dict | None,
          tc: TrainConfig, *, progress: bool = True, log=print, tensorboard: bool = True) -> dict:
    """Train (or resume) model ``model`` with ``options`` (its Config fields; the rest take the
    paper's defaults) on the store ``features``; returns the best validation record.

    Under ``torchrun --nproc-per-node N -m glimpse train ...`` each of the N processes takes an
    equal part of every global batch of ``tc.batch_size`` clips and DistributedDataParallel
    averages the gradients, so the step is the one a single process takes on the whole batch;
    rank 0 alone validates, checkpoints and logs (the others wait at the next step)."""
    rank, world, device_name = _distributed(tc)
    amp.check_amp(tc.amp, device_name)
    lead = rank == 0
    log = log if lead else (lambda *_: None)
    store = FeatureStore(features)
    mc, tc, config = _run_config(store, features, model, options, tc)
    run = Run(out)
    # the split reads every entry's meta.json: a damaged store is refused before the run
    # folder is made
    fresh = split_store(store, test_fraction=tc.test_fraction, val_fraction=tc.val_fraction,
                        seed=tc.split_seed, official=tc.split) \
        if lead and not run.split_path.exists() else None
    with run.lock() if lead else nullcontext():  # one trainer a run folder
        train_entries, val_entries = _start_run(run, store, config, fresh, lead, world)
        e, at = _set_up(run, store, mc, tc, train_entries, val_entries, torch.device(device_name),
                        rank, world, progress=progress and lead, tensorboard=tensorboard and lead,
                        log=log)

        def checkpoint(epoch, step, sums=None):
            if lead:
                save_checkpoint(run.last_path, *training_state(
                    e.net, e.opt, {"epoch": epoch, "step": step, "history": at.history,
                                   "best": at.best, "sums": sums,
                                   "scaler": e.scaler.state_dict() if e.scaler else None}))

        with reusing_freed_memory():  # batches reuse memory already faulted in (allocator)
            for epoch in range(at.epoch, tc.epochs):
                if _patience_spent(at, tc, epoch, world):
                    log(f"stopped early at epoch {epoch}: validation top-1 has not risen for "
                        f"{tc.patience} epochs (best {at.best['val_top1']:.3f} at epoch "
                        f"{at.best['epoch']})")
                    break
                skip = at.step if epoch == at.epoch else 0
                t0 = time.time()
                sums, seen = train_one_epoch(
                    e, epoch, skip, dict(at.sums) if skip else None,
                    lambda step, sums, epoch=epoch: checkpoint(epoch, step, sums))
                with amp.autocast(tc.amp, e.device):  # every rank its share of the videos
                    val, val_results = validate(e.net, val_entries, tc, store.labels, e.device,
                                                store.multilabel)
                if not lead:
                    continue
                row = {"epoch": epoch + 1, "lr": e.opt.param_groups[0]["lr"],
                       "train_loss": sums["loss"] / seen,
                       **{f"train_{k}": v / seen for k, v in sums["terms"].items()},
                       "train_step_accuracy": sums["correct"] / max(1, sums["steps"]), **val,
                       # a CPU run's bits depend on its thread count (docs/retest/running.md)
                       "threads": torch.get_num_threads(), "seconds": round(time.time() - t0, 2)}
                at.history.append(row)
                improved = _select(run, e.net, at, val, epoch)
                checkpoint(epoch + 1, 0)
                _write_log(run.log_path, at.history)
                e.board.epoch(epoch + 1, row, val_results)
                log(f"epoch {epoch + 1}/{tc.epochs}: loss {row['train_loss']:.3f}, train acc "
                    f"{row['train_step_accuracy']:.3f}, val top1 {val['val_top1']:.3f}"
                    f"{' (best)' if improved else ''} [{row['seconds']:.0f}s]")
        e.board.close()
        if world > 1:
            torch.distributed.barrier()
        return at.best


def _run_config(store: FeatureStore, features, model: str, options: dict | None,
                tc: TrainConfig) -> tuple[ModelConfig, TrainConfig, dict]:
    """The model's config (every option checked by the model itself on the meta device: shapes
    only, nothing allocated, before the run folder is made), the training settings with the
    model's own sampling where none is given, and the run's config.json."""
    labels = store.labels
    if tc.sampling is None:  # the model's own, recorded in the run's config
        tc = replace(tc, sampling=model_class(model).sampling)
    mc = ModelConfig(model, len(labels), model_inputs(store, model, options),
                     model_options(model, options))
    with torch.device("meta"):
        build_model(mc)
    config = {"format": RUN_FORMAT, "model": mc.to_dict(), "train": tc.to_dict(),
              "feature": store.feature, "labels": labels,
              "features": str(Path(features).resolve())}
    if store.multilabel:  # one sigmoid per class, binary cross-entropy, mean AP
        config["multilabel"] = True
    return mc, tc, config


def _start_run(run: Run, store: FeatureStore, config: dict, fresh: dict | None, lead: bool,
               world: int) -> tuple[list, list]:
    """Start (or resume) the run folder with its config and split (``fresh``: a new run's split,
    drawn before the folder was made); -> the training and validation entries."""
    if lead:
        run.start(config)
        if fresh is not None and not run.split_path.exists():
            write_json_atomic(run.split_path, fresh)
    if world > 1:
        torch.distributed.barrier()  # the run folder and split exist for every rank
    split = run.split
    if not split["train"] or not split["val"]:
        raise GlimpseError("the split left no training or no validation videos: the store "
                           "needs at least 3 groups (or videos) per class")
    return [store.entry(i) for i in split["train"]], [store.entry(i) for i in split["val"]]


def _set_up(run: Run, store: FeatureStore, mc: ModelConfig, tc: TrainConfig, train_entries,
            val_entries, device: torch.device, rank: int, world: int, *, progress: bool,
            tensorboard: bool, log) -> tuple[_Epoch, _Progress]:
    """The model (under DistributedDataParallel with several processes), its clips, optimizer,
    gradient scaler, loader and TensorBoard writer, restored from the run's last checkpoint
    where it has one; -> what an epoch needs and where the run stands."""
    torch.manual_seed(tc.seed)
    np.random.seed(tc.seed)
    net = build_model(mc).to(device)
    step_net = net
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        step_net = DistributedDataParallel(net, device_ids=[device] if device.type == "cuda"
                                           else None)
    ds = ClipDataset(train_entries, tc.clip_len, tc.stride, streams=net.streams,
                     actor=net.needs_actor, sampling=tc.sampling, seed=tc.seed,
                     targets=len(store.labels) if store.multilabel else None, segments=True)
    opt = make_optimizer(net.param_groups(tc.lr), tc)
    at = _resume(run, net, opt, log)
    for group in opt.param_groups:  # the schedule scales each group's own rate
        group.setdefault("initial_lr", group["lr"])
    grad_scaler = amp.scaler(tc.amp, device)
    if grad_scaler is not None and at.scaler:
        grad_scaler.load_state_dict(at.scaler)
    loader = ClipLoader(ds, tc.batch_size // world, workers=tc.workers,
                        pin_memory=device.type == "cuda")
    n_batches = -(-len(ds) // tc.batch_size)
    source = store.source
    board = Board(run.root, enabled=tensorboard,  # resumed: purge what follows
                  purge_step=at.epoch * n_batches + at.step if at.epoch or at.step else None,
                  hparams={"model": mc.name, **{f"model.{k}": v for k, v in mc.options.items()},
                           **{f"train.{k}": v for k, v in tc.to_dict().items()}},
                  videos=[(source / e.meta["path"], store.feature["fps"])
                          for e in val_entries] if source else None)
    return _Epoch(step_net, net, opt, ds, tc, device, rank, world, progress, board, grad_scaler,
                  loader, n_batches), at


@dataclass
class _Progress:
    """Where a run stands: the epoch and batch to start at, the log so far, the best epoch, and
    the running sums of an epoch interrupted mid-way."""

    epoch: int = 0
    step: int = 0
    history: list = field(default_factory=list)
    best: dict = field(default_factory=lambda: {"val_top1": -1.0})
    sums: dict | None = None
    scaler: dict | None = None  # fp16's gradient scaler


def _resume(run: Run, net, opt, log) -> _Progress:
    """The run's last checkpoint restored into ``net`` and ``opt``, or a fresh start."""
    if not run.last_path.exists():
        return _Progress()
    tensors, meta = load_checkpoint(run.last_path, device="cpu")
    restore_training_state(net, opt, tensors, meta)
    log(f"resuming {run.root} at epoch {meta['epoch'] + 1}, batch {meta['step']}")
    return _Progress(meta["epoch"], meta["step"], meta["history"], meta["best"], meta["sums"],
                     meta.get("scaler"))


@dataclass
class _Epoch:
    """What one training epoch needs."""

    step_net: torch.nn.Module  # the model as stepped (DistributedDataParallel under torchrun)
    net: torch.nn.Module
    opt: torch.optim.Optimizer
    ds: ClipDataset
    tc: TrainConfig
    device: torch.device
    rank: int
    world: int
    progress: bool
    board: Board
    scaler: torch.amp.GradScaler | None = None  # --amp fp16
    loader: ClipLoader | None = None
    n_batches: int = 0  # global batches an epoch (the last may be short)


def train_one_epoch(e: _Epoch, epoch: int, skip: int, sums: dict | None,
                    checkpoint) -> tuple[dict, int]:
    """One epoch from batch ``skip`` on (with the running ``sums`` of a run resumed mid-epoch:
    the logged row is then whole) -> the epoch's sums over every rank and the clips they
    cover. ``checkpoint(step, sums)`` is called every ``checkpoint_every`` batches."""
    tc, ds, net = e.tc, e.ds, e.net
    net.train()
    net.set_epoch(epoch, tc.epochs)
    order = _epoch_order(len(ds), tc.seed, epoch)
    sums = sums or {"loss": 0.0, "terms": {}, "correct": 0, "steps": 0}
    n_batches = e.n_batches
    bar = progress_bar(total=n_batches, initial=skip, unit="batch",
                       desc=f"epoch {epoch + 1}/{tc.epochs}", enabled=e.progress)
    rest = order[skip * tc.batch_size:]
    if e.world > 1:  # this rank's part of each global batch
        rest = [i for k in range(0, len(rest), tc.batch_size)
                for i in _rank_share(rest[k:k + tc.batch_size], e.rank, e.world)]
    for step, b in enumerate(e.loader.epoch(rest, epoch), start=skip):
        b = to_device(b, e.device, non_blocking=e.device.type == "cuda")
        factor = lr_factor(tc, epoch, step, n_batches)
        for group in e.opt.param_groups:
            group["lr"] = group["initial_lr"] * factor
        terms = _train_step(e, b, sums)
        loss = terms["loss"]
        e.board.step(epoch * n_batches + step, terms, e.opt.param_groups[0]["lr"])
        bar.set_postfix(loss=f"{loss:.3f}", refresh=False)
        bar.update(1)
        if tc.checkpoint_every and (step + 1) % tc.checkpoint_every == 0 \
                and step + 1 < n_batches:
            checkpoint(step + 1, sums)
    bar.close()
    seen = len(ds)
    if e.world > 1:  # the epoch's sums over every rank
        sums = _sum_across_ranks(sums, e.device)
        seen = sum(-(-min(tc.batch_size, len(ds) - k) // e.world) * e.world  # with padding
                   for k in range(0, len(ds), tc.batch_size))
    return sums, seen


def _train_step(e: _Epoch, b: dict, sums: dict) -> dict[str, float]:
    """One optimizer step on batch ``b``: the model's loss terms plus the weight decay; the
    terms, the model's stats and the right steps added to ``sums``. -> the batch's loss, its
    terms and stats."""
    net = e.net
    with amp.autocast(e.tc.amp, e.device):  # (the weights and their decay stay float32)
        output = e.step_net(b)
        terms = net.loss(output, b)
    terms = {k: v.float() for k, v in terms.items()}
    terms["wd"] = weight_decay(net, e.tc.gamma) if e.tc.gamma else \
        output.scores.new_zeros((), dtype=torch.float32)
    loss = sum(terms.values())
    e.opt.zero_grad(set_to_none=True)
    (e.scaler.scale(loss) if e.scaler else loss).backward()
    y, mask = b["label"], b["mask"]
    # the gradient's norm (before clipping) every batch: TensorBoard's batch/grad_norm, the
    # epoch's mean in log.csv
    if e.scaler:
        e.scaler.unscale_(e.opt)
    grads = [p.grad for p in net.parameters() if p.grad is not None]
    norm = float(torch.nn.utils.clip_grad_norm_(net.parameters(), e.tc.clip_grad)
                 if e.tc.clip_grad else torch.nn.utils.get_total_norm(grads))
    sums["terms"]["grad_norm"] = sums["terms"].get("grad_norm", 0.0) + norm * len(y)
    if e.scaler:
        e.scaler.step(e.opt)
        e.scaler.update()
    else:
        e.opt.step()
    sums["loss"] += loss.item() * len(y)
    for k, v in terms.items():
        sums["terms"][k] = sums["terms"].get(k, 0.0) + v.item() * len(y)
    with torch.no_grad():
        stats = net.stats(output, b)
    for k, v in stats.items():
        sums["terms"][k] = sums["terms"].get(k, 0.0) + v * len(y)
    if "targets" in b:  # a step is right when its top class is one of the labels
        right = b["targets"].gather(1, output.scores.argmax(-1)).bool()
    else:
        right = output.scores.argmax(-1) == y[:, None]
    sums["correct"] += (right & mask).sum().item()
    sums["steps"] += mask.sum().item()
    return {"loss": loss.item(), **{k: v.item() for k, v in terms.items()}, **stats,
            "grad_norm": norm}


def _select(run: Run, net, at: _Progress, val: dict, epoch: int) -> bool:
    """Keep the epoch as the best when its validation top-1 is higher (ties: its clip
    accuracy); -> whether it was."""
    best = at.best
    improved = val["val_top1"] > best["val_top1"] or (
        val["val_top1"] == best["val_top1"]
        and val["val_clip_accuracy"] > best.get("val_clip_accuracy", -1))
    if improved:
        at.best = {**val, "epoch": epoch + 1}
        save_checkpoint(run.best_path, net.state_dict(), {"epoch": epoch + 1, "val": val})
    return improved


def _patience_spent(at: _Progress, tc: TrainConfig, epoch: int, world: int) -> bool:
    """Early stopping: ``tc.patience`` epochs done since the best one (``epoch`` epochs done so
    far). A pure function of the log, so a resumed or extended run stops where an uninterrupted
    one did; rank 0's decision (it alone selects) is every rank's."""
    stop = bool(tc.patience) and "epoch" in at.best and epoch - at.best["epoch"] >= tc.patience
    if world > 1:
        box = [stop]
        torch.distributed.broadcast_object_list(box, src=0)
        stop = box[0]
    return stop


def _sum_across_ranks(sums: dict, device) -> dict:
    """Every rank's epoch sums added up (all ranks call this with the same keys)."""
    keys = sorted(sums["terms"])
    vec = torch.tensor([sums["loss"], sums["correct"], sums["steps"],
                        *(sums["terms"][k] for k in keys)], dtype=torch.float64, device=device)
    torch.distributed.all_reduce(vec)
    v = vec.tolist()
    return {"loss": v[0], "correct": v[1], "steps": v[2], "terms": dict(zip(keys, v[3:]))}


def _write_log(path: Path, history: list[dict]) -> None:
    """log.csv, one row an epoch; a column added since a run began is empty in its first rows."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(dict.fromkeys(k for r in history for k in r)),
                           restval="")
        w.writeheader()
        w.writerows(history)
    tmp.replace(path)
