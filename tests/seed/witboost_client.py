"""Witboost's own API client, played step by step against the token service behind the stand-in
gateway.

Witboost publishes a TypeScript client (the MCP server in agile-lab-dev/witboost-ai-toolkit,
`.witboost/mcp-server/src/api/client.ts`). `WitboostClient` below does what it does, written
anew in Python from its documented behaviour:
- a `wbat-` token is exchanged at POST /api/auth/access-tokens/jwt for a JWT of 3600 s (with
  `scope` for a scoped call), and each JWT is cached until 60 s before it expires;
- a token that is already a JWT is used as it is, and exchanged for a scoped JWT at
  POST /api/auth/session-tokens/jwt with `Authorization: Bearer <jwt>`;
- whether a JWT carries a scope, and when it expires, is read from its payload without
  verification (`scope`: space-separated; `exp`: seconds);
- API errors are read from `error.message`, else `message`, else `errors[].message`.

Every JWT the sequence gets is also verified independently, with PyJWT and the published JWKS.

usage: SEED_BASE_URL=… SEED_TOKEN=<service account token> SEED_PAT=<personal access token> \
       python witboost_client.py
"""

import base64
import json
import os
import re
import time

import jwt  # PyJWT
import requests

BASE = os.environ["SEED_BASE_URL"]
SA_TOKEN = os.environ["SEED_TOKEN"]
PAT = os.environ["SEED_PAT"]
SCOPE = "service:computational-governance"

JWT_DURATION_SECONDS = 3600
# The token service's default --audience.
AUDIENCE = "witboost"
REFRESH_MARGIN_SECONDS = 60


class ExchangeFailed(Exception):
    def __init__(self, operation, status, text):
        super().__init__(f"{operation} failed (HTTP {status}): {text}")
        self.status = status
        self.text = text


