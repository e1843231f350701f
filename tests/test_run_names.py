"""Run names from Hydra overrides (sci_lightning.run_names): keys, swept keys, safe names, job folders."""

from __future__ import annotations

import hashlib

import pytest

from sci_lightning.run_names import (
    RUN_NAME_EXCLUDED_KEYS,
    job_run_name,
    override_key,
    run_name_from_overrides,
    swept_keys,
)


@pytest.mark.parametrize(
    "override, key",
    [
        ("model=inception", "model"),
        ("+trainer.max_epochs=2", "trainer.max_epochs"),
        ("~callbacks.progress", "callbacks.progress"),
        ("++data.batch_size=8", "data.batch_size"),
        ("carbon.region=a=b", "carbon.region"),
    ],
)
def test_override_key_strips_the_hydra_prefixes(override, key):
    assert override_key(override) == key


def test_swept_keys_are_the_comma_lists_and_sweep_functions():
    overrides = [
        "model=inception,densenet",
        "seed=range(0,3)",
        "optim.lr=choice(0.1,0.01)",
        "trainer.max_epochs=2",
        "tags=[a,b]",  # a list value, not a sweep
        "name='x,y'",  # a quoted comma, not a sweep
        "flag",  # no value at all
    ]
    assert swept_keys(overrides) == {"model", "seed", "optim.lr"}


def test_a_run_name_joins_the_overrides_and_replaces_unsafe_characters():
    name = run_name_from_overrides(["model=inception", "output_dir=/tmp/a b", "trainer.max_epochs=2"])
    assert name == "model=inception,output_dir=_tmp_a_b,trainer.max_epochs=2"


def test_keep_and_exclude_keys_choose_the_overrides():
    overrides = ["model=inception", "+seed=3", "ckpt_path=/x/last.ckpt"]
    assert run_name_from_overrides(overrides, keep_keys={"seed"}) == "+seed=3"
    assert (
        run_name_from_overrides(overrides, exclude_keys=RUN_NAME_EXCLUDED_KEYS) == "model=inception,+seed=3"
    )


def test_nothing_left_gives_the_default_and_dots_never_name_a_folder():
    assert run_name_from_overrides([]) == "default"
    assert run_name_from_overrides(["model=a"], keep_keys=set(), default="base") == "base"
    assert run_name_from_overrides([".."]) == "__"


def test_a_long_name_is_cut_to_120_characters_ending_in_a_hash_of_the_whole():
    overrides = [f"key{i}=value{i}" for i in range(20)]
    full = ",".join(overrides)
    name = run_name_from_overrides(overrides)
    assert len(name) == 120
    assert name == full[:111] + "~" + hashlib.sha1(full.encode()).hexdigest()[:8]


def _job(folder, overrides: list[str]):
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    return folder


def test_a_single_job_is_named_by_all_its_overrides_but_where_it_is(tmp_path):
    job = _job(tmp_path / "run", ["model=densenet", "trainer.max_epochs=2", "ckpt_path=/x", "output_dir=/y"])
    assert job_run_name(job) == "model=densenet,trainer.max_epochs=2"


def test_a_sweep_job_is_named_by_the_swept_keys_only(tmp_path):
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    (sweep / "multirun.yaml").write_text(
        "hydra:\n  overrides:\n    task:\n    - model=inception,densenet\n    - trainer.max_epochs=2\n"
    )
    job = _job(sweep / "0", ["model=inception", "trainer.max_epochs=2"])
    assert job_run_name(job) == "model=inception"


def test_a_folder_without_hydra_overrides_has_no_name(tmp_path):
    assert job_run_name(tmp_path) is None
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "overrides.yaml").write_text("model: not a list\n")
    assert job_run_name(tmp_path) is None
