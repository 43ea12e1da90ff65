"""Schemathesis hooks for Ferry: credentials for every kind of route.

Ferry authenticates three ways (see the OpenAPI document's security schemes):
- account-holder requests are signed with the account's Ed25519 key over
  METHOD\\nPATH?QUERY\\nTIME\\nSHA-256(body), in the domain ``ferry/v1/sig/HTTP-REQUEST``;
- registration (POST /v1/accounts) is signed by the key it registers (``ferry-key``);
- agents and the operator send a bearer token.

The signature must cover the exact body bytes sent, so the credentials are set by a
``requests`` auth object, which sees the prepared request. The account, its key and the
tokens come from the fixture (fixture.py), through the FERRY_FUZZ_FIXTURE file.
"""

import base64
import hashlib
import json
import os
import time

import requests
import schemathesis
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

DOMAIN = b"ferry/v1/sig/HTTP-REQUEST\x00"

with open(os.environ["FERRY_FUZZ_FIXTURE"], encoding="utf-8") as f:
    FIXTURE = json.load(f)

ACCOUNT_KEY = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(FIXTURE["account_seed"]))
SIGNED = {
    ("POST", "/v1/wallets"),
    ("POST", "/v1/deposits"),
    ("POST", "/v1/bonds"),
}
SIGNED_PREFIXES = ("/v1/accounts/", "/v1/payments/")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(key: Ed25519PrivateKey, request: requests.PreparedRequest, at: int) -> str:
    body = request.body or b""
    if isinstance(body, str):
        body = body.encode()
    message = b"\n".join(
        [request.method.upper().encode(), request.path_url.encode(), str(at).encode()]
    ) + b"\n" + hashlib.sha256(body).digest()
    return b64(key.sign(DOMAIN + message))


class FerryAuth(requests.auth.AuthBase):
    """Adds the credentials the route asks for, signing the exact bytes sent."""

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        path = r.path_url.split("?", 1)[0]
        method = r.method.upper()
        now = int(time.time())
        if method == "POST" and path == "/v1/accounts":
            key = Ed25519PrivateKey.generate()
            raw = key.public_key().public_bytes_raw()
            r.headers["ferry-key"] = b64(raw)
            r.headers["ferry-time"] = str(now)
            r.headers["ferry-signature"] = sign(key, r, now)
        elif (method, path) in SIGNED or (method == "GET" and path.startswith(SIGNED_PREFIXES)):
            r.headers["ferry-account"] = FIXTURE["account_id"]
            r.headers["ferry-time"] = str(now)
            r.headers["ferry-signature"] = sign(ACCOUNT_KEY, r, now)
        elif path.startswith("/v1/agents/"):
            r.headers["authorization"] = "Bearer " + FIXTURE["agent_token"]
        elif path.startswith(("/v1/admin/", "/v1/audit", "/v1/fraud/")):
            r.headers["authorization"] = "Bearer " + FIXTURE["admin_token"]
        return r


schemathesis.auth.set_from_requests(FerryAuth())
