"""A local stand-in for Hugging Face and PaddleNLP's hosting, on 127.0.0.1, for download tests.

The Hugging Face side serves `/hf/{repo}/resolve/main/{file}`: LFS files (the weights) behind a
302 to `/cdn/{sha256}` carrying X-Linked-Size and X-Linked-Etag as huggingface.co does, small files
directly with their git blob sha1 as ETag. The PaddleNLP side serves `/bos/{path}` with an md5
ETag. Both honour `Range: bytes=N-`. `site.cut[path] = n` sends only n bytes of the next response
(while promising all of them), `site.corrupt` holds paths served with a flipped first byte, and
`site.requests` logs (method, path, Range header)."""
import contextlib
import hashlib
import http.server
import re
import threading
import urllib.parse

LFS_FILES = ("pytorch_model.bin", "model.safetensors", "tf_model.h5")


def git_blob_sha1(body: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(body) + body).hexdigest()


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_HEAD(self):
        self.serve(head=True)

    def do_GET(self):
        self.serve(head=False)

    def serve(self, head):
        site = self.server.site
        path = urllib.parse.urlparse(self.path).path
        site.requests.append((self.command, path, self.headers.get("Range")))
        hf = re.fullmatch(r"/hf/(.+)/resolve/main/(.+)", path)
        if hf:
            body = site.hf.get(hf.group(2)) if hf.group(1) == site.repo else None
            if body is None:
                return self.send_error(404)
            if hf.group(2) in LFS_FILES:  # LFS: a redirect to the CDN carrying size and sha256
                sha = hashlib.sha256(body).hexdigest()
                site.cdn[sha] = body
                self.send_response(302)
                self.send_header("Location", f"/cdn/{sha}")
                self.send_header("X-Linked-Size", str(len(body)))
                self.send_header("X-Linked-Etag", f'"{sha}"')
                self.send_header("Content-Length", "0")
                return self.end_headers()
            return self.send_body(body, path, head, etag=git_blob_sha1(body))
        if path.startswith("/cdn/") and path[5:] in site.cdn:
            return self.send_body(site.cdn[path[5:]], path, head)
        if path.startswith("/bos/") and path[5:] in site.bos:
            body = site.bos[path[5:]]
            return self.send_body(body, path, head, etag=hashlib.md5(body).hexdigest())
        self.send_error(404)

    def send_body(self, body, path, head, etag=None):
        site = self.server.site
        if path in site.corrupt:
            body = bytes([body[0] ^ 0xFF]) + body[1:]
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if match and not head:
            start = int(match.group(1))
            if start >= len(body):
                return self.send_error(416)
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        if etag:
            self.send_header("ETag", f'"{etag}"')
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        if head:
            return
        cut = site.cut.pop(path, None)  # promise the whole body, send part of it, hang up
        self.wfile.write(body[start:cut] if cut is not None else body[start:])
        self.close_connection = True


class Site:
    def __init__(self, repo, hf, bos):
        self.repo, self.hf, self.bos, self.cdn = repo, dict(hf), dict(bos), {}
        self.requests, self.corrupt, self.cut = [], set(), {}


@contextlib.contextmanager
def serving(repo: str, hf: dict, bos: dict):
    """Yields (site, base URL); HF_ENDPOINT is base + "/hf", PADDLE_WWM_PADDLENLP_ENDPOINT base + "/bos"."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.site = Site(repo, hf, bos)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.site, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
