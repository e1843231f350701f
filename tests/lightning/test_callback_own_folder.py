"""Two Trainers, one output folder: a plain Lightning user's second fit into a folder holding another
run's results (``logger=False`` and the same ``default_root_dir``, or a logger of a fixed version) is
refused before it trains, and the first run's files stay as they were; a resume of that run, and
Lightning's default logger (a new version folder per Trainer), go on.

Real Trainers; the scripted meter draws 10 W and each training batch takes 1 scripted second."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lightning.pytorch.loggers import CSVLogger
from scripted import ScriptClock, ScriptedModule, quiet_trainer

from sci_lightning import EnergyCarbonCallback
from sci_lightning.errors import ConfigError

FILES = ("energy.json", "sci_report.json", "sci_report.md", "impact.yml")


def _fit(root, scripted_meter, logger=False, n=16, ckpt_path=None, max_epochs=1):
    clock = ScriptClock()
    cb = EnergyCarbonCallback(
        meters=[scripted_meter(clock, 10.0)], clock=clock, carbon={"provider": "static", "region": "FR"}
    )
    trainer = quiet_trainer(
        root,
        [cb],
        max_epochs=max_epochs,
        limit_val_batches=0,
        logger=logger,
    )
    trainer.fit(ScriptedModule(clock, n=n), ckpt_path=ckpt_path)
    return cb, trainer


@pytest.mark.parametrize("logger", ["none", "csv_version_0"])
def test_a_second_fit_into_a_folder_holding_another_runs_results_is_refused_before_training(
    tmp_path, scripted_meter, logger
):
    def make_logger():
        return False if logger == "none" else CSVLogger(tmp_path, version=0)

    first, _ = _fit(tmp_path, scripted_meter, make_logger())
    folder = Path(first.report_path).parent
    before = {name: (folder / name).read_bytes() for name in FILES}
    assert first.result.it_energy_j == 20.0  # 2 batches x 1 s x 10 W

    clock = ScriptClock()
    second = EnergyCarbonCallback(meters=[scripted_meter(clock, 10.0)], clock=clock, compute_sci=False)
    model = ScriptedModule(clock, n=32)
    trainer = quiet_trainer(
        tmp_path,
        [second],
        max_epochs=1,
        limit_val_batches=0,
        logger=make_logger(),
    )
    with pytest.raises(ConfigError) as refused:
        trainer.fit(model)
    line = str(refused.value)
    assert "\n" not in line and f"{folder} holds the results of another run (sci_report.json)" in line
    assert "own folder" in line and "ckpt_path" in line
    assert model.calls["train"] == 0, "the refused fit trained"
    assert {name: (folder / name).read_bytes() for name in FILES} == before


def test_lightnings_default_logger_gives_each_trainer_its_own_folder(tmp_path, scripted_meter):
    first, _ = _fit(tmp_path, scripted_meter, logger=True, n=16)
    second, _ = _fit(tmp_path, scripted_meter, logger=True, n=32)
    assert first.report_path != second.report_path
    energies = [json.loads(Path(cb.energy_json_path).read_text())["batches"] for cb in (first, second)]
    assert energies == [2, 4]


def test_a_resume_writes_into_the_folder_of_the_run_it_resumes(tmp_path, scripted_meter):
    first, trainer = _fit(tmp_path, scripted_meter)
    ckpt = tmp_path / "first.ckpt"
    trainer.save_checkpoint(ckpt)
    resumed, _ = _fit(tmp_path, scripted_meter, ckpt_path=str(ckpt), max_epochs=2)
    assert resumed.report_path == first.report_path
    report = json.loads((tmp_path / "sci_report.json").read_text())
    assert [p["energy_j"] for p in report["parts"]] == [20.0, 20.0]
    assert report["training"]["batches"] == 4
