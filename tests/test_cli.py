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
