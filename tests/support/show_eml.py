"""Open an .eml's HTML in headless Chromium as a mail client would show it
and report each image as the browser loaded it, as JSON.

Usage: show_eml.py FILE.  Python's `email` package finds the HTML part; an
image the HTML takes from the message itself (`cid:`) is given from the
part with that Content-ID (as a data: URL, which is what a mail client's
viewer does with it); anything else is left as written. Prints one JSON
list: for each <img>, its src's scheme, alt, and the natural size the
browser decoded (0 when it could not load it).
"""
import base64
import email
import email.policy
import json
import sys

from playwright.sync_api import sync_playwright


def main(path):
    with open(path, "rb") as f:
        msg = email.message_from_bytes(f.read(), policy=email.policy.default)
    html = None
    by_cid = {}
    for part in msg.walk():
        if part.is_multipart():
            continue
        if part.get_content_type() == "text/html":
            html = part.get_content()
        cid = part.get("Content-ID")
        if cid:
            data = base64.b64encode(part.get_payload(decode=True)).decode()
            by_cid[cid.strip("<>")] = f"data:{part.get_content_type()};base64,{data}"
    if html is None:
        print(json.dumps({"error": "no text/html part"}))
        return
    for cid, url in by_cid.items():
        html = html.replace(f"cid:{cid}", url)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_page()
        # No network: only what the message carries can load.
        page.route("**/*", lambda route: route.abort())
        page.set_content(html, wait_until="load")
        images = page.evaluate(
            """() => Array.from(document.images).map(i => ({
                scheme: i.getAttribute('src').split(':')[0],
                alt: i.alt,
                width: i.naturalWidth,
                height: i.naturalHeight,
            }))"""
        )
        browser.close()
    print(json.dumps(images))


main(sys.argv[1])
