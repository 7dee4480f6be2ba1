"""The report's transcript browser at scale: the file size of a page holding N transcripts, the
time headless Chromium takes to open it (until the browser has drawn its first page of results),
and the time one filter takes over all of them.

    python bench/report_browser.py [--queries 1000] [--repeats 3]   # 1000 queries x 10 models = 10,000 transcripts

Needs Debian's chromium and playwright (the dev extra). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from a3.report.browser import SCRIPT, STYLE, browser_block
from a3.report.page import Section, sections_html
from a3.testing.transcripts import synthetic_transcripts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=1000, help="queries, each answered by 10 models")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    data = synthetic_transcripts(args.queries)
    folder = Path(tempfile.mkdtemp())
    page_file = folder / "report.html"
    started = time.perf_counter()
    page_file.write_text(
        sections_html("browser", [Section("Transcripts", html_block=browser_block(data))], script=SCRIPT, style=STYLE)
    )
    write_s = time.perf_counter() - started
    size = page_file.stat().st_size
    opens, filters = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        for _ in range(args.repeats):
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            started = time.perf_counter()
            page.goto(page_file.as_uri())
            page.wait_for_function("document.getElementById('tx-count').textContent.includes('transcripts')")
            opens.append(time.perf_counter() - started)
            filters.append(
                page.evaluate("""() => { const s = document.querySelector('select[data-key=verdict]');
                const t = performance.now(); s.value = 'flagged'; s.dispatchEvent(new Event('change'));
                return (performance.now() - t) / 1000; }""")
            )
            page.close()
        browser.close()
    shutil.rmtree(folder)
    print(
        json.dumps(
            {
                "transcripts": len(data.replies),
                "queries": len(data.queries),
                "file_mb": round(size / 1e6, 2),
                "write_s": round(write_s, 2),
                "open_s_median": round(statistics.median(opens), 2),
                "open_s": [round(s, 2) for s in opens],
                "filter_s_median": round(statistics.median(filters), 3),
            }
        )
    )


if __name__ == "__main__":
    main()
