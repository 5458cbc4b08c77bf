"""Every page and mail in a real browser, the way a reader sees it.

Usage: look.py AXE_JS FILE...  (each FILE an .html page or an .eml whose
HTML part is looked at). For each, in headless Chromium driven by
Playwright, light and dark (`prefers-color-scheme`), 360 and 1000 px wide:
the page must not be wider than the window, and axe-core's
`color-contrast` rule (WCAG AA) must find nothing. Prints one JSON line
per problem; exits 1 if there was any, 0 otherwise.
"""

import email
import json
import sys
import tempfile
from email import policy
from pathlib import Path

from playwright.sync_api import sync_playwright

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def html_of(path: Path, out: Path) -> Path:
    if path.suffix != ".eml":
        return path
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    part = message.get_body(preferencelist=("html",))
    if part is None:
        raise SystemExit(f"{path}: no HTML part")
    target = out / (path.stem + ".html")
    target.write_text(part.get_content(), encoding="utf-8")
    return target


def main() -> int:
    axe = Path(sys.argv[1]).read_text(encoding="utf-8")
    problems = 0
    looked = 0
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        pages = [(Path(f), html_of(Path(f), Path(tmp))) for f in sys.argv[2:]]
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        for scheme in ("light", "dark"):
            for width in (360, 1000):
                context = browser.new_context(
                    viewport={"width": width, "height": 800},
                    color_scheme=scheme,
                    java_script_enabled=True,
                )
                page = context.new_page()
                for name, html in pages:
                    page.goto(html.resolve().as_uri())
                    looked += 1
                    wide = page.evaluate("document.documentElement.scrollWidth")
                    if wide > width:
                        problems += 1
                        print(json.dumps({"file": str(name), "scheme": scheme, "width": width,
                                          "problem": "overflow", "scroll_width": wide}))
                    page.add_script_tag(content=axe)
                    found = page.evaluate(
                        "async () => (await axe.run(document, {runOnly: ['color-contrast']}))"
                        ".violations.flatMap(v => v.nodes.map(n => ({target: n.target.join(' '),"
                        " summary: n.failureSummary})))"
                    )
                    for node in found:
                        problems += 1
                        print(json.dumps({"file": str(name), "scheme": scheme, "width": width,
                                          "problem": "contrast", **node}))
                context.close()
        browser.close()
    print(json.dumps({"looked": looked, "problems": problems}))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
