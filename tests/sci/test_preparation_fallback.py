"""A cache build whose energy monitor fails to start: the build runs, its energy falls back to the
CPU-time and RAM estimate of this process, the fault is warned once (however many caches are built)
and recorded in the build's record, beside the cache and in the run's ``preparation.json``."""

from __future__ import annotations

import uuid
import warnings

import numpy as np
import pytest
from PIL import Image

from sci_lightning.data.fast import build_uint8_cache
from sci_lightning.energy import EnergyMeterWarning, EnergyMonitor
from sci_lightning.sci import preparation
from sci_lightning.sci.preparation import PreparationFigures, read_build_record


def _images(folder, n=5):
    folder.mkdir(parents=True)
    paths = []
    for i in range(n):
        p = folder / f"img{i}.JPEG"
        Image.fromarray(np.full((8, 8, 3), 20 * i, dtype=np.uint8)).save(p)
        paths.append(str(p))
    return paths


def _build(tmp_path, paths, key, records, factory):
    return build_uint8_cache(
        paths,
        tmp_path / "cache",
        key=key,
        source_root=tmp_path / "src",
        image_px=8,
        progress=False,
        records=records,
        pue=1.5,
        monitor_factory=factory,
    )


class BrokenAtStart:
    """A monitor factory whose monitor cannot open a window (a meter's driver gone); counts closes."""

    def __init__(self, error: Exception) -> None:
        self.error, self.closed = error, 0

    def __call__(self, energy):
        factory = self

        class Broken(EnergyMonitor):
            def begin_window(self, name):
                raise factory.error

            def close(self):
                factory.closed += 1
                super().close()

        return Broken([], sync=lambda: None, config=energy)


def _fault_warnings(caught) -> list[str]:
    return [
        str(w.message)
        for w in caught
        if issubclass(w.category, EnergyMeterWarning) and "failed to start" in str(w.message)
    ]


@pytest.mark.parametrize("where", ["factory", "begin_window"])
def test_a_monitor_that_fails_to_start_falls_back_to_the_estimate_warns_once_and_is_recorded(tmp_path, where):
    paths = _images(tmp_path / "src")
    error = OSError(5, f"Input/output error {uuid.uuid4().hex[:6]}")

    def raising(_):
        raise error

    factory = raising if where == "factory" else BrokenAtStart(error)
    records: list[PreparationFigures] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train = _build(tmp_path, paths, "train", records, factory)
        val = _build(tmp_path, paths, "val", records, factory)

    assert train.is_file() and val.is_file()
    assert len(records) == 2 and records[0].build_id != records[1].build_id
    for record in records:
        assert record.activity == "decode_cache" and record.items == 5 and not record.reused
        assert record.quality == "estimated" and "cpu_time_tdp_estimate" in record.method
        assert "gpu" not in record.method and record.energy_kwh == pytest.approx(1.5 * record.it_energy_kwh)
        assert record.notes[0].startswith("The decode_cache build's energy monitor failed to start (OSError")
        assert "CPU-time and RAM estimate" in record.notes[0] and str(error.strerror) in record.notes[0]
    (line,) = _fault_warnings(caught)  # two builds, one warning
    assert line == records[0].notes[0] + "."
    beside = read_build_record(train)
    assert beside is not None and beside.build_id == records[0].build_id and beside.notes == records[0].notes
    if where == "begin_window":
        assert factory.closed == 2  # the broken monitor of each build was closed


def test_when_the_estimate_fails_too_the_build_runs_unmeasured_and_says_so_once(tmp_path, monkeypatch):
    paths = _images(tmp_path / "src")
    marker = uuid.uuid4().hex[:6]

    def raising(_):
        raise OSError(f"no meters {marker}")

    def estimate_too(_):
        raise RuntimeError(f"no CPU times {marker}")

    monkeypatch.setattr(preparation, "_estimate_monitor", estimate_too)
    records: list[PreparationFigures] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        npy = _build(tmp_path, paths, "train", records, raising)
        _build(tmp_path, paths, "val", records, raising)
    assert npy.is_file() and records == [] and read_build_record(npy) is None
    (line,) = _fault_warnings(caught)
    assert f"no meters {marker}" in line and f"no CPU times {marker}" in line and "runs unmeasured" in line
