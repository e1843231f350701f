"""Screenshots of TensorBoard's Scalars, Custom Scalars, Text and HParams tabs for a sweep.

Starts ``tensorboard --logdir SWEEP`` on 127.0.0.1, opens each tab in headless Chromium
(Playwright driving a system Chromium), expands every chart group, waits for the charts to
draw and saves one PNG per tab. Before that it asks TensorBoard's own HTTP API whether every
Custom Scalars chart has data for every run and whether any scalar series has fewer than two
points (a single point draws no line) or a line that TensorBoard's default "Ignore outliers in
chart scaling" scales off its chart (it keeps the values between the 5th and 95th percentile,
so a chart of two points is scaled to 0..1 whatever its values), prints the answer and exits 1
if something is short.

The screenshots are taken with TensorBoard's **default** settings; ``--show-outliers`` unticks
"Ignore outliers in chart scaling" (for comparison only: what users see is the default).

Usage (the sweep from the README's quickstart; Chromium from ``apt-get install chromium``)::

    python -m sci_lightning -m model=inception,densenet experiment=quickstart hydra.sweep.dir=/tmp/sweep
    python docs/screenshots/capture.py /tmp/sweep --out docs/screenshots

Needs ``pip install playwright`` (no browser download: ``--chromium`` names the binary).
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1600, "height": 1200}
MAX_HEIGHT_PX = 9000
HPARAMS_WIDTH_PX = 3400
#: tab name in TensorBoard's URL -> file name of its screenshot
TABS = {
    "scalars": "scalars.png",
    "custom_scalars": "custom_scalars.png",
    "text": "text.png",
    "hparams": "hparams.png",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_tensorboard(logdir: Path, port: int) -> subprocess.Popen:
    """TensorBoard on loopback; returns once it answers HTTP."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tensorboard.main",
            "--logdir",
            str(logdir),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"tensorboard exited: {proc.stderr.read()[-2000:]}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/data/runs", timeout=2).read()
            return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("tensorboard did not answer within 60 s")


def _in_page(body: str) -> str:
    """A page function whose ``body`` sees ``all``: every element, inside shadow roots too (Polymer)."""
    return (
        "() => { const all = []; const walk = (root) => { for (const el of root.querySelectorAll('*')) {"
        " all.push(el); if (el.shadowRoot) walk(el.shadowRoot); } }; walk(document);\n" + body + "\n}"
    )


# Open every collapsed chart group and turn its pagination off, so all its charts render on one page.
_EXPAND = _in_page("""
  const views = all.filter(el => el.tagName === 'TF-CATEGORY-PAGINATED-VIEW');
  for (const el of views) { el.opened = true; el.disablePagination = true; }
  return views.length;""")

# The lowest bottom edge of a visible chart group (0 in tabs without groups), so the
# viewport can be made tall enough to show every chart at once.
_CONTENT_HEIGHT = _in_page("""
  const bottoms = all.filter(el => el.tagName === 'TF-CATEGORY-PAGINATED-VIEW')
      .map(el => el.getBoundingClientRect()).filter(r => r.height > 0).map(r => r.bottom);
  return Math.max(0, ...bottoms);""")

# Untick "Ignore outliers in chart scaling" in this tab's sidebar.
_SHOW_OUTLIERS = _in_page("""
  const boxes = all.filter(el => el.tagName === 'PAPER-CHECKBOX' && el.checked
      && el.getBoundingClientRect().height > 0 && (el.textContent || '').includes('Ignore outliers'));
  boxes.forEach(el => el.click());
  return boxes.length;""")

# Tick every results/* metric in the HParams sidebar (TensorBoard ticks only the first few).
_SHOW_RESULT_COLUMNS = _in_page("""
  const boxes = all.filter(el => el.tagName === 'PAPER-CHECKBOX' && !el.checked
      && (el.textContent || '').trim().startsWith('results/'));
  boxes.forEach(el => el.click());
  return boxes.length;""")


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def layout_coverage(base_url: str, tags: dict[str, dict]) -> list[tuple[str, list[str]]]:
    """For each Custom Scalars chart: the runs of ``tags`` with no tag matching it (empty: filled for all)."""
    layout = _get_json(f"{base_url}/data/plugin/custom_scalars/layout")
    out = []
    for category in layout.get("category", []):
        for chart in category.get("chart", []):
            patterns = [re.compile(t) for t in chart.get("multiline", {}).get("tag", [])]
            missing = [
                run
                for run, run_tags in tags.items()
                if not any(p.match(tag) for p in patterns for tag in run_tags)
            ]
            out.append((f"{category['title']} / {chart['title']}", missing))
    return out


def scalar_values(base_url: str, tags: dict[str, dict]) -> dict[str, dict[str, list[float]]]:
    """``{tag: {run: values}}`` of every scalar series, read from TensorBoard's HTTP API."""
    out: dict[str, dict[str, list[float]]] = {}
    for run, run_tags in tags.items():
        for tag in run_tags:
            query = urllib.parse.urlencode({"run": run, "tag": tag})
            points = _get_json(f"{base_url}/data/plugin/scalars/scalars?{query}") or []
            out.setdefault(tag, {})[run] = [float(p[2]) for p in points]  # [wall_time, step, value]
    return out


