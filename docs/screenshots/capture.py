"""Screenshots of TensorBoard's Scalars, Custom Scalars, Text and HParams tabs for a sweep.

Starts ``tensorboard --logdir SWEEP`` on 127.0.0.1, opens each tab in headless Chromium
(Playwright driving a system Chromium), expands every chart group, waits for the charts to
draw and saves one PNG per tab. Before that it asks TensorBoard's own HTTP API whether every
Custom Scalars chart has data for every run and whether any scalar series has fewer than two
points (a single point draws no line, and TensorBoard's default "Ignore outliers in chart
scaling" hides it when the runs differ), prints the answer and exits 1 if something is short.

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

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1600, "height": 1200}
MAX_HEIGHT_PX = 9000
HPARAMS_WIDTH_PX = 3400
#: tab name in TensorBoard's URL -> file name of its screenshot
TABS = {"scalars": "scalars.png", "custom_scalars": "custom_scalars.png", "text": "text.png",
        "hparams": "hparams.png"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_tensorboard(logdir: Path, port: int) -> subprocess.Popen:
    """TensorBoard on loopback; returns once it answers HTTP."""
    proc = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir), "--host",
                             "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
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
    return ("() => { const all = []; const walk = (root) => { for (const el of root.querySelectorAll('*')) {"
            " all.push(el); if (el.shadowRoot) walk(el.shadowRoot); } }; walk(document);\n" + body + "\n}")


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
            missing = [run for run, run_tags in tags.items()
                       if not any(p.match(tag) for p in patterns for tag in run_tags)]
            out.append((f"{category['title']} / {chart['title']}", missing))
    return out


def scalar_tags_without_a_line(base_url: str, tags: dict[str, dict]) -> list[str]:
    """``run: tag (n points)`` for every scalar tag of ``tags`` with fewer than two points."""
    short = []
    for run, run_tags in tags.items():
        for tag in run_tags:
            query = urllib.parse.urlencode({"run": run, "tag": tag})
            points = len(_get_json(f"{base_url}/data/plugin/scalars/scalars?{query}") or [])
            if points < 2:
                short.append(f"{run}: {tag} ({points} point{'s' if points != 1 else ''})")
    return short


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
    parser.add_argument("--show-outliers", action="store_true",
                        help="untick 'Ignore outliers in chart scaling' (default: TensorBoard's default, ticked)")
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
    for series in scalar_tags_without_a_line(base_url, tags):
        problems += 1
        print(f"  NO LINE                  {series}")
    return problems


if __name__ == "__main__":
    raise SystemExit(main())
