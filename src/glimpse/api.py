"""glimpse from Python: extract features, train from a config, load a run and predict a video file
or frames already in memory, with scores and attention.

    from glimpse import api

    api.extract("videos/", "features/", fps=0)           # a dataset folder -> a feature store
    api.train("runs/soft", features="features/", model="soft", hidden=128, epochs=20)
    model = api.load("runs/soft")                          # or: model = api.train(...)
    p = model.predict("clip.mp4")                          # or a (T, H, W, 3) uint8 array
    p.label, p.top5, p.attention                           # attention: (frames, K, K)
    ps = model.predict(["a.mp4", "b.mp4"], top_k=3)        # a list -> a list of Predictions
    module = model.module()                                # torch nn.Module: frames -> scores

Each function is the command of the same name (``glimpse extract``, ``glimpse train``,
``glimpse predict``) without the command line: the same files, the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import torch

from glimpse import GlimpseError
from glimpse.config import TrainConfig, read_settings
from glimpse.features.extract import Summary
from glimpse.features.extract import extract as _extract
from glimpse.predict import Predictor
from glimpse.recipes import recipe_defaults

__all__ = ["Model", "Prediction", "extract", "load", "train"]


@dataclass
class Prediction:
    label: str  # the top class
    score: float  # its probability
    top5: list[tuple[str, float]]
    scores: dict[str, float]  # every class's probability (the mean over the video's clips)
    attention: np.ndarray | None  # (frames, K, K): where the model looked; None without any
    times: list[float]  # each featurized frame's time in seconds
    clips: int  # the clips the video was cut into
    top: list[tuple[str, float]]  # the top_k classes asked for (top5: always the first five)
    video: str  # the file, or "(frames in memory)"


class Model:
    """A trained run's best model with the featurizer of its features; see ``load``.
    ``predict`` takes what a user has (a file, a folder of frame images, frames as a numpy array
    or a torch tensor, or a list of any of them); ``module()`` is the same model as a torch
    ``nn.Module`` from frames to scores (what ``glimpse export`` writes); ``best`` is the
    record of the checkpoint it loaded (its epoch and validation top-1) after ``train``."""

    def __init__(self, predictor: Predictor, run: Path, best: dict | None = None):
        self._predictor, self.run, self.best = predictor, Path(run), best
        self.name: str = predictor.name
        self.labels: list[str] = predictor.labels

    def predict(self, video, *, fps: float | None = None, top_k: int = 5):
        """One video -> a Prediction; a list (or tuple) of videos -> a list of Predictions.
        A video is a file, a folder of frame images, or frames in memory: a (T, H, W, 3)
        uint8 RGB numpy array or torch tensor, shown at ``fps`` frames a second (default 25;
        for a folder of frame images, its rate, default the run's ``--image-fps``)."""
        if isinstance(video, (list, tuple)):
            return [self.predict(v, fps=fps, top_k=top_k) for v in video]
        if not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1:
            raise GlimpseError(f"top_k must be a whole number >= 1, got {top_k!r}")
        if isinstance(video, torch.Tensor):
            video = video.detach().cpu().numpy()
        if isinstance(video, np.ndarray) and (video.dtype != np.uint8 or video.ndim != 4
                                              or video.shape[-1] != 3):
            raise GlimpseError(f"frames must be uint8 (T, H, W, 3) RGB, got {video.dtype} "
                               f"{tuple(video.shape)}")
        r = self._predictor.predict(video, fps=fps)
        top = sorted(r["scores"].items(), key=lambda kv: -kv[1])[:top_k]
        return Prediction(r["label"], r["score"], r["top5"], r["scores"], r["attention"],
                          r["times"], r["clips"], top, r["video"])

    def module(self) -> torch.nn.Module:
        """The backbone and the model as one torch module on the model's device, sharing their
        weights: uint8 frames (T, S, S, 3) -> (clip scores (C,), attention (T, K, K)) as
        ``glimpse export`` writes it (glimpse.export)."""
        from glimpse.export import assemble

        p = self._predictor
        return assemble(p.config, p.name, p.featurizer.net, p.model, p.featurizer.size)[0]

    def export(self, out: str | Path) -> Path:
        """``glimpse export``: the module as OUT.pt2 or OUT.onnx, with OUT.json."""
        from glimpse.export import export_run

        return export_run(self.run, out, weights=self._predictor.weights, log=lambda *_: None)


def load(run: str | Path, *, device: str = "cpu", weights: str | Path | None = None,
         flow_weights: str | Path | None = None) -> Model:
    """A run folder made by ``train`` (its best checkpoint). ``weights`` / ``flow_weights``:
    the backbone files the run was extracted with, where they are not the bundled default."""
    return Model(Predictor(run, weights=weights, flow_weights=flow_weights, device=device), run)


def extract(data: str | Path, out: str | Path, **options) -> Summary:
    """A dataset folder (``ROOT/<class>/[<group>/]<clip>``) -> a feature store at ``out``;
    ``options`` as ``glimpse extract``'s (``fps``, ``streams``, ``levels``, ``format``, ...)."""
    options.setdefault("progress", False)
    return _extract(data, out, **options)


def train(out: str | Path, *, config: str | Path | None = None, progress: bool = False,
          tensorboard: bool = True, **settings) -> Model:
    """Train (or resume) a run at ``out``; -> the trained Model (its best checkpoint; ``.best``:
    the epoch and validation top-1 it was selected at). ``config``: a YAML /
    JSON file of settings or a run's config.json (``glimpse train --config``); ``settings``
    (``features``, ``model``, any model option or training setting by its option name) win
    over it, and both over the ``recipe``'s (``glimpse.recipes``)."""
    values = read_settings(config) if config is not None else {}
    values.update(settings)
    values = {**recipe_defaults(values.get("recipe"), values.get("model")), **values}
    values.pop("quiet", None)
    values.pop("out", None)  # a config file's run folder: the argument ``out`` is this call's
    missing = [k for k in ("features", "model") if values.get(k) is None]
    if missing:
        raise GlimpseError(f"train needs {' and '.join(missing)} (as arguments or in config)")
    features, model = values.pop("features"), values.pop("model")
    known = {f.name for f in fields(TrainConfig)}
    tc = TrainConfig(**{k: v for k, v in values.items() if k in known})
    options = {k: v for k, v in values.items() if k not in known}
    from glimpse.models import model_options

    unknown = sorted(set(options) - set(model_options(model)))
    if unknown:
        raise GlimpseError(f"train: unknown setting(s) {', '.join(unknown)}: neither a training "
                           f"setting ({', '.join(sorted(known - {'recipe'}))}, recipe) nor an "
                           f"option of model '{model}' ({', '.join(model_options(model))})")
    from glimpse.train import train as _train

    best = _train(features, out, model, options, tc, progress=progress, log=lambda *_: None,
                  tensorboard=tensorboard)
    return Model(Predictor(out, device=tc.device), out, best)
