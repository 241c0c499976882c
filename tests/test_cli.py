from pathlib import Path

import pytest

from glimpse.cli import main


def test_top_level_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for cmd in ("synth", "extract", "store", "train", "evaluate", "predict", "report", "probe",
                "fuse", "compare", "demo"):
        assert f"    {cmd} " in out, cmd


@pytest.mark.parametrize("cmd", ["synth", "extract", "train", "evaluate", "predict", "report",
                                 "probe", "fuse", "compare", "demo"])
def test_help_has_examples(cmd, capsys):
    with pytest.raises(SystemExit) as e:
        main([cmd, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and f"glimpse {cmd}" in out


def test_bad_input_is_one_clear_line(tmp_path, capsys):
    rc = main(["extract", str(tmp_path / "nope"), str(tmp_path / "f")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "does not exist" in err and "Traceback" not in err


def test_bad_option_value(capsys):
    with pytest.raises(SystemExit) as e:
        main(["synth", "/tmp/x", "--actor-scale", "2,3"])
    assert e.value.code == 2 and "MIN <= MAX <= 1" in capsys.readouterr().err


@pytest.mark.parametrize("argv,message", [
    (["train", "f", "--out", "r", "--model", "structured", "--clip-len", "0"], "expected a whole number >= 1"),
    (["train", "f", "--out", "r", "--model", "structured", "--test-fraction", "1.5"], "between 0 and 1"),
    (["train", "f", "--out", "r", "--model", "transformer"], "invalid choice"),
    (["extract", "d", "o", "--fps", "-3"], "expected a number >= 0"),
])
def test_bad_values_are_refused_at_parse_time(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2 and message in capsys.readouterr().err


def _train_flag(field):
    """The flag of a model option and a value to give it other than its default."""
    from glimpse.models.options import default_of

    dashed = "--" + field.name.replace("_", "-")
    if field.type == "bool":
        return ([f"--no-{field.name.replace('_', '-')}"] if default_of(field) else [dashed],
                not default_of(field))
    choices = [c for c in field.metadata["choices"] or () if c not in ("", default_of(field))]
    if choices:
        return [dashed, str(choices[0])], choices[0]
    if field.name == "stream":
        return [dashed, "flow"], "flow"
    value = {"int": 3, "int | None": 3, "float": 0.25}[field.type]
    return [dashed, str(value)], value


def test_every_model_option_is_reachable_from_train(monkeypatch):
    """Each field of every model's Config (but the testing-only ones) has a flag of its own in
    glimpse train, which sets that option and no other."""
    import glimpse.train
    from glimpse.models import MODELS
    from glimpse.models.options import described

    seen = []
    monkeypatch.setattr(glimpse.train, "train",
                        lambda features, out, model, options, tc, **kw: seen.append(options)
                        or {"val_top1": 0.0})
    for name, cls in MODELS.items():
        fields = described(cls.Config)
        assert {f.name for f in fields} == {f.name for f in __import__("dataclasses").fields(
            cls.Config)}, f"{name}: every Config field is declared with option()"
        for field in fields:
            if not field.metadata["cli"]:
                continue
            argv, value = _train_flag(field)
            seen.clear()
            assert main(["train", "f", "--out", "r", "--model", name, *argv, "--quiet"]) == 0
            assert seen == [{field.name: value}], (name, field.name)


def _setting_value(f):
    """A valid value of training setting ``f`` other than its default."""
    from glimpse.settings import base_type, default_of

    other = {"device": "cpu:0", "amp": "bf16", "recipe": "paper001", "split": "1"}
    if f.name in other:
        return other[f.name]
    choices = [c for c in f.metadata["choices"] or () if c != default_of(f)]
    if choices:
        return choices[0]
    return {"int": 3, "float": 0.25}[base_type(f)]


def test_every_training_setting_is_reachable_from_the_cli_a_config_file_and_the_api(
        tmp_path, monkeypatch):
    """Each TrainConfig field, declared once, is one flag of glimpse train, one key of a
    --config file and one keyword of api.train, and each sets that field (issue 45)."""
    import dataclasses

    import yaml

    import glimpse.train
    from glimpse import api
    from glimpse.config import TrainConfig
    from glimpse.settings import described

    seen = []
    monkeypatch.setattr(glimpse.train, "train",
                        lambda features, out, model, options, tc, **kw: seen.append(tc)
                        or {"val_top1": 0.0})
    monkeypatch.setattr(api, "Predictor", lambda *a, **k: None)  # (no run was trained to load)
    monkeypatch.setattr(api, "Model", lambda *a: None)
    declared = described(TrainConfig)
    assert [f.name for f in declared] == [f.name for f in dataclasses.fields(TrainConfig)]
    for f in declared:
        value = _setting_value(f)
        flag = ["--" + f.name.replace("_", "-"), str(value)]
        cfg = tmp_path / f"{f.name}.yaml"
        cfg.write_text(yaml.safe_dump({"model": "none", "features": "f", "out": "r",
                                       f.name: value}))
        for way in ("flag", "file", "api"):
            seen.clear()
            if way == "flag":
                assert main(["train", "f", "--out", "r", "--model", "none", *flag,
                             "--quiet"]) == 0
            elif way == "file":
                assert main(["train", "--config", str(cfg), "--quiet"]) == 0
            else:
                api.train("r", features="f", model="none", **{f.name: value})
            assert getattr(seen[0], f.name) == value, (way, f.name)


_EXTRACT_VALUES = {"root": "videos", "backbone": "vgg16", "weights": "w.pth", "layer": "pool4",
                   "streams": "rgb,flow", "flow_weights": "flow.pth", "flow_stack": 5, "fps": 2.5,
                   "image_fps": 12.0, "batch_size": 7, "crop_scale": 1.5, "workers": 2,
                   "shard": "1/3", "annotations": "splits/", "multilabel": "labels.txt"}


def test_every_extraction_setting_is_reachable_from_the_cli_and_the_api(monkeypatch):
    """Each ExtractConfig field, declared once, is one flag of glimpse extract and one keyword
    of api.extract, and each sets that field and no other (issue 45)."""
    import dataclasses

    import glimpse.features.extract
    from glimpse import api
    from glimpse.config import ExtractConfig
    from glimpse.features.extract import Summary
    from glimpse.settings import default_of, described

    seen = []

    def fake(data, out, cfg=None, **kw):
        seen.append(cfg if cfg is not None else ExtractConfig.of(
            {k: v for k, v in kw.items() if k not in ("device", "amp", "progress")}))
        return Summary()

    monkeypatch.setattr(glimpse.features.extract, "extract", fake)
    monkeypatch.setattr(api, "_extract", fake)
    declared = described(ExtractConfig)
    assert [f.name for f in declared] == [f.name for f in dataclasses.fields(ExtractConfig)]
    default = ExtractConfig()
    for f in declared:
        value = _EXTRACT_VALUES.get(f.name)
        if f.type == "bool":
            value, flag = not default_of(f), ["--" + f.name.replace("_", "-")]
        else:
            if value is None:
                value = next(c for c in f.metadata["choices"] if c not in (None, default_of(f)))
            flag = ["--" + f.name.replace("_", "-"), str(value)]
        for way in ("flag", "api"):
            seen.clear()
            if way == "flag":
                assert main(["extract", "d", "o", *flag, "--quiet"]) == 0
            else:
                api.extract("d", "o", **{f.name: value})
            got = seen[0]
            assert getattr(got, f.name) == value, (way, f.name)
            assert [g.name for g in declared if getattr(got, g.name) != getattr(default, g.name)] \
                == [f.name], (way, f.name)
    # from Python, a sequence of streams and an (I, N) shard read as the flags do
    cfg = ExtractConfig(streams=("rgb", "flow"), shard=(1, 3))
    assert (cfg.streams, cfg.stream_names, cfg.shard_of) == ("rgb,flow", ("rgb", "flow"), (1, 3))


@pytest.mark.parametrize("flags,message", [
    (["--shard", "3/3"], "--shard: expected I/N with 0 <= I < N"),
    (["--streams", "rgb,depth"], "--streams: expected comma-separated names of rgb"),
    (["--crops", "2"], "invalid choice"),
])
def test_a_bad_extraction_setting_is_refused_before_any_work(tmp_path, capsys, flags, message):
    out = tmp_path / "o"
    try:
        rc = main(["extract", str(tmp_path), str(out), *flags, "--quiet"])
    except SystemExit as e:
        rc = e.code
    err = capsys.readouterr().err
    assert rc == 2 and message in err, err
    assert not out.exists()


@pytest.mark.parametrize("text,message", [
    ("model: none\nfeatures: f\nepochs: 2.5\n", "epochs must be a whole number >= 1, got 2.5"),
    ("model: none\nfeatures: f\nbatch_size: 0\n", "batch_size must be a whole number >= 1"),
    ("model: none\nfeatures: f\nlr: -1\n", "lr must be a number >= 0, got -1"),
    ("model: none\nfeatures: f\noptimizer: [adam]\n", "optimizer must be a single value"),
    ("model: soft\nfeatures: f\nhidden: 1.5\n", "hidden must be a whole number >= 1"),
    ("model: soft\nfeatures: f\nwidth: 3\n", "has no option width"),
    ("model: transformer\nfeatures: f\n", "model must be one of"),
    ("model: {name: soft}\noptimizer: {lr: 0.5}\n", "unknown key(s) optimizer"),
    ("model: none\n\tepochs: 3\n", "not valid YAML at line 2"),
    ("!!python/object/apply:os.system [echo hi]\n", "not valid YAML"),
    ("a: &a [1, 1]\nb: &b [*a, *a]\nc: [*b, *b]\n", "a must be a single value, got a list"),
])
def test_a_bad_config_file_is_one_line_naming_the_file(tmp_path, capsys, text, message):
    """Values from a file go through the checks flags do, and a file that does not parse is
    one line: nothing is written (issue 50)."""
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text)
    rc = main(["train", "--config", str(cfg), "--out", str(tmp_path / "run"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and str(cfg) in err and message in err, err
    assert not (tmp_path / "run").exists()


def test_config_files_that_are_not_text_or_not_json(tmp_path, capsys):
    for name, data, message in (("bad.json", b'{"model": "none", "epochs": ', "not valid JSON"),
                                ("bad.yaml", b"model: \xff\xfe\n", "not UTF-8 text")):
        cfg = tmp_path / name
        cfg.write_bytes(data)
        assert main(["train", "--config", str(cfg), "--out", str(tmp_path / "r")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err


def test_paths_in_a_config_file_are_relative_to_its_folder(tmp_path, monkeypatch):
    import glimpse.train

    seen = []
    monkeypatch.setattr(glimpse.train, "train",
                        lambda features, out, model, options, tc, **kw: seen.append(
                            (features, out)) or {"val_top1": 0.0})
    (tmp_path / "exp").mkdir()
    cfg = tmp_path / "exp" / "soft.yaml"
    cfg.write_text("model: soft\nfeatures: ../feats\nout: runs/soft\n")
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--config", str(cfg), "--quiet"]) == 0
    assert seen == [(tmp_path / "exp" / "../feats", tmp_path / "exp" / "runs/soft")]
    seen.clear()
    assert main(["train", "--config", str(cfg), "--out", "elsewhere", "--quiet"]) == 0
    assert seen[0][1] == Path("elsewhere")  # a flag wins, relative to where it is typed


def test_a_bad_model_option_leaves_no_run_folder(tmp_path, capsys):
    from tests.conftest import small_videos

    videos = small_videos(tmp_path / "videos", frames=4, groups=1)
    assert main(["extract", str(videos), str(tmp_path / "feats"), "--fps", "0", "--quiet",
                 "--streams", "rgb,flow"]) == 0
    capsys.readouterr()
    for argv in (["--model", "rstan", "--fusion", "early"],  # an option of another model
                 ["--model", "joint", "--fusion", "max"],
                 ["--model", "reinforce", "--samples", "1", "--baseline", "loo"],  # together
                 ["--model", "none", "--lam", "0.5"]):  # an option the model lacks
        run = tmp_path / "run"
        rc = main(["train", str(tmp_path / "feats"), "--out", str(run), *argv, "--quiet"])
        err = capsys.readouterr().err
        assert rc != 0 and err.count("\n") == 1 and "Traceback" not in err, err
        assert not run.exists(), argv


def test_an_unknown_extraction_keyword_is_one_line_naming_the_known():
    from glimpse import GlimpseError, api

    with pytest.raises(GlimpseError, match=r"extract: unknown setting\(s\) fsp \(known: .*fps"):
        api.extract("d", "o", fsp=3)


def test_print_config_shows_the_resolved_settings_and_trains_nothing(tmp_path, capsys):
    """The recipe, the file and the flags resolved in that order, the model's paper defaults
    filled in; nothing written (issue 49)."""
    import json

    cfg = tmp_path / "soft.yaml"
    cfg.write_text("model: soft\nfeatures: feats/\nlr: 0.5\nepochs: 7\n")
    assert main(["train", "--config", str(cfg), "--recipe", "paper001", "--epochs", "9",
                 "--out", str(tmp_path / "run"), "--print-config"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["model"] == "soft" and got["features"] == str(tmp_path / "feats")
    assert (got["train"]["optimizer"], got["train"]["lr"], got["train"]["epochs"]) == \
        ("sgd", 0.5, 9)  # the recipe's optimizer, the file's rate, the flag's epochs
    assert got["train"]["recipe"] == "paper001" and got["options"]["lam"] == 1.0
    assert not (tmp_path / "run").exists()