class WitboostClient:
    """The TypeScript client's token handling and error parsing. `clock` returns seconds, so a
    test can move the client's notion of time without waiting."""

    def __init__(self, base_url, token, clock=time.time):
        self.base_url = base_url
        self.token = token
        self.clock = clock
        self.jwt = None
        self.jwt_expires_at = 0.0
        self.scoped = {}
        # Every call to an exchange endpoint, to see what the caches saved.
        self.exchanges = []

    # --- tokens ---

    def bearer(self):
        if not self.token.startswith("wbat-"):
            return self.token
        if self.jwt and self.clock() < self.jwt_expires_at - REFRESH_MARGIN_SECONDS:
            return self.jwt
        self.jwt = self._access_token_exchange()
        # Like the TypeScript client: the unscoped JWT's expiry is computed locally.
        self.jwt_expires_at = self.clock() + JWT_DURATION_SECONDS
        return self.jwt

    def scoped_bearer(self, scope):
        if self._has_scope(self.token, scope):
            return self.token
        cached = self.scoped.get(scope)
        if cached and self.clock() < cached[1] - REFRESH_MARGIN_SECONDS:
            return cached[0]
        if self.token.startswith("wbat-"):
            scoped = self._access_token_exchange(scope)
        else:
            scoped = self._session_token_exchange(scope)
        exp = self._expires_at(scoped)
        self.scoped[scope] = (scoped, exp if exp is not None else self.clock() + JWT_DURATION_SECONDS)
        return scoped

    def _access_token_exchange(self, scope=None):
        body = {"access_token": self.token, "duration_seconds": JWT_DURATION_SECONDS}
        if scope:
            body["scope"] = scope
        return self._exchange("/api/auth/access-tokens/jwt",
                              {"Content-Type": "application/json"}, body, "JWT exchange")

    def _session_token_exchange(self, scope):
        headers = {
            "Authorization": f"Bearer {self.token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        body = {"duration_seconds": JWT_DURATION_SECONDS, "scope": scope}
        return self._exchange("/api/auth/session-tokens/jwt", headers, body, "Scoped JWT exchange")

    def _exchange(self, path, headers, body, operation):
        self.exchanges.append(path)
        response = requests.post(self.base_url + path, headers=headers, data=json.dumps(body),
                                 timeout=10)
        if not response.ok:
            raise ExchangeFailed(operation, response.status_code, response.text)
        return response.json()["jwt"]

    @staticmethod
    def payload(token):
        try:
            part = token.split(".")[1]
            return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
        except (IndexError, ValueError):
            return None

    def _expires_at(self, token):
        payload = self.payload(token)
        exp = payload.get("exp") if payload else None
        return exp if isinstance(exp, (int, float)) and not isinstance(exp, bool) else None

    def _has_scope(self, token, scope):
        payload = self.payload(token)
        if not payload:
            return False
        claim = payload.get("scope") if isinstance(payload.get("scope"), str) else ""
        expires_at = self._expires_at(token)
        return scope in re.split(r"\s+", claim) and (
            not expires_at or self.clock() < expires_at - REFRESH_MARGIN_SECONDS)

    # --- API calls ---

    def get(self, path, bearer=None):
        """(ok, status, data, error message) of an API call, the client's way."""
        token = bearer if bearer is not None else self.bearer()
        response = requests.get(self.base_url + path, timeout=10, headers={
            "Authorization": f"Bearer {token}", "Accept": "application/json"})
        if "application/json" in response.headers.get("Content-Type", ""):
            data = response.json()
        else:
            data = response.text
        if not response.ok:
            return False, response.status_code, data, self.error_message(data, response.status_code)
        return True, response.status_code, data, None

    @staticmethod
    def error_message(body, status):
        if isinstance(body, dict):
            if isinstance(body.get("error"), dict):
                inner = body["error"]
                return inner["message"] if isinstance(inner.get("message"), str) else json.dumps(inner)
            if isinstance(body.get("message"), str):
                return body["message"]
            if isinstance(body.get("errors"), list) and body["errors"]:
                return "; ".join(e.get("message") or json.dumps(e) for e in body["errors"])
            return f"HTTP {status}: {json.dumps(body)[:500]}"
        if isinstance(body, str):
            return body
        return f"HTTP {status}"


# --- independent verification: PyJWT with the published keys only ---

CONFIG = requests.get(f"{BASE}/.well-known/openid-configuration", timeout=10).json()
JWKS = requests.get(f"{BASE}/.well-known/jwks.json", timeout=10).json()


def verified(token):
    header = jwt.get_unverified_header(token)
    key = next(k for k in JWKS["keys"] if k["kid"] == header["kid"])
    claims = jwt.decode(token, key=jwt.PyJWK(key).key, algorithms=[key["alg"]],
                        issuer=CONFIG["issuer"], audience=AUDIENCE,
                        options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub", "jti"]})
    # The client reads the payload without verifying: it must read the same claims.
    assert WitboostClient.payload(token) == claims, (WitboostClient.payload(token), claims)
    return claims


def scopes(claims):
    return re.split(r"\s+", claims["scope"]) if isinstance(claims.get("scope"), str) else []


class Clock:
    """The client's clock, stopped at its creation; the test moves it by `offset`."""

    def __init__(self):
        self.base = time.time()
        self.offset = 0.0

    def __call__(self):
        return self.base + self.offset


assert CONFIG["session_token_endpoint"].endswith("/api/auth/session-tokens/jwt"), CONFIG

# 1. PAT → JWT (3600 s), used for an API call.
clock = Clock()
client = WitboostClient(BASE, PAT, clock)
unscoped = client.bearer()
claims = verified(unscoped)
assert claims["exp"] - claims["iat"] == JWT_DURATION_SECONDS, claims
assert claims["sub"] == "seed-user@example.com", claims
assert "scope" not in claims, claims
ok, status, data, _ = client.get("/api/catalog/entities")
assert ok and data["authenticated"], (status, data)
print("PAT -> JWT (3600 s): ok")

# 2. A cached JWT is reused until 60 s before its expiry, then refreshed.
assert client.bearer() == unscoped
clock.offset = JWT_DURATION_SECONDS - REFRESH_MARGIN_SECONDS - 1
assert client.bearer() == unscoped
assert client.exchanges == ["/api/auth/access-tokens/jwt"], client.exchanges
clock.offset = JWT_DURATION_SECONDS - REFRESH_MARGIN_SECONDS
refreshed = client.bearer()
assert refreshed != unscoped
assert verified(refreshed)["jti"] != claims["jti"]
assert len(client.exchanges) == 2, client.exchanges
clock.offset = 0
print("cached JWT reused until 60 s before exp, then refreshed: ok")

# 3. PAT → scoped JWT, cached by its `exp` claim.
scoped = client.scoped_bearer(SCOPE)
scoped_claims = verified(scoped)
assert scopes(scoped_claims) == [SCOPE], scoped_claims
assert scoped_claims["exp"] - scoped_claims["iat"] == JWT_DURATION_SECONDS, scoped_claims
assert client.scoped_bearer(SCOPE) == scoped
clock.offset = scoped_claims["exp"] - REFRESH_MARGIN_SECONDS - 1 - clock.base
assert client.scoped_bearer(SCOPE) == scoped
clock.offset = scoped_claims["exp"] - REFRESH_MARGIN_SECONDS - clock.base
rescoped = client.scoped_bearer(SCOPE)
assert rescoped != scoped and scopes(verified(rescoped)) == [SCOPE]
clock.offset = 0
assert client.exchanges.count("/api/auth/access-tokens/jwt") == 4, client.exchanges
ok, status, data, _ = client.get("/api/computational-governance/validate", bearer=scoped)
assert ok, (status, data)
print("PAT -> scoped JWT, reused until 60 s before its exp: ok")

# 4. JWT → scoped JWT through the session-token exchange, as for a session JWT.
session = WitboostClient(BASE, unscoped)
assert session.bearer() == unscoped, "a JWT is used as it is"
from_session = session.scoped_bearer(SCOPE)
assert session.exchanges == ["/api/auth/session-tokens/jwt"], session.exchanges
session_claims = verified(from_session)
assert scopes(session_claims) == [SCOPE], session_claims
# 3600 s asked for, capped at the presented JWT's own expiry: the exchange only narrows.
assert session_claims["exp"] == claims["exp"], (session_claims, claims)
assert session_claims["sub"] == claims["sub"] and session_claims["wbat"] == claims["wbat"]
assert session.scoped_bearer(SCOPE) == from_session, "cached"
# A JWT that already carries the scope is used without any exchange.
already = WitboostClient(BASE, from_session)
assert already.scoped_bearer(SCOPE) == from_session and already.exchanges == []
ok, status, data, _ = session.get("/api/catalog/entities", bearer=from_session)
assert ok, (status, data)
print("JWT -> scoped JWT via /api/auth/session-tokens/jwt: ok")

# 5. Errors, read back the client's way.
account = WitboostClient(BASE, SA_TOKEN)
try:
    account.scoped_bearer("catalog:write")
    raise AssertionError("a scope outside allowedScopes was granted")
except ExchangeFailed as refused:
    assert refused.status == 403, refused
    message = WitboostClient.error_message(json.loads(refused.text), refused.status)
    assert message == "a requested scope is not among the account's allowed scopes", message

stranger = WitboostClient(BASE, unscoped[:-4] + ("AAAA" if not unscoped.endswith("AAAA") else "BBBB"))
ok, status, data, message = stranger.get("/api/catalog/entities")
assert not ok and status == 401, (status, data)
assert message == "the access token is invalid, expired or revoked", message
try:
    stranger.scoped_bearer(SCOPE)
    raise AssertionError("a tampered JWT was exchanged")
except ExchangeFailed as refused:
    assert refused.status == 401, refused
    assert WitboostClient.error_message(json.loads(refused.text), 401) == message
print(f"errors read through `message`: {message!r}: ok")
print("witboost client sequence: ok")
