"""A stand-in Witboost gateway for the seed test.

It does what an ingress with forward-auth does in front of Witboost: /api/auth/* and
/.well-known/* go to the token service; every other request is first sent to
GET /api/auth/verify, refused with its 401 if refused, else answered as Witboost would with the
Authorization header the token service returned (our Bearer JWT for a credential of ours; the
caller's own header, or none, for anything else). This stand-in Witboost knows no credential of
its own: it answers 401 to anything but a Bearer JWT.
"""

import json
import sys
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(sys.argv[1])
TOKEN_SERVICE = sys.argv[2]


def forward(method, path, headers, body):
    request = urllib.request.Request(TOKEN_SERVICE + path, data=body, method=method)
    for name in ("Content-Type", "Authorization"):
        if headers.get(name):
            request.add_header(name, headers[name])
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


class Gateway(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status, headers, body):
        self.send_response(status)
        for name in ("Content-Type", "WWW-Authenticate"):
            if headers.get(name):
                self.send_header(name, headers[name])
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        if self.path.startswith(("/api/auth/", "/.well-known/")):
            self.reply(*forward(self.command, self.path, self.headers, body))
            return
        status, headers, answer = forward("GET", "/api/auth/verify", self.headers, None)
        if status != 200:
            self.reply(status, headers, answer)
            return
        # The request goes on with the header forward auth answered with, as nginx's
        # auth_request_set and proxy_set_header do.
        bearer = headers.get("Authorization") or ""
        if not bearer.startswith("Bearer "):
            self.reply(401, {"Content-Type": "application/json", "WWW-Authenticate": 'Basic realm="witboost"'},
                       json.dumps({"error": "unauthenticated"}).encode())
            return
        payload = {"items": [], "authenticated": True}
        self.reply(200, {"Content-Type": "application/json"}, json.dumps(payload).encode())

    do_GET = do_POST = do_PUT = do_DELETE = handle_any


ThreadingHTTPServer(("127.0.0.1", PORT), Gateway).serve_forever()
