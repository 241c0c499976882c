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
