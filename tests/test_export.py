"""glimpse export: every model that reads rgb streams as one artifact (torch.export .pt2, and
ONNX through onnxruntime) that gives, in a fresh process without glimpse, the scores and the
attention glimpse predict gives on the same frames."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from glimpse.cli import main
from tests.conftest import small_store

T = 6
MODELS = {  # run name -> glimpse train's model flags
    "structured": ["--model", "structured", "--hidden", "8"],
    "soft": ["--model", "soft", "--hidden", "8"],
    "none": ["--model", "none", "--hidden", "8"],
    "avgpool": ["--model", "avgpool", "--hidden", "8"],
    "maxpool": ["--model", "maxpool", "--hidden", "8"],
    "softmax-regression": ["--model", "softmax-regression"],
    "rstan": ["--model", "rstan", "--stream", "rgb", "--att-dim", "8", "--hidden", "8"],
    "joint": ["--model", "joint", "--width", "8", "--hidden", "8"],
    "reinforce": ["--model", "reinforce", "--hidden", "8"],
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    small_store(root, "--streams", "rgb,flow", "--levels", "2")
    for name, flags in MODELS.items():
        assert main(["train", str(root / "feats"), "--out", str(root / name), *flags,
                     "--epochs", "1", "--batch-size", "4", "--clip-len", str(T), "--stride", "3",
                     "--quiet"]) == 0
    return root


def _frames(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (T, 256, 256, 3), dtype=np.uint8)


RUNNER = """
import json, sys
import numpy as np, torch
frames = torch.from_numpy(np.load(sys.argv[1]))
out = {}
for path in sys.argv[2:]:
    if path.endswith(".pt2"):
        res = torch.export.load(path).module()(frames)
        res = [r.detach().numpy() for r in res]
    else:
        import onnxruntime
        res = onnxruntime.InferenceSession(path).run(None, {"frames": frames.numpy()})
    out[path] = [r.tolist() for r in res]
assert not any(m.split(".")[0] == "glimpse" for m in sys.modules), "glimpse was imported"
print(json.dumps(out))
"""


def _run_elsewhere(frames_file: Path, artifacts: list[Path]) -> dict:
    """The artifacts run in a fresh Python that imports torch (and onnxruntime), never glimpse."""
    r = subprocess.run([sys.executable, "-c", RUNNER, str(frames_file), *map(str, artifacts)],
                       capture_output=True, text=True, cwd=frames_file.parent, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout)


def test_every_rgb_model_exports_and_scores_as_predict_does(runs, tmp_path, capsys):
    from glimpse.predict import Predictor

    frames = _frames()
    np.save(tmp_path / "frames.npy", frames)
    artifacts = []
    for name in MODELS:
        out = tmp_path / f"{name}.pt2"
        assert main(["export", str(runs / name), str(out)]) == 0
        info = json.loads((tmp_path / f"{name}.pt2.json").read_text())
        assert info["frames"] == [T, 256, 256, 3] and info["outputs"][0] == "scores"
        artifacts.append(out)
    got = _run_elsewhere(tmp_path / "frames.npy", artifacts)
    for name, out in zip(MODELS, artifacts):
        p = Predictor(runs / name).predict(frames, fps=25.0)
        assert p["clips"] == 1
        labels = json.loads((tmp_path / f"{name}.pt2.json").read_text())["labels"]
        want = np.array([p["scores"][label] for label in labels])
        scores = np.array(got[str(out)][0])
        np.testing.assert_allclose(scores, want, atol=1e-4, err_msg=name)
        info = json.loads((tmp_path / f"{name}.pt2.json").read_text())
        if "attention" in info["outputs"]:
            np.testing.assert_allclose(np.array(got[str(out)][1]), np.array(p["attention"]),
                                       atol=1e-4, err_msg=name)


def test_onnx_runs_in_onnxruntime_as_the_model_does(runs, tmp_path):
    pytest.importorskip("onnxruntime")  # a dev extra; CI installs it
    from glimpse.export import build

    frames = _frames(1)
    np.save(tmp_path / "frames.npy", frames)
    out = tmp_path / "soft.onnx"
    assert main(["export", str(runs / "soft"), str(out)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames.npy", "soft.onnx",
                                                           "soft.onnx.json"]  # one file
    (tmp_path / "elsewhere").mkdir()
    out = out.rename(tmp_path / "elsewhere" / "soft.onnx")  # it travels alone
    got = _run_elsewhere(tmp_path / "frames.npy", [out])[str(out)]
    import torch

    module, info = build(runs / "soft")
    with torch.no_grad():
        want = module(torch.from_numpy(frames))
    assert info["outputs"] == ["scores", "attention"]
    for g, w in zip(got, want):
        np.testing.assert_allclose(np.array(g), w.numpy(), atol=1e-4)


def test_what_cannot_be_exported_is_one_line(runs, tmp_path, capsys):
    run = tmp_path / "flow"
    assert main(["train", str(runs / "feats"), "--out", str(run), "--model", "avgpool",
                 "--stream", "flow", "--epochs", "1", "--batch-size", "4", "--clip-len", str(T),
                 "--hidden", "8", "--quiet"]) == 0
    capsys.readouterr()
    for argv, message in (([str(run), str(tmp_path / "f.pt2")], "optical flow"),
                          ([str(runs / "soft"), str(tmp_path / "f.zip")], ".pt2"),
                          ([str(runs / "soft"), str(tmp_path / "no" / "f.pt2")],
                           "is not a folder")):
        assert main(["export", *argv]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err
    assert not list(tmp_path.glob("*.pt2*")) and not list(tmp_path.glob(".*tmp*"))
