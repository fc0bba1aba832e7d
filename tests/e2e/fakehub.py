#!/usr/bin/env python3
"""fakehub.py: a small fake Hugging Face hub for the end-to-end tests (stdlib only).

Serves ROOT/ORG/NAME/... as model repositories with the endpoints gemma4 uses:
  GET /api/models/ORG/NAME/revision/REV[?blobs=true]   {"sha", "siblings": [...]}
  GET /ORG/NAME/resolve/REV/PATH    small files: 200 with ETag (git blob sha1);
                                    LFS files (.safetensors, .gguf): 302 to a "CDN"
                                    URL on another host name (localhost instead of
                                    127.0.0.1) with X-Linked-Etag / X-Linked-Size
  GET /cdn/ORG/NAME/PATH            the LFS content
Both honour Range requests. REV is "main" or the repo's commit hash.
Test controls:  GET /_control?drop=NAME|*&always=0|1&corrupt=NAME&reset=1
  drop:    the first response for NAME (every response with always=1) stops
           half way through its body and closes the connection
  corrupt: NAME is served with its bytes changed
GET /_log: every request as JSON lines {"path", "host", "range", "auth"}.
--gated ORG/NAME --token T: resolve requests of that repo need "Authorization: Bearer T"
(401 without a token, 403 with another).
The port is written to --port-file once the server listens (127.0.0.1, port 0 = free).
"""
import argparse
import hashlib
import json
import os
import re
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
LOG = []
STATE = {"drop": None, "always": False, "corrupt": None, "dropped": set()}


def is_lfs(path):
    return path.endswith(".safetensors") or path.endswith(".gguf")


