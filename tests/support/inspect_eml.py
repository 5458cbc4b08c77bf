"""Parse .eml files as a mail client would and print what it sees, as JSON.

Usage: inspect_eml.py FILE...  One JSON object per file, one per line.
Uses only Python's standard `email` package (policy=default), which is an
independent reading of our MIME output: defects, part order, decoded text.
"""
import email
import email.policy
import json
import sys


def body(part):
    """A text part's text; a binary one (an image) as its size."""
    content = part.get_content()
    if isinstance(content, bytes):
        return f"<{len(content)} bytes>"
    return content


def inspect(path):
    with open(path, "rb") as f:
        raw = f.read()
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    defects = [f"{type(d).__name__}: {d}" for part in msg.walk() for d in part.defects]
    parts = [p for p in msg.walk() if not p.is_multipart()]
    return {
        "file": path,
        "defects": defects,
        "content_type": msg.get_content_type(),
        "part_types": [p.get_content_type() for p in parts],
        "charsets": [p.get_content_charset() for p in parts],
        "headers": {k: str(v) for k, v in msg.items()},
        "bodies": [body(p) for p in parts],
        "content_ids": [p.get("Content-ID") for p in parts],
        "max_line": max(len(line) for line in raw.split(b"\r\n")),
        "bare_lf": raw.replace(b"\r\n", b"").count(b"\n"),
    }


for path in sys.argv[1:]:
    print(json.dumps(inspect(path), ensure_ascii=False))
