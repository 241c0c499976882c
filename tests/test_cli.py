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
    (["train", "f", "--out", "r", "--model", "structured", "--clip-len", "0"], "expected a number >= 1"),
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
