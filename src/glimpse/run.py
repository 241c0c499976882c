"""The run folder: its config, split, checkpoints and metrics, and loading a trained run.

Layout (run format 2)::

    RUN/
      config.json        {"format": 2, "model": {name, num_classes, inputs, options},
                          "train": TrainConfig, "feature": the store's shared feature spec,
                          "labels": [...], "features": the store's path}
      split.json         entry ids of train / val / test (group-disjoint; val carved from train)
      best.safetensors   the model's weights at the best validation epoch; header metadata
                         "glimpse" = JSON {"epoch", "val"}
      last.safetensors   everything needed to resume: model and optimizer tensors and RNG states
                         as tensors; header metadata "glimpse" = JSON {"epoch", "step", "history",
                         "best", "sums", "optimizer" (its plain-typed part), "numpy_rng"}
      log.csv            one row per epoch: every loss term, train step accuracy, validation,
                         the torch thread count it trained at and its seconds
      metrics.json       written by evaluate; names the split and the checkpoint it scored
      predictions_<split>.csv

Nothing in a run folder is unpickled: tensors are safetensors, everything else JSON, so a
crafted file cannot run code. Run folders of glimpse 0.1 (``best.pt`` / ``last.pt``, pickles)
are refused with a message saying what to do.

A run's identity is its config without ``train.device``, ``train.epochs``,
``train.checkpoint_every`` and the store's path: re-running ``glimpse train`` with the same
identity resumes (on another device, or with more epochs to extend a finished run); another
identity is refused.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from glimpse import GlimpseError
from glimpse.config import NOT_IDENTITY, TrainConfig, from_dict
from glimpse.io import file_digest, read_json, replace_synced, temporary_beside, write_json_atomic
from glimpse.models import MODELS, ModelConfig, build_model, model_options

RUN_FORMAT = 2
META_KEY = "glimpse"


# -- checkpoints --------------------------------------------------------------------------------
def save_checkpoint(path: Path, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    """Tensors + JSON metadata as one safetensors file, written atomically."""
    from safetensors.torch import save_file

    path = Path(path)
    tmp = temporary_beside(path)
    flat = {k: v.detach().to("cpu").clone().contiguous() for k, v in tensors.items()}
    save_file(flat, str(tmp), metadata={META_KEY: json.dumps(meta)})
    replace_synced(tmp, path)


def load_checkpoint(path: Path, device="cpu") -> tuple[dict[str, torch.Tensor], dict]:
    """-> (tensors, metadata); any unreadable file is one clear GlimpseError."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt", device=str(device)) as f:
            meta = json.loads((f.metadata() or {}).get(META_KEY, "{}"))
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # noqa: BLE001 - a corrupt or foreign file: one line, never a traceback
        raise GlimpseError(f"cannot read checkpoint {path} ({e.__class__.__name__}: {e}); it is "
                           f"not a glimpse safetensors checkpoint") from None
    return tensors, meta


def check_shapes(mc, path: Path) -> None:
    """Refuse a config whose tensors disagree with the checkpoint's (an edited config.json): the
    model is built on the meta device (shapes only, no memory) and compared with the shapes in
    the file's header."""
    from safetensors import safe_open

    from glimpse.models import build_model

    try:
        with torch.device("meta"):
            want = {k: tuple(v.shape) for k, v in build_model(mc).state_dict().items()}
    except (RuntimeError, ValueError, OverflowError, TypeError) as e:
        raise GlimpseError(f"the model in {path.parent / 'config.json'} cannot be built "
                           f"({e.__class__.__name__}: {str(e).splitlines()[0]}); the config was "
                           f"edited: restore it or train a new run") from None
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            have = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except Exception as e:  # noqa: BLE001 - a corrupt or foreign file: one line
        raise GlimpseError(f"cannot read checkpoint {path} ({e.__class__.__name__}: {e}); it is "
                           f"not a glimpse safetensors checkpoint") from None
    bad = sorted(k for k in set(want) | set(have) if want.get(k) != have.get(k))
    if bad:
        k = bad[0]
        raise GlimpseError(f"{path.parent / 'config.json'} does not match the weights in {path}: "
                           f"{k} is {have.get(k, 'absent')} in the file but {want.get(k, 'absent')} "
                           f"by the config ({len(bad)} tensor(s) differ); the config was edited: "
                           f"restore it or train a new run")


def _prefixed(prefix: str, d: dict) -> dict:
    return {f"{prefix}{k}": v for k, v in d.items()}


def _unprefixed(prefix: str, d: dict) -> dict:
    return {k[len(prefix):]: v for k, v in d.items() if k.startswith(prefix)}


