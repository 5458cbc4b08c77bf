"""A feed server for the tests: serves the files of a folder on 127.0.0.1.

Usage: feed_server.py DIR LOG. Prints the port it listens on, then serves:
each file of DIR at /NAME with an ETag (its SHA-256) and Last-Modified,
answering 304 to a matching If-None-Match; /huge, a 50 MB body streamed
with no Content-Length; 404 for anything else. Each request's path, its
conditional headers and the status sent go to LOG, one JSON object a line.
"""

import email.utils
import hashlib
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT, LOG = sys.argv[1], sys.argv[2]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, *args):
        pass

    def record(self, status):
        with open(LOG, "a") as f:
            f.write(json.dumps({
                "path": self.path,
                "if_none_match": self.headers.get("If-None-Match"),
                "if_modified_since": self.headers.get("If-Modified-Since"),
                "user_agent": self.headers.get("User-Agent"),
                "status": status,
            }) + "\n")

    def do_GET(self):
        if self.path == "/huge":
            self.record(200)
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.end_headers()
            chunk = b"<!-- " + b"x" * (1024 * 1024 - 9) + b" -->\n"
            try:
                self.wfile.write(b'<?xml version="1.0"?>\n<rss version="2.0"><channel>\n')
                for _ in range(50):
                    self.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass
            return
        name = self.path.lstrip("/")
        path = os.path.join(ROOT, name)
        if "/" in name or not name or not os.path.isfile(path):
            self.record(404)
            self.send_error(404, "Not Found")
            return
        with open(path, "rb") as f:
            body = f.read()
        etag = '"%s"' % hashlib.sha256(body).hexdigest()[:16]
        modified = email.utils.formatdate(os.path.getmtime(path), usegmt=True)
        if self.headers.get("If-None-Match") == etag:
            self.record(304)
            self.send_response(304)
            self.send_header("ETag", etag)
            self.end_headers()
            return
        self.record(200)
        self.send_response(200)
        kind = "application/feed+json" if name.endswith(".json") else "application/xml"
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", modified)
        self.end_headers()
        self.wfile.write(body)


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