class Repo:
    def __init__(self, root, repo):
        self.dir = os.path.join(root, repo)
        self.files = {}
        for dirpath, _, names in os.walk(self.dir):
            for n in sorted(names):
                full = os.path.join(dirpath, n)
                rel = os.path.relpath(full, self.dir)
                self.files[rel] = full
        h = hashlib.sha1()
        for rel in sorted(self.files):
            h.update(rel.encode() + b"\0" + self.etag(rel).encode())
        self.commit = h.hexdigest()

    def data(self, rel):
        with open(self.files[rel], "rb") as f:
            return f.read()

    def etag(self, rel):
        d = self.data(rel)
        if is_lfs(rel):
            return hashlib.sha256(d).hexdigest()
        return hashlib.sha1(b"blob %d\0" % len(d) + d).hexdigest()

    def sibling(self, rel, blobs):
        s = {"rfilename": rel}
        if blobs:
            d = self.data(rel)
            s["size"] = len(d)
            s["blobId"] = hashlib.sha1(b"blob %d\0" % len(d) + d).hexdigest()
            if is_lfs(rel):
                s["lfs"] = {"sha256": hashlib.sha256(d).hexdigest(), "size": len(d), "pointerSize": 134}
        return s


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, code, body=b"", headers=None):
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def error(self, code, msg):
        self.reply(code, json.dumps({"error": msg}).encode(), {"Content-Type": "application/json"})

    def repo(self, org, name):
        path = os.path.join(self.server.root, org, name)
        if not re.fullmatch(r"[\w.-]+", org) or not re.fullmatch(r"[\w.-]+", name) or not os.path.isdir(path):
            return None
        return Repo(self.server.root, org + "/" + name)

    def auth_ok(self, repo_id):
        if repo_id not in self.server.gated:
            return True
        auth = self.headers.get("Authorization")
        if not auth:
            self.error(401, "Access to model %s is restricted. You must be authenticated." % repo_id)
            return False
        if auth != "Bearer " + self.server.token:
            self.error(403, "Access to model %s is restricted and you are not in the authorized list." % repo_id)
            return False
        return True

    def send_content(self, repo, rel, extra):
        data = repo.data(rel)
        with LOCK:
            corrupt = STATE["corrupt"] == rel
            drop = (STATE["drop"] in (rel, "*")) and (STATE["always"] or rel not in STATE["dropped"])
            if drop:
                STATE["dropped"].add(rel)
        if corrupt:
            data = bytes(b ^ 0x5A for b in data)
        start = 0
        rng = self.headers.get("Range")
        code = 200
        if rng:
            m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng.strip())
            if not m or int(m.group(1)) >= len(data):
                return self.reply(416, b"", {"Content-Range": "bytes */%d" % len(data)})
            start, code = int(m.group(1)), 206
            extra["Content-Range"] = "bytes %d-%d/%d" % (start, len(data) - 1, len(data))
        body = data[start:]
        self.send_response(code)
        for k, v in extra.items():
            self.send_header(k, v)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if drop and len(body) > 1:
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self.wfile.write(body)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        path = urllib.parse.unquote(url.path)
        with LOCK:
            LOG.append({"path": path, "host": self.headers.get("Host", ""), "range": self.headers.get("Range"),
                        "auth": self.headers.get("Authorization")})
        if path == "/_log":
            with LOCK:
                body = "".join(json.dumps(e) + "\n" for e in LOG).encode()
            return self.reply(200, body)
        if path == "/_control":
            with LOCK:
                if "reset" in query:
                    STATE.update(drop=None, always=False, corrupt=None, dropped=set())
                    LOG.clear()
                if "drop" in query:
                    STATE["drop"] = query["drop"][0]
                    STATE["dropped"] = set()
                if "always" in query:
                    STATE["always"] = query["always"][0] == "1"
                if "corrupt" in query:
                    STATE["corrupt"] = query["corrupt"][0]
            return self.reply(200, b"ok\n")
        m = re.fullmatch(r"/api/models/([^/]+)/([^/]+)/revision/([^/]+)", path)
        if m:
            repo = self.repo(m.group(1), m.group(2))
            if not repo:
                return self.error(404, "Repository not found")
            if m.group(3) not in ("main", repo.commit):
                return self.error(404, "Invalid rev id: " + m.group(3))
            blobs = query.get("blobs", ["false"])[0] == "true"
            info = {"id": m.group(1) + "/" + m.group(2), "sha": repo.commit,
                    "siblings": [repo.sibling(r, blobs) for r in sorted(repo.files)]}
            return self.reply(200, json.dumps(info).encode(), {"Content-Type": "application/json"})
        m = re.fullmatch(r"/([^/]+)/([^/]+)/resolve/([^/]+)/(.+)", path)
        if m:
            repo = self.repo(m.group(1), m.group(2))
            if not repo:
                return self.error(404, "Repository not found")
            if not self.auth_ok(repo_id := m.group(1) + "/" + m.group(2)):
                return None
            rel = m.group(4)
            if m.group(3) not in ("main", repo.commit) or rel not in repo.files:
                return self.error(404, "Entry not found")
            etag = repo.etag(rel)
            headers = {"X-Repo-Commit": repo.commit, "ETag": '"%s"' % etag}
            if is_lfs(rel):
                port = self.server.server_address[1]
                loc = "http://localhost:%d/cdn/%s/%s" % (port, repo_id, urllib.parse.quote(rel))
                headers.update({"Location": loc, "X-Linked-Etag": '"%s"' % etag,
                                "X-Linked-Size": str(len(repo.data(rel)))})
                return self.reply(302, b"", headers)
            return self.send_content(repo, rel, headers)
        m = re.fullmatch(r"/cdn/([^/]+)/([^/]+)/(.+)", path)
        if m:
            repo = self.repo(m.group(1), m.group(2))
            if not repo or m.group(3) not in repo.files:
                return self.error(404, "Not found")
            return self.send_content(repo, m.group(3), {"ETag": '"%s"' % repo.etag(m.group(3))})
        return self.error(404, "Not found")


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # clients that hang up early (after a 401, or a test's drop) are expected


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--gated", action="append", default=[])
    ap.add_argument("--token", default="")
    a = ap.parse_args()
    srv = Server(("127.0.0.1", a.port), Handler)
    srv.root, srv.gated, srv.token = a.root, set(a.gated), a.token
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, a.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
