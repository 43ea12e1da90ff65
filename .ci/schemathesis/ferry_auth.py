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
import re
import threading
import time

import requests
import schemathesis
from schemathesis.core.parameters import ParameterLocation
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

DOMAIN = b"ferry/v1/sig/HTTP-REQUEST\x00"

with open(os.environ["FERRY_FUZZ_FIXTURE"], encoding="utf-8") as f:
    FIXTURE = json.load(f)

ACCOUNT_KEY = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(FIXTURE["account_seed"]))
SIGNED = {
    ("POST", "/v1/wallets"),
    ("POST", "/v1/deposits"),
    ("POST", "/v1/bonds"),
    ("GET", "/v1/vouchers"),
    ("POST", "/v1/vouchers"),
}
# Every voucher route (create, redeem, block, invalidate) is signed by the account.
SIGNED_ANY_METHOD_PREFIXES = ("/v1/vouchers/",)
SIGNED_PREFIXES = ("/v1/accounts/", "/v1/payments/")
ACCOUNT_PATH = re.compile(r"^/v1/accounts/([^/]+)")
KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$")

# Accounts registered during the run (their keys, by account id and by public key), so that
# the stateful phase can follow the registration's link and act as the new account.
LOCK = threading.Lock()
KEYS_BY_PUBLIC: dict[str, Ed25519PrivateKey] = {}
KEYS_BY_ACCOUNT: dict[str, Ed25519PrivateKey] = {FIXTURE["account_id"]: ACCOUNT_KEY}


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


# Set by `before_call` for a case generated to break its headers (credentials among them): the
# auth object, called next on the same thread, then leaves the request as generated, so the
# server sees what the fuzzer meant.
CURRENT = threading.local()


class FerryAuth(requests.auth.AuthBase):
    """Adds the credentials the route asks for, signing the exact bytes sent."""

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        if getattr(CURRENT, "no_credentials", False):
            return r
        path = r.path_url.split("?", 1)[0]
        method = r.method.upper()
        now = int(time.time())
        if method == "POST" and path == "/v1/accounts":
            key = Ed25519PrivateKey.generate()
            public = b64(key.public_key().public_bytes_raw())
            body = parse_json(r.body)
            # A schema-valid registration registers the key it is signed with: the generated
            # key (any 32 bytes) is replaced by ours, which is just as valid. Anything else is
            # sent as generated (and signed by a key it does not name: refused).
            if (
                isinstance(body, dict)
                and set(body) == {"account_key"}
                and isinstance(body["account_key"], str)
                and KEY_PATTERN.match(body["account_key"])
            ):
                r.prepare_body(data=json.dumps({"account_key": public}).encode(), files=None)
            with LOCK:
                KEYS_BY_PUBLIC[public] = key
            r.headers["ferry-key"] = public
            r.headers["ferry-time"] = str(now)
            r.headers["ferry-signature"] = sign(key, r, now)
        elif (
            (method, path) in SIGNED
            or (method == "GET" and path.startswith(SIGNED_PREFIXES))
            or path.startswith(SIGNED_ANY_METHOD_PREFIXES)
        ):
            account, key = FIXTURE["account_id"], ACCOUNT_KEY
            # `/v1/accounts/{id}` and its sub-resources (`/payments`, `/statement`): an
            # account registered during the run signs for itself.
            named = ACCOUNT_PATH.match(path)
            if named:
                with LOCK:
                    own = KEYS_BY_ACCOUNT.get(named.group(1))
                if own is not None:
                    account, key = named.group(1), own
            r.headers["ferry-account"] = account
            r.headers["ferry-time"] = str(now)
            r.headers["ferry-signature"] = sign(key, r, now)
        elif path.startswith("/v1/agents/"):
            r.headers["authorization"] = "Bearer " + FIXTURE["agent_token"]
        elif path.startswith(("/v1/admin/", "/v1/audit", "/v1/fraud/")):
            r.headers["authorization"] = "Bearer " + FIXTURE["admin_token"]
        return r


def parse_json(body):
    if body is None:
        return None
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


@schemathesis.hook
def before_call(context, case, kwargs):
    """Marks cases whose headers were generated to be invalid: they get no credentials."""
    CURRENT.no_credentials = case.meta is not None and case.meta.is_negative_at(
        ParameterLocation.HEADER
    )


@schemathesis.hook
def after_call(context, case, response):
    """Remembers the key of every account registered, by its new account id."""
    if case.method.upper() != "POST" or case.path != "/v1/accounts" or response.status_code != 201:
        return
    sent = parse_json(response.request.body)
    answer = parse_json(response.content)
    if isinstance(sent, dict) and isinstance(answer, dict):
        with LOCK:
            key = KEYS_BY_PUBLIC.get(sent.get("account_key"))
            if key is not None and isinstance(answer.get("account_id"), str):
                KEYS_BY_ACCOUNT[answer["account_id"]] = key


schemathesis.auth.set_from_requests(FerryAuth())