def training_state(model, optimizer, meta: dict) -> tuple[dict, dict]:
    """(tensors, metadata) of everything a resumed run needs: weights, optimizer, RNG states."""
    tensors = _prefixed("model/", model.state_dict())
    opt = optimizer.state_dict()
    scalars = {}
    for pid, state in opt["state"].items():
        for k, v in state.items():
            if torch.is_tensor(v):
                tensors[f"optim/{pid}/{k}"] = v
            else:
                scalars.setdefault(str(pid), {})[k] = v
    tensors["rng/torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng/cuda/{i}"] = s
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    tensors["rng/numpy"] = torch.from_numpy(keys.astype(np.int64))
    meta = {**meta, "optimizer": {"param_groups": opt["param_groups"], "scalars": scalars},
            "numpy_rng": [kind, int(pos), int(has_gauss), float(gauss)]}
    return tensors, meta


def restore_training_state(model, optimizer, tensors: dict, meta: dict) -> None:
    model.load_state_dict(_unprefixed("model/", tensors))
    state: dict = {}
    for k, v in _unprefixed("optim/", tensors).items():
        pid, name = k.split("/", 1)
        state.setdefault(int(pid), {})[name] = v
    for pid, extra in meta["optimizer"]["scalars"].items():
        state.setdefault(int(pid), {}).update(extra)
    optimizer.load_state_dict({"state": state, "param_groups": meta["optimizer"]["param_groups"]})
    torch.set_rng_state(tensors["rng/torch"].cpu())
    cuda = [tensors[k].cpu() for k in sorted(tensors) if k.startswith("rng/cuda/")]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda[: torch.cuda.device_count()])
    kind, pos, has_gauss, gauss = meta["numpy_rng"]
    np.random.set_state((kind, tensors["rng/numpy"].numpy().astype(np.uint32), pos, has_gauss,
                         gauss))


# -- the run folder -----------------------------------------------------------------------------
def identity(config: dict) -> dict:
    """What must match for a re-run to continue a run (see the module docstring)."""
    ident = {k: v for k, v in config.items() if k != "features"}
    train = from_dict(TrainConfig, config["train"]).to_dict()  # a key added since: its default
    ident["train"] = {k: v for k, v in train.items() if k not in NOT_IDENTITY}
    if isinstance(config.get("model"), dict) and config["model"].get("name") in MODELS:
        model = ModelConfig.from_dict(config["model"])  # an option added since: the value that
        model.options = model_options(model.name, model.options)  # reproduces the run
        ident["model"] = model.to_dict()
    return json.loads(json.dumps(ident))  # tuples -> lists, as they come back from JSON


def check_config(path: Path, cfg: dict) -> None:
    """A run's config.json has what loading it needs, of the right kinds (one line naming the
    file and the field otherwise)."""
    need = {"model": dict, "train": dict, "feature": dict, "labels": list}
    for key, kind in need.items():
        if not isinstance(cfg.get(key), kind):
            raise GlimpseError(f"{path}: '{key}' must be a {'mapping' if kind is dict else 'list'}"
                               f" (a run's config.json, written by glimpse train)")
    model = cfg["model"]
    for key, kind in {"name": str, "inputs": dict, "options": dict, "num_classes": int}.items():
        if not isinstance(model.get(key), kind):
            raise GlimpseError(f"{path}: model.{key} is missing or of the wrong kind")
    if not all(isinstance(x, str) for x in cfg["labels"]):
        raise GlimpseError(f"{path}: 'labels' must be a list of class names")


