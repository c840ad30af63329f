"""Our JWTs judged by Backstage's own external-access code (judge.mjs), against the token service
of a running sandbox, for one signing algorithm.

usage: judge.py ALG TOKEN_SERVICE_URL ACCESS_TOKEN EMAIL TRUST_CONFIG OTHER_ISSUER_CONFIG
                OTHER_AUDIENCE_CONFIG ROTATE_COMMAND...

TRUST_CONFIG is the UI app-config the BasicAuth controller rendered; the other two are it
re-rendered by `values trust` with another issuer or audience. ROTATE_COMMAND rotates the
service's signing key (an emergency rotation: the new key signs at once).
"""

import base64
import json
import os
import subprocess
import sys
import time

import jwt
import requests
from cryptography.hazmat.primitives.asymmetric import ec, rsa

HERE = os.path.dirname(os.path.abspath(__file__))
PREFIX = "witboost-token-operator"


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


class Judge:
    """One judge.mjs process: one Backstage handler, with its own JWKS cache."""

    def __init__(self, config):
        self.process = subprocess.Popen(
            ["node", os.path.join(HERE, "judge.mjs"), config],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=HERE,
        )

    def subject(self, token):
        self.process.stdin.write(token + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            fail("judge.mjs exited")
        answer = json.loads(line)
        if "error" in answer:
            fail(f"Backstage threw: {answer['error']}")
        return answer["subject"]

    def close(self):
        self.process.stdin.close()
        self.process.wait(timeout=30)


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def parts(token):
    header, payload, signature = token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)
    return (
        json.loads(base64.urlsafe_b64decode(pad(header))),
        json.loads(base64.urlsafe_b64decode(pad(payload))),
        signature,
    )


def main():
    alg, url, access_token, email, trust, other_issuer, other_audience = sys.argv[1:8]
    rotate = sys.argv[8:]

    def mint(duration=300):
        response = requests.post(
            f"{url}/api/auth/access-tokens/jwt",
            json={"access_token": access_token, "duration_seconds": duration},
            timeout=30,
        )
        response.raise_for_status()
        return response.json()["jwt"]

    ours = mint()
    header, claims, signature = parts(ours)
    if header["alg"] != alg:
        fail(f"the token service signs with {header['alg']}, not {alg}")
    if claims["sub"] != email:
        fail(f"sub is {claims['sub']}")
    principal = f"external:{PREFIX}:{email}"

    judge = Judge(trust)
    print(f"--- {alg}: our JWT -> {principal}")
    got = judge.subject(ours)
    if got != principal:
        fail(f"our JWT: Backstage returned {got!r}, expected {principal!r}")

    print(f"--- {alg}: tampered in the middle of the signature -> no principal")
    middle = len(signature) // 2
    flipped = "A" if signature[middle] != "A" else "B"
    tampered = ours[: -len(signature)] + signature[:middle] + flipped + signature[middle + 1 :]
    if judge.subject(tampered) is not None:
        fail("a tampered JWT was accepted")

    print(f"--- {alg}: signed by another key (same kid, same claims) -> no principal")
    if alg == "ES256":
        other_key = ec.generate_private_key(ec.SECP256R1())
    else:
        other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims, other_key, algorithm=alg, headers={"kid": header["kid"]})
    if judge.subject(forged) is not None:
        fail("a JWT signed by another key was accepted")

    print(f"--- {alg}: alg none -> no principal")
    unsigned = b64(json.dumps({"alg": "none", "typ": "JWT", "kid": header["kid"]}).encode())
    unsigned += "." + ours.split(".")[1] + "."
    if judge.subject(unsigned) is not None:
        fail("an unsigned JWT was accepted")

    print(f"--- {alg}: expired -> no principal")
    short = mint(duration=1)
    expires = parts(short)[1]["exp"]
    deadline = time.time() + 60
    while judge.subject(short) is not None:
        if time.time() > deadline:
            fail("an expired JWT is still accepted")
        time.sleep(0.2)
    if time.time() < expires:
        fail("a JWT was refused before its exp")

    for name, config in (("another issuer", other_issuer), ("another audience", other_audience)):
        print(f"--- {alg}: trusted for {name} -> no principal")
        other = Judge(config)
        if other.subject(ours) is not None:
            fail(f"a JWT was accepted by an entry for {name}")
        other.close()

    print(f"--- {alg}: after an emergency rotation, a JWT of the new key -> {principal}")
    subprocess.run(rotate, check=True, stdout=subprocess.DEVNULL)
    deadline = time.time() + 60
    while True:
        fresh = mint()
        if parts(fresh)[0]["kid"] != header["kid"]:
            break
        if time.time() > deadline:
            fail("the token service did not rotate its key")
        time.sleep(0.2)
    # jose refetches the JWKS for an unknown kid at most once per 30 s cool-down: the judge that
    # fetched it at the start may refuse the new kid until then, never after.
    deadline = time.time() + 90
    while (got := judge.subject(fresh)) != principal:
        if time.time() > deadline:
            fail(f"a JWT of the new key: Backstage returned {got!r}")
        time.sleep(1)
    if judge.subject(ours) != principal:
        fail("a JWT of the retired key is refused before its exp")
    judge.close()
    print(f"PASS: {alg}: Backstage's jwks external access trusts our JWTs and only them")


if __name__ == "__main__":
    main()
