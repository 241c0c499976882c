"""Training: clips from a feature store, the papers' objective, validation-based selection.

The run folder holds everything ``evaluate`` and ``predict`` need::

    RUN/
      config.json     model + train config, feature spec, labels, the feature store's path
      split.json      entry ids of train / val / test (group-disjoint; val carved from train)
      best.pt         the checkpoint with the best validation video accuracy
      last.pt         everything needed to resume: model, optimizer, RNG, epoch, step, history
      log.csv         one row per epoch: losses, train clip accuracy, validation accuracy

Re-running the same command resumes from last.pt (after a kill at any moment the run continues
from the last checkpoint and ends with the same weights as an uninterrupted run). Model
selection uses the validation split, never the test split.
"""

from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from glimpse import GlimpseError
from glimpse.config import ModelConfig, TrainConfig, from_dict
from glimpse.datasets.clips import ClipDataset, batches, split_store
from glimpse.evaluate import compute_metrics, run_clips
from glimpse.features.store import FeatureStore, write_json_atomic
from glimpse.losses import (
    block_index_sets,
    doubly_stochastic_penalty,
    l21_block_penalty,
    sequence_cross_entropy,
    weight_decay,
)
from glimpse.models import build_model, model_class
from glimpse.progress import progress_bar


def _save_atomic(obj, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    torch.save(obj, tmp)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def resolve_model_config(cfg: ModelConfig) -> ModelConfig:
    """Fill the paper defaults (layers, lambda) so the saved config says what actually ran."""
    cls = model_class(cfg.name)
    if cfg.layers is None and cls.default_layers:
        cfg.layers = cls.default_layers
    if cfg.lam is None:
        cfg.lam = cls.default_lam
    return cfg


class Objective:
    """CE at every step + gamma * sum theta^2 + lambda * the model's attention penalty."""

    def __init__(self, model, cfg: ModelConfig, gamma: float):
        self.model, self.gamma, self.lam = model, gamma, cfg.lam or 0.0
        self.kind = getattr(model, "penalty", None)
        self.blocks = None
        if self.kind == "l21":
            side = cfg.block_side or cfg.grid // cfg.block_count
            self.blocks = block_index_sets(cfg.grid, side, cfg.block_stride)

    def __call__(self, scores, attention, labels, mask) -> tuple[torch.Tensor, dict]:
        ce = sequence_cross_entropy(scores, labels, mask)
        wd = weight_decay(self.model, self.gamma) if self.gamma else scores.new_zeros(())
        pen = scores.new_zeros(())
        if self.lam and self.kind == "l21":
            pen = l21_block_penalty(attention, self.blocks, mask)
        elif self.lam and self.kind == "doubly_stochastic":
            pen = doubly_stochastic_penalty(attention, mask)
        total = ce + wd + self.lam * pen
        return total, {"ce": ce.item(), "wd": wd.item(), "penalty": pen.item()}


def _rng_state():
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state()}


def _set_rng_state(s):
    torch.set_rng_state(s["torch"])
    np.random.set_state(s["numpy"])


def _epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    g = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return torch.randperm(n, generator=g).tolist()


def validate(model, entries, tc: TrainConfig, labels: list[str], device) -> dict:
    results = run_clips(model, entries, T=tc.clip_len, stride=tc.stride, device=device)
    y = np.array([e.label_index for e in entries])
    m, _, _ = compute_metrics(results, y, labels, video_rule="vote")
    return {"val_top1": m["top1"], "val_clip_accuracy": m["clip_accuracy"]}


