"""``glimpse export RUN OUT``: a trained run as one artifact a user can ship, from frames to
class scores and attention, the backbone included, in a standard format that runs without
glimpse.

The artifact is one function of one clip:

    frames  uint8 (T, S, S, 3) RGB, T the run's evaluation clip length, S its input size
    scores  float32 (C,): the clip's class scores by the model's own rule (softmax
            probabilities, or one sigmoid per class for a multi-label run), as ``glimpse
            predict`` scores a T-frame video
    attention  float32 (T, K, K): where each step looked (models with spatial attention only)

Inside: the run's backbone (its weights, its normalization), the features rounded to float16
as the feature store keeps them, the model in evaluation mode (reinforce: its greedy policy).
Formats: ``.pt2`` (``torch.export``; ``torch.export.load(path).module()(frames)``) and
``.onnx`` (``torch.onnx.export``, run by onnxruntime). Beside the artifact, ``OUT.json`` gives
the labels, T, S, the outputs and the rule. A run that reads optical flow cannot be exported:
its flow is OpenCV's DIS on the decoded frames, not a torch operation.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from glimpse import GlimpseError
from glimpse.evaluate import clip_settings
from glimpse.features.extract import LEVEL2, POOLED, Featurizer
from glimpse.io import replace_synced, temporary_beside, write_json_atomic
from glimpse.models.output import clip_score
from glimpse.run import load_run

FORMATS = {".pt2": "pt2", ".onnx": "onnx"}
KEYS = {"rgb": "cube", POOLED: "pooled", LEVEL2: "level2"}  # a stream -> the backbone's output


class FramesToScores(nn.Module):
    """The backbone and the model of a run as one module: frames (T, S, S, 3) uint8 ->
    (scores (C,),) or (scores (C,), attention (T, K, K))."""

    def __init__(self, backbone: nn.Module, model: nn.Module, *, rule: str, multilabel: bool):
        super().__init__()
        self.backbone, self.model = backbone.eval(), model.eval()
        self.rule, self.multilabel = rule, multilabel
        self.streams = tuple(model.streams)

    def forward(self, frames: torch.Tensor):
        out = self.backbone.levels(frames)
        batch = {s: out[KEYS[s]].to(torch.float16).float().unsqueeze(0) for s in self.streams}
        batch["mask"] = torch.ones(1, frames.shape[0], dtype=torch.bool, device=frames.device)
        o = self.model(batch)
        logits = o.scores[0].float()
        probs = torch.sigmoid(logits) if self.multilabel else torch.softmax(logits, -1)
        scores = clip_score(probs, self.rule)
        if o.attention is None:
            return (scores,)
        return scores, o.attention[0].float()


def exportable(config: dict) -> None:
    """Refuse a run whose model reads a stream the artifact cannot compute."""
    streams = list(config["model"]["inputs"])
    if "flow" in streams:
        raise GlimpseError("this run reads optical flow, which glimpse computes with OpenCV's DIS "
                           "on the decoded frames, not a torch operation: it cannot be exported "
                           "(train the model on rgb streams to export it)")


def build(run: str | Path, *, weights=None) -> tuple[FramesToScores, dict]:
    """The run's FramesToScores on the CPU and what OUT.json says about it."""
    loaded = load_run(run)
    cfg = loaded.config
    fz = Featurizer.for_run(cfg["feature"], cfg["model"]["inputs"], weights=weights)
    return assemble(cfg, loaded.name, fz.net, loaded.model, fz.size)


def assemble(cfg: dict, name: str, net: nn.Module, model: nn.Module,
             size: int) -> tuple[FramesToScores, dict]:
    """A loaded run's backbone ``net`` and ``model`` (its config ``cfg``, input ``size``) as
    one FramesToScores on their device, and what OUT.json says about it."""
    exportable(cfg)
    module = FramesToScores(net, model, rule=model.prediction,
                            multilabel=bool(cfg.get("multilabel")))
    T = clip_settings(cfg)["T"]
    with torch.no_grad():
        probe = module(torch.zeros(T, size, size, 3, dtype=torch.uint8, device=net.mean.device))
    outputs = ["scores"] + (["attention"] if len(probe) > 1 else [])
    info = {"model": name, "labels": cfg["labels"], "frames": [T, size, size, 3],
            "dtype": "uint8", "outputs": outputs, "rule": model.prediction,
            "scores": "sigmoid per class" if module.multilabel else "softmax probabilities",
            "attention_grid": list(probe[1].shape[1:]) if len(probe) > 1 else None,
            "feature_fps": cfg["feature"]["fps"], "backbone": cfg["feature"]["backbone"]}
    return module, info


def export_run(run: str | Path, out: str | Path, *, weights=None, opset: int | None = None,
               log=print) -> Path:
    """Write the run's artifact to ``out`` (.pt2 or .onnx, by its suffix) and ``out``.json;
    both are written whole or not at all."""
    out = Path(out)
    fmt = FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise GlimpseError(f"{out}: name the artifact .pt2 (torch.export) or .onnx")
    if not out.parent.is_dir():
        raise GlimpseError(f"{out.parent} is not a folder")
    module, info = build(run, weights=weights)
    frames = torch.zeros(info["frames"], dtype=torch.uint8)
    tmp = temporary_beside(out).with_suffix(out.suffix)
    log(f"exporting {info['model']} ({fmt}): frames {tuple(info['frames'])} uint8 -> "
        f"{', '.join(info['outputs'])}")
    try:
        with torch.no_grad():
            program = torch.export.export(module, (frames,))
        if fmt == "pt2":
            torch.export.save(program, tmp)
        else:
            _onnx(program, tmp, info["outputs"], opset)
        replace_synced(tmp, out)
    except GlimpseError:
        raise
    except Exception as e:  # the exporters' own errors: one line, the model named
        raise GlimpseError(f"{info['model']} could not be exported to {fmt}: "
                           f"{type(e).__name__}: {str(e).splitlines()[0][:300]}") from None
    finally:
        tmp.unlink(missing_ok=True)
    write_json_atomic(out.with_name(out.name + ".json"), {**info, "format": fmt,
                                                          "file": out.name})
    return out


def _onnx(program, path: Path, outputs: list[str], opset: int | None) -> None:
    try:
        import onnxscript  # noqa: F401 (torch.onnx's exporter needs it)
    except ImportError:
        raise GlimpseError("ONNX export needs the onnx and onnxscript packages: pip install "
                           "'glimpse[export]'") from None
    kwargs = {} if opset is None else {"opset_version": opset}
    # the weights inside the one file (external_data would name the data file after the
    # temporary path; every glimpse model is far under ONNX's 2 GB)
    torch.onnx.export(program, f=str(path), input_names=["frames"], output_names=outputs,
                      dynamo=True, verbose=False, external_data=False, **kwargs)

