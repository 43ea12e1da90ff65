"""Creates what the fuzzer needs on a fresh `ferry serve`: a registered account (its key seed and
id), a cash agent (its token), and the admin token from the data directory. Writes them as JSON.

Usage: fixture.py BASE_URL DATA_DIR OUT.json
"""

import base64
import hashlib
import json
import sys
import time
import urllib.request

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

base, data_dir, out = sys.argv[1], sys.argv[2], sys.argv[3]
admin = open(f"{data_dir}/admin.token", encoding="utf-8").read().strip()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def post(path: str, body: dict, headers: dict) -> dict:
    data = json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method="POST")
    req.add_header("content-type", "application/json")
    for k, v in headers.items():
        req.add_header(k, v)
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.load(resp)


key = Ed25519PrivateKey.generate()
raw = key.public_key().public_bytes_raw()
body = {"account_key": b64(raw)}
data = json.dumps(body).encode()
now = int(time.time())
message = b"POST\n/v1/accounts\n" + str(now).encode() + b"\n" + hashlib.sha256(data).digest()
signature = b64(key.sign(b"ferry/v1/sig/HTTP-REQUEST\x00" + message))
req = urllib.request.Request(base + "/v1/accounts", data=data, method="POST")
req.add_header("content-type", "application/json")
req.add_header("ferry-key", b64(raw))
req.add_header("ferry-time", str(now))
req.add_header("ferry-signature", signature)
with urllib.request.urlopen(req, timeout=10) as resp:
    account = json.load(resp)

agent = post("/v1/admin/agents", {"name": "fuzz-agent"}, {"authorization": "Bearer " + admin})
seed = key.private_bytes_raw().hex()
json.dump(
    {
        "account_id": account["account_id"],
        "account_seed": seed,
        "agent_token": agent["token"],
        "admin_token": admin,
    },
    open(out, "w", encoding="utf-8"),
)
print(f"fixture: account {account['account_id']}, agent fuzz-agent")