def scalar_tags_without_a_line(values: dict[str, dict[str, list[float]]]) -> list[str]:
    """``run: tag (n points)`` for every scalar series with fewer than two points."""
    return [
        f"{run}: {tag} ({len(v)} point{'s' if len(v) != 1 else ''})"
        for tag, by_run in values.items()
        for run, v in by_run.items()
        if len(v) < 2
    ]


def y_range_at_defaults(values: list[float]) -> tuple[float, float] | None:
    """The y-range TensorBoard's "Ignore outliers in chart scaling" (ticked by default) gives a chart.

    Like its line chart: keep the values between the 5th and 95th percentile (linear
    interpolation, as d3.quantile) and span them; ``None`` when none is left, where TensorBoard
    falls back to the range 0..1. With two distinct values neither is kept: a chart of two
    points is scaled to 0..1, whatever its values.
    """
    ordered = sorted(v for v in values if v == v and abs(v) != float("inf"))
    if not ordered:
        return None

    def quantile(p: float) -> float:
        pos = (len(ordered) - 1) * p
        low = int(pos)
        high = min(low + 1, len(ordered) - 1)
        return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)

    lo, hi = quantile(0.05), quantile(0.95)
    kept = [v for v in ordered if lo <= v <= hi]
    return (kept[0], kept[-1]) if kept else None


def runs_off_scale(values_by_run: dict[str, list[float]]) -> list[str]:
    """The runs whose line TensorBoard's default scaling leaves outside the chart (one chart's values)."""
    y_range = y_range_at_defaults([v for values in values_by_run.values() for v in values]) or (0.0, 1.0)
    lo, hi = y_range
    hidden = []
    for run, values in values_by_run.items():
        if len(values) < 2:
            continue  # reported as "no line" already
        inside = any(lo <= v <= hi for v in values) or (min(values) < lo and max(values) > hi)
        if not inside:
            hidden.append(run)
    return hidden


def _viewport(tab: str) -> dict[str, int]:
    """HParams gets a wide window: its table has a column per setting and per ``results/*`` metric."""
    return {**VIEWPORT, "width": HPARAMS_WIDTH_PX} if tab == "hparams" else dict(VIEWPORT)


def capture_tab(page, base_url: str, tab: str, out: Path, show_outliers: bool) -> None:
    """Open ``tab``, expand every group, show every chart in one viewport, save a PNG to ``out``."""
    page.goto(f"{base_url}/#{tab}", wait_until="networkidle")
    page.wait_for_timeout(3000)
    for _ in range(3):  # groups render lazily: open, let them load, open what appeared
        page.evaluate(_EXPAND)
        page.wait_for_timeout(2500)
    if tab == "hparams":
        page.evaluate(_SHOW_RESULT_COLUMNS)
        page.wait_for_timeout(1500)
    if tab in ("scalars", "custom_scalars") and show_outliers:
        page.evaluate(_SHOW_OUTLIERS)
        page.wait_for_timeout(1000)
    height = min(int(page.evaluate(_CONTENT_HEIGHT)) + 80, MAX_HEIGHT_PX)
    width = _viewport(tab)["width"]
    page.set_viewport_size({"width": width, "height": max(height, VIEWPORT["height"])})
    page.wait_for_timeout(4000)  # charts in the newly visible area draw now
    page.screenshot(path=str(out))  # the viewport, sized to the content above


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("logdir", type=Path, help="a sweep folder (or any TensorBoard log dir)")
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--chromium", default="/usr/bin/chromium", help="path of a Chromium binary")
    parser.add_argument(
        "--show-outliers",
        action="store_true",
        help="untick 'Ignore outliers in chart scaling' (default: TensorBoard's default, ticked)",
    )
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    tensorboard = start_tensorboard(args.logdir, port)
    base_url = f"http://127.0.0.1:{port}"
    try:
        problems = check_data(base_url)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
            for tab, name in TABS.items():  # a fresh page each: an earlier tab's hidden charts stay out
                page = browser.new_page(viewport=_viewport(tab))
                capture_tab(page, base_url, tab, args.out / name, show_outliers=args.show_outliers)
                page.close()
                print(f"{tab}: {args.out / name}")
            browser.close()
    finally:
        tensorboard.terminate()
        tensorboard.wait(timeout=30)
    return 1 if problems else 0


def check_data(base_url: str) -> int:
    """Print each Custom Scalars chart's coverage and any empty scalar series; returns the problems found."""
    tags = _get_json(f"{base_url}/data/plugin/scalars/tags")  # {run: {tag: metadata}}
    charts = layout_coverage(base_url, tags)
    problems = 0 if charts else 1
    if not charts:
        print("  MISSING                  no Custom Scalars layout in this log dir")
    for chart, missing in charts:
        problems += bool(missing)
        print(f"  {'EMPTY for ' + ', '.join(missing) if missing else 'filled':<24} {chart}")
    values = scalar_values(base_url, tags)
    for series in scalar_tags_without_a_line(values):
        problems += 1
        print(f"  NO LINE                  {series}")
    for tag, by_run in sorted(values.items()):  # the Scalars tab's chart of each tag
        for run in runs_off_scale(by_run):
            problems += 1
            print(f"  OFF SCALE at defaults    {run}: {tag} {by_run[run]}")
    return problems


if __name__ == "__main__":
    raise SystemExit(main())
