"""Writing the three documents of a run or of every run of a sweep (sci_lightning.publish.writer):
the files, the checks (and what happens without the checkers), redaction and the one-line errors."""

from __future__ import annotations

import builtins
import json

import pytest
from published_runs import write_run

from sci_lightning.errors import ConfigError
from sci_lightning.publish import publish, publish_run
from sci_lightning.publish.writer import _check
from sci_lightning.sci.writer import write_run_report
from tests.sci.test_report import META, make_run


def test_secrets_in_the_report_never_reach_a_published_file(tmp_path, monkeypatch):
    # a report written before the secret was known to the process (or edited by hand) that
    # quotes a credential: every published document is redacted as data, before it is
    # serialised (the model card's YAML folds long strings, which would split the secret)
    secret = "em-Publish-Secret-4242"
    monkeypatch.setenv("ELECTRICITYMAPS_API_TOKEN", secret)
    run, _ = write_run(tmp_path)
    data = json.loads((run / "sci_report.json").read_text())
    data["intensity"]["source"] = (
        f"electricity_maps (a proxy quoting auth-token {secret} back) " + "x" * 60 + secret
    )
    data["run_name"] = f"run-{secret}"
    (run / "sci_report.json").write_text(json.dumps(data))
    [done] = publish(run, tmp_path / "out", check=True)
    assert len(done.files) == 3
    for path in done.files:
        text = path.read_text()
        assert secret not in text and "".join(text.split()).find(secret) == -1, path.name
        assert "[redacted]" in text, path.name


def test_a_run_folder_and_a_sweep_folder(tmp_path):
    run, _ = write_run(tmp_path, inference=False, preparation=False)
    [done] = publish(run, check=False)
    assert done.out_dir == run / "publish" and done.checks == []
    assert [p.name for p in done.files] == ["README.md", "bom.cdx.json", "model.spdx3.json"]
    sweep = tmp_path / "sweep"
    for name in ("0", "1"):
        result, energy = make_run()
        write_run_report(sweep / name, result, energy, {**META, "run_name": f"model-{name}"})
    (sweep / "2").mkdir()  # a job that left no report
    done = publish(sweep, tmp_path / "pub", check=False)
    assert [d.out_dir for d in done] == [tmp_path / "pub" / "0", tmp_path / "pub" / "1"]


def test_no_run_is_one_line_error(tmp_path):
    with pytest.raises(ConfigError) as err:
        publish(tmp_path)
    assert str(err.value) == (
        f"{tmp_path} holds no run with a sci_report.json: give a run folder or a sweep folder "
        "whose jobs finished with a report."
    )


def test_a_missing_checker_is_refused_only_when_checks_were_asked_for():
    def missing():
        raise ModuleNotFoundError("No module named 'cyclonedx'", name="cyclonedx")

    assert _check("CycloneDX BOM", lambda: "valid", True) == "valid"
    assert _check("CycloneDX BOM", missing, None) == (
        "CycloneDX BOM: not checked (cyclonedx not installed; pip install sci-lightning[publish])"
    )
    with pytest.raises(
        ConfigError, match=r"cannot check the CycloneDX BOM: .*pip install sci-lightning\[publish\]"
    ):
        _check("CycloneDX BOM", missing, True)


def test_publish_run_without_the_checker_libraries(tmp_path, monkeypatch):
    run, _ = write_run(tmp_path, inference=False, preparation=False)
    real_import = builtins.__import__

    def no_checkers(name, *args, **kwargs):
        if name.startswith(("huggingface_hub", "cyclonedx")):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name.split(".")[0])
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_checkers)
    done = publish_run(run, tmp_path / "out")
    assert [c.split(":")[0] for c in done.checks] == ["model card", "CycloneDX BOM"]
    assert all("not checked" in c for c in done.checks) and len(done.files) == 3
    with pytest.raises(ConfigError, match="cannot check the model card"):
        publish_run(run, tmp_path / "out2", check=True)