def train(features: str | Path, out: str | Path, model_cfg: ModelConfig, tc: TrainConfig, *,
          progress: bool = True, log=print) -> dict:
    """Train (or resume) a run; returns the best validation record."""
    out = Path(out)
    store = FeatureStore(features)
    spec, labels = store.feature, store.labels
    model_cfg.num_classes, model_cfg.feature_dim, model_cfg.grid = len(labels), spec["channels"], \
        spec["grid"]
    model_cfg = resolve_model_config(model_cfg)
    config = {"model": model_cfg.to_dict(), "train": tc.to_dict(), "feature": spec,
              "labels": labels, "features": str(Path(features).resolve())}
    out.mkdir(parents=True, exist_ok=True)
    last_path = out / "last.pt"
    if (out / "config.json").exists():
        old = json.loads((out / "config.json").read_text())
        same = {k: v for k, v in old.items() if k != "features"} == \
            {k: v for k, v in json.loads(json.dumps(config)).items() if k != "features"}
        if not same:
            raise GlimpseError(f"{out} holds a run with other settings; give another --out "
                               f"(or delete it to start over)")
    else:
        write_json_atomic(out / "config.json", config)

    if (out / "split.json").exists():
        split = json.loads((out / "split.json").read_text())
    else:
        split = split_store(store, test_fraction=tc.test_fraction, val_fraction=tc.val_fraction,
                            seed=tc.split_seed)
        write_json_atomic(out / "split.json", split)
    if not split["train"] or not split["val"]:
        raise GlimpseError("the split left no training or no validation videos: the store needs "
                           "at least 3 groups (or videos) per class")
    train_entries = [store.entry(i) for i in split["train"]]
    val_entries = [store.entry(i) for i in split["val"]]
    ds = ClipDataset(train_entries, tc.clip_len, tc.stride)

    device = torch.device(tc.device)
    torch.manual_seed(tc.seed)
    np.random.seed(tc.seed)
    model = build_model(model_cfg).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=tc.lr)
    objective = Objective(model, model_cfg, tc.gamma)
    start_epoch, start_step, history, best = 0, 0, [], {"val_top1": -1.0}
    resumed_sums = None
    if last_path.exists():
        ck = torch.load(last_path, map_location=device, weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        _set_rng_state(ck["rng"])
        start_epoch, start_step, history, best = ck["epoch"], ck["step"], ck["history"], ck["best"]
        resumed_sums = ck["sums"]
        log(f"resuming {out} at epoch {start_epoch + 1}, batch {start_step}")

    def checkpoint(epoch, step, sums=None):
        _save_atomic({"model": model.state_dict(), "optimizer": opt.state_dict(),
                      "rng": _rng_state(), "epoch": epoch, "step": step, "history": history,
                      "best": best, "sums": sums}, last_path)

    n_batches = (len(ds) + tc.batch_size - 1) // tc.batch_size
    for epoch in range(start_epoch, tc.epochs):
        model.train()
        order = _epoch_order(len(ds), tc.seed, epoch)
        skip = start_step if epoch == start_epoch else 0
        # a mid-epoch checkpoint carries the epoch's running sums, so the logged row is whole
        sums = dict(resumed_sums) if skip else {"loss": 0.0, "ce": 0.0, "penalty": 0.0,
                                                 "correct": 0, "steps": 0}
        t0 = time.time()
        bar = progress_bar(total=n_batches, initial=skip, unit="batch",
                           desc=f"epoch {epoch + 1}/{tc.epochs}", enabled=progress)
        for step, b in enumerate(batches(ds, tc.batch_size, order[skip * tc.batch_size:]),
                                 start=skip):
            x, mask, y = b["features"].to(device), b["mask"].to(device), b["label"].to(device)
            scores, att = model(x, mask)
            loss, parts = objective(scores, att, y, mask)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sums["loss"] += loss.item() * len(y)
            sums["ce"] += parts["ce"] * len(y)
            sums["penalty"] += parts["penalty"] * len(y)
            sums["correct"] += ((scores.argmax(-1) == y[:, None]) & mask).sum().item()
            sums["steps"] += mask.sum().item()
            bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
            bar.update(1)
            if tc.checkpoint_every and (step + 1) % tc.checkpoint_every == 0 and step + 1 < n_batches:
                checkpoint(epoch, step + 1, sums)
        bar.close()
        seen = len(ds)
        val = validate(model, val_entries, tc, labels, device)
        row = {"epoch": epoch + 1, "train_loss": sums["loss"] / seen, "train_ce": sums["ce"] / seen,
               "train_penalty": sums["penalty"] / seen,
               "train_step_accuracy": sums["correct"] / max(1, sums["steps"]), **val,
               "seconds": round(time.time() - t0, 2)}
        history.append(row)
        improved = val["val_top1"] > best["val_top1"] or (
            val["val_top1"] == best["val_top1"] and val["val_clip_accuracy"] > best.get("val_clip_accuracy", -1))
        if improved:
            best = {**val, "epoch": epoch + 1}
            _save_atomic({"model": model.state_dict(), "config": config, "epoch": epoch + 1,
                          "val": val}, out / "best.pt")
        checkpoint(epoch + 1, 0)
        _write_log(out / "log.csv", history)
        log(f"epoch {epoch + 1}/{tc.epochs}: loss {row['train_loss']:.3f}, train acc "
            f"{row['train_step_accuracy']:.3f}, val top1 {val['val_top1']:.3f}"
            f"{' (best)' if improved else ''} [{row['seconds']:.0f}s]")
    return best


def _write_log(path: Path, history: list[dict]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(history[0]))
        w.writeheader()
        w.writerows(history)
    tmp.replace(path)


def load_run(run: str | Path, device="cpu") -> dict:
    """The best checkpoint of a run folder -> {"config", "model" (eval mode), "epoch"}."""
    run = Path(run)
    best = run / "best.pt"
    if not best.exists():
        raise GlimpseError(f"{run} holds no trained model (no best.pt); train one with "
                           f"'glimpse train FEATURES --model NAME --out {run}'")
    ck = torch.load(best, map_location=device, weights_only=False)
    cfg = ck["config"]
    model = build_model(from_dict(ModelConfig, cfg["model"])).to(device)
    model.load_state_dict(ck["model"])
    return {"config": cfg, "model": model.eval(), "epoch": ck["epoch"]}