class Run:
    """A run folder; see the module docstring for its files."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self._config = None

    config_path = property(lambda self: self.root / "config.json")
    best_path = property(lambda self: self.root / "best.safetensors")
    last_path = property(lambda self: self.root / "last.safetensors")
    split_path = property(lambda self: self.root / "split.json")
    metrics_path = property(lambda self: self.root / "metrics.json")
    log_path = property(lambda self: self.root / "log.csv")

    @contextmanager
    def lock(self):
        """Hold ``RUN/.lock`` (an advisory flock the OS drops when the process dies) while
        training: a second trainer of the same folder is refused in one line."""
        from glimpse.features.store import try_lock

        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / ".lock"
        fd = try_lock(path)
        if fd is None:
            pid = path.read_text().strip() or "unknown"
            raise GlimpseError(f"{self.root} is being trained by another process (pid {pid}); "
                               f"wait for it to finish, or train into another --out")
        try:
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
            yield
        finally:
            os.close(fd)

    def _refuse_old(self) -> None:
        if (self.root / "best.pt").exists() or (self.root / "last.pt").exists():
            raise GlimpseError(f"{self.root} was written by glimpse 0.1 (pickled best.pt / "
                               f"last.pt), which this version does not load because unpickling "
                               f"can run code; train it again into a new folder "
                               f"('glimpse train FEATURES --model NAME --out NEW')")

    @property
    def config(self) -> dict:
        if self._config is None:
            if not self.config_path.exists():
                self._refuse_old()
                raise GlimpseError(f"{self.root} is not a run folder (no config.json); train one "
                                   f"with 'glimpse train FEATURES --model NAME --out {self.root}'")
            cfg = read_json(self.config_path, what="a run's config")
            if cfg.get("format") != RUN_FORMAT:
                self._refuse_old()
                raise GlimpseError(f"{self.root}: run format {cfg.get('format')} is not "
                                   f"{RUN_FORMAT}; train it again into a new folder")
            check_config(self.config_path, cfg)
            self._config = cfg
        return self._config

    def start(self, config: dict) -> dict:
        """Create the run, or check that ``config`` continues the one here; returns the config
        now in force (device, epochs and checkpoint_every are the new ones)."""
        self.root.mkdir(parents=True, exist_ok=True)
        if self.config_path.exists() or (self.root / "best.pt").exists():
            old = self.config
            if identity(old) != identity(config):
                a, b = identity(old), identity(config)
                diff = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
                raise GlimpseError(f"{self.root} holds a run with other settings (differs in "
                                   f"{', '.join(diff)}); give another --out (or delete it to "
                                   f"start over)")
        write_json_atomic(self.config_path, config)
        self._config = config
        return config

    @property
    def split(self) -> dict:
        if not self.split_path.exists():
            raise GlimpseError(f"{self.root} has no split.json; it is not a complete run folder")
        split = read_json(self.split_path, keys=("train", "val", "test"), what="a run's split")
        for part in ("train", "val", "test"):
            if not isinstance(split[part], list) or not all(isinstance(e, str)
                                                            for e in split[part]):
                raise GlimpseError(f"{self.split_path}: '{part}' must be a list of entry ids")
        return split

    def _require_best(self) -> None:
        self.config  # noqa: B018 - refuses old or foreign folders first
        if not self.best_path.exists():
            raise GlimpseError(f"{self.root} holds no trained model (no best.safetensors); train "
                               f"one with 'glimpse train FEATURES --model NAME --out {self.root}'")

    def load_model(self, device="cpu", options: dict | None = None):
        """The best model in eval mode, and {"epoch", "val", "digest"} of its checkpoint;
        ``options`` set the model's test-time options (its class's ``test_options``)."""
        self._require_best()
        mc = ModelConfig.from_dict(self.config["model"])
        if options:
            mc = with_test_options(mc, options)
        check_shapes(mc, self.best_path)  # before a byte of the model or the weights is allocated
        tensors, meta = load_checkpoint(self.best_path, device=device)
        model = build_model(mc).to(device)
        try:
            model.load_state_dict(tensors)
        except RuntimeError as e:
            raise GlimpseError(f"{self.best_path} does not fit the model in config.json "
                               f"({str(e).splitlines()[0]})") from None
        return model.eval(), {**meta, "digest": file_digest(self.best_path)}

    def current_metrics(self, split: str, features: str | Path | None = None,
                        video_rule: str | None = None) -> dict | None:
        """metrics.json if it scores today's best checkpoint on ``split`` (and, if given, on the
        store ``features`` and by ``video_rule``); None if it is missing or stale."""
        if not self.metrics_path.exists() or not self.best_path.exists():
            return None
        try:
            m = read_json(self.metrics_path, what="a run's metrics")
        except GlimpseError:  # a damaged cache of numbers: stale, scored again, never trusted
            return None
        if m.get("test_options") or m.get("views"):  # scored another way than the run's own
            return None
        if m.get("split") != split or m.get("checkpoint_digest") != file_digest(self.best_path):
            return None
        if features is not None and Path(m.get("features", "")) != Path(features).resolve():
            return None
        if video_rule is not None and m.get("video_rule") != video_rule:
            return None
        return m


@dataclass
class LoadedRun:
    run: Run
    config: dict
    model: torch.nn.Module
    checkpoint: dict  # epoch, val, digest

    @property
    def name(self) -> str:
        return self.config["model"]["name"]


def with_test_options(mc: ModelConfig, options: dict) -> ModelConfig:
    """``mc`` with test-time ``options`` set; any other option is refused (it would need
    retraining)."""
    from dataclasses import replace

    allowed = MODELS[mc.name].test_options
    bad = sorted(set(options) - set(allowed))
    if bad:
        raise GlimpseError(f"{', '.join(bad)} cannot change at test time for model "
                           f"'{mc.name}' (it can: {', '.join(allowed) or 'nothing'}); train "
                           f"a run with it instead")
    return replace(mc, options={**mc.options, **options})


def load_run(root: str | Path, device="cpu", options: dict | None = None) -> LoadedRun:
    run = Run(root)
    model, info = run.load_model(device, options)
    return LoadedRun(run, run.config, model, info)
