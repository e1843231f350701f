"""GPU session: run ONE command from the repository root (run timeout_s=600; at most 8 min: --max-total-s 480)::

    python3 benchmarks/gpu_check.py --out "$OUT/docs/measurements"

then copy ``$OUT/docs/measurements/gpu_check.{json,md}`` (and ``gpu_check_runs/``, the energy
callback's own reports) into ``docs/measurements/``.

One prepared GPU check for issue 7 (input path, MFU, trainer=gpu settings) and the energy
measurement. It starts no run that its estimate says would end after ``--max-total-s``
(480 s on a GPU, counted from the script's start; each
section also has its own cap, ``SECTION_CAP_S``, ``--section-cap NAME=S``), exits 30 s after that whatever hangs, and
rewrites its JSON + Markdown after every run, so even a cut-off run brings back what it
measured. Needs torch, lightning (with torchmetrics, PyYAML), timm (with torchvision,
Pillow), numpy and, for energy, nvidia-ml-py; NOT hydra-core / omegaconf (``src/`` is put
on ``sys.path`` here and the data settings are the plain ``DataConfig`` dataclass), nor
``requests`` (only the HTTP intensity providers need it; this script uses the offline table).

Sections (``--sections``; each run that fails records its error and the script goes on):

``input``     training images/s of each model through a real Lightning ``Trainer`` with
              :class:`ImageClassifier` fed by the project's real input path (synthetic
              data in Tiny ImageNet layout, generated into a temporary folder, decoded
              once into the uint8 cache, ``pipeline=fast``: resize/augment/normalize on
              the GPU in ``on_after_batch_transfer``) versus the same model and trainer
              fed a fixed batch of tensors already on the GPU; the ratio (goal >= 0.95).
              For the first model also: fast path without pinned memory, and the
              per-image PIL ``pipeline=reference`` for contrast. Times the data
              generation and cache build too.
``mfu``       model FLOPs utilization: training-step FLOPs (forward + backward, counted
              with ``torch.utils.flop_counter.FlopCounterMode`` on the device) x the
              images/s of ``input`` / the card's peak measured with a large matmul in the
              training dtype (CUDA events, best of several).
``ablation``  the ``trainer=gpu`` defaults, one setting changed at a time on one model
              with on-device tensors: bf16-mixed vs fp16-mixed vs fp32, channels_last
              on/off, cudnn.benchmark on/off; ``--compile`` adds torch.compile (minutes).
``energy``    NVML energy counter vs power-integrated energy over the same window
              (agreement %), :class:`EnergyCarbonCallback` overhead (paired runs with /
              without, alternating order), images/s; random-init models at 224 px.
``throttle``  the callback's overhead at real step rates with the read throttle (default
              ``min_read_interval_s=0.1``) and without it (``0``: the meters read every
              step) against no callback, for a large model and a fast-stepping small one
              (paired rounds, rotated order), plus the cost of one ``record_step`` call.
``peers``     ``benchmarks/peers.py`` on this device: no tracker, sci-lightning, CodeCarbon,
              carbontracker, Zeus (arms whose package is not installed are skipped), each
              arm a fresh process; as many rounds as fit the section's cap.

Not measured here: head-only training with / without ``model.cache_features`` (the
feature is still being built; see the Markdown's "Not measured" list).

Layout: this file is the driver (it starts the clock, puts ``src/`` and ``benchmarks/`` on
``sys.path`` and calls :func:`gpu_check_sections.run.main`); ``benchmarks/gpu_check_sections/``
holds one module per section (``input_path``, ``mfu``, ``ablation``, ``energy``,
``throttle``, ``peers_arms``: each a ``run`` and its own Markdown table), ``common`` (budget,
recording errors / skips), ``fits`` (models, timers, the timed ``Trainer.fit``), ``options``
(command line, defaults, estimate), ``markdown`` (header, cells, footer) and ``run``.

Writes ``gpu_check.json`` and ``gpu_check.md`` (``gpu_check_tiny.*`` on CPU) into
``--out`` (default ``docs/measurements``). On a machine without a GPU, ``--tiny`` runs
every section in a tiny form on CPU (timm test models, 32 px, a few steps) to show the
script works end to end; its numbers are not measurements of anything::

    python benchmarks/gpu_check.py --tiny --out /tmp/gpu_check_tiny
"""

from __future__ import annotations

import time

T_START = time.perf_counter()  # the budget counts the imports too

import os  # noqa: E402
import sys  # noqa: E402

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)  # benchmarks/: gpu_check_sections and peers.py
sys.path.insert(0, os.path.join(_HERE, "..", "src"))

from gpu_check_sections.run import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(t_start=T_START))
