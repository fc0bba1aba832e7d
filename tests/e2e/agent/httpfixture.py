#!/usr/bin/env python3
"""httpfixture.py: a loopback HTTP server for the agent tool tests. Prints its port,
then serves: /page.html (HTML with a title, a script and a style), /data.json,
/bin (application/octet-stream), /missing (404), POST /echo (the JSON body back,
wrapped as {"got": ...})."""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PAGE = b"""<!doctype html><html><head><title>Gemma tools &amp; tests</title>
<style>body { color: red }</style><script>var secret = "do not show";</script></head>
<body><h1>Heading</h1><p>First paragraph with <b>bold</b> text.</p><ul><li>one</li><li>two</li></ul></body></html>"""


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status, ctype, body):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/page.html":
            self.reply(200, "text/html; charset=utf-8", PAGE)
        elif self.path == "/data.json":
            self.reply(200, "application/json", json.dumps({"city": "Paris", "temp": 18, "tags": ["a", "b"]}).encode())
        elif self.path == "/bin":
            self.reply(200, "application/octet-stream", bytes(range(256)))
        else:
            self.reply(404, "text/plain", b"not here")

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        if self.path == "/echo":
            self.reply(200, "application/json", json.dumps({"got": json.loads(body)}).encode())
        else:
            self.reply(404, "text/plain", b"not here")


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
sys.stdout.close()
server.serve_forever()
