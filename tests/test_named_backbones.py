"""Backbones by name (issue 48): a timm and a torchvision model, randomly initialized and saved
to a local file, extract a store (their layer by name, their preprocessing recorded), train a
model on it and predict a video with the same features; nothing is downloaded, and a wrong
name, file or layer is one line."""

import json

import pytest
import torch

from glimpse.cli import main
from tests.conftest import small_videos


def _saved(tmp_path, lib: str, name: str):
    torch.manual_seed(0)
    if lib == "timm":
        timm = pytest.importorskip("timm")
        model = timm.create_model(name, pretrained=False)
    else:
        import torchvision.models as tvm

        model = tvm.get_model(name, weights=None)
    path = tmp_path / f"{name}.pth"
    torch.save(model.state_dict(), path)
    return path


@pytest.mark.parametrize("backbone,layer,channels", [("torchvision:resnet18", "layer3", 256),
                                                     ("timm:resnet18", None, 512)])
def test_a_named_backbone_extracts_trains_and_predicts(tmp_path, capsys, backbone, layer,
                                                       channels):
    lib, name = backbone.split(":")
    weights = _saved(tmp_path, lib, name)
    videos = small_videos(tmp_path / "videos", frames=6)
    feats = tmp_path / "feats"
    argv = ["extract", str(videos), str(feats), "--fps", "0", "--quiet", "--backbone", backbone,
            "--weights", str(weights), *(["--layer", layer] if layer else [])]
    assert main(argv) == 0
    manifest = json.loads((feats / "manifest.json").read_text())
    feature, rgb = manifest["feature"], manifest["streams"]["rgb"]
    assert feature["backbone"] == backbone and feature["input_size"] == 224
    assert feature["mean"] == pytest.approx([0.485, 0.456, 0.406])  # its preprocessing
    assert rgb["layer"] == (layer or "forward_features") and rgb["channels"] == channels
    assert rgb["grid"] == (14 if layer == "layer3" else 7)
    run = tmp_path / "run"
    assert main(["train", str(feats), "--out", str(run), "--model", "soft", "--hidden", "4",
                 "--epochs", "1", "--batch-size", "4", "--clip-len", "4", "--quiet"]) == 0
    capsys.readouterr()
    video = sorted(videos.rglob("*.avi"))[0]
    assert main(["predict", str(run), str(video), "--weights", str(weights), "--json",
                 "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["clips"] >= 1
    other = tmp_path / "other.pth"
    torch.manual_seed(1)
    torch.save({k: torch.randn_like(v) if v.is_floating_point() else v
                for k, v in torch.load(weights).items()}, other)
    assert main(["predict", str(run), str(video), "--weights", str(other)]) == 2  # not its file
    assert "not the ones the run was trained on" in capsys.readouterr().err


def test_bad_names_files_and_layers_are_one_line(tmp_path, capsys):
    weights = _saved(tmp_path, "torchvision", "resnet18")
    videos = small_videos(tmp_path / "videos", frames=4)
    for extra, message in ((["--backbone", "torchvision:resnet_nope", "--weights", str(weights)],
                            "torchvision has no model"),
                           (["--backbone", "torchvision:resnet18"], "needs --weights FILE"),
                           (["--backbone", "torchvision:resnet34", "--weights", str(weights)],
                            "does not fit torchvision:resnet34"),
                           (["--backbone", "torchvision:resnet18", "--weights", str(weights),
                             "--layer", "layer9"], "has no layer 'layer9'"),
                           (["--backbone", "torchvision:resnet18", "--weights", str(weights),
                             "--layer", "fc"], "not a spatial map"),
                           (["--backbone", "torchvision:resnet18", "--weights", str(weights),
                             "--levels", "2"], "--levels 2 needs")):
        assert main(["extract", str(videos), str(tmp_path / "f"), "--quiet", *extra]) == 2, extra
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err
