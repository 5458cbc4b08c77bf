"""Read an Atom feed as a feed reader does (feedparser) and print what it
sees, as one JSON object per file: whether it had to guess (`bozo`), the
feed's id and self link, and each entry's id, title, link, date, summary
and content.

Usage: read_feed.py FEED...
"""
import json
import sys

import feedparser


def read(path):
    d = feedparser.parse(path)
    self_link = next((l.href for l in d.feed.get("links", []) if l.get("rel") == "self"), None)
    return {
        "file": path,
        "bozo": bool(d.bozo),
        "bozo_exception": str(d.get("bozo_exception", "")),
        "title": d.feed.get("title"),
        "id": d.feed.get("id"),
        "self": self_link,
        "updated": d.feed.get("updated"),
        "author": d.feed.get("author"),
        "author_detail": dict(d.feed.get("author_detail") or {}),
        "subtitle": d.feed.get("subtitle"),
        "entries": [
            {
                "id": e.get("id"),
                "title": e.get("title"),
                "link": e.get("link"),
                "published": e.get("published"),
                "author": e.get("author"),
                "updated": e.get("updated"),
                "summary": e.get("summary"),
                "content": (e.get("content") or [{}])[0].get("value"),
                "content_type": (e.get("content") or [{}])[0].get("type"),
            }
            for e in d.entries
        ],
    }


for path in sys.argv[1:]:
    print(json.dumps(read(path)))
