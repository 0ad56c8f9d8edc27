"""Checks a wxauth webhook's Wxauth-Signature header (README: "Webhooks").
Use the raw request body, before any JSON parsing."""
import hashlib
import hmac
import sys
import time


def verify_wxauth(secret: bytes, header: str, raw_body: bytes, tolerance: int = 300) -> bool:
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    t = parts.get("t", "")
    if not t.isdigit() or abs(time.time() - int(t)) > tolerance:
        return False
    expected = hmac.new(secret, t.encode() + b"." + raw_body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts.get("v1", ""))


if __name__ == "__main__":
    # python3 verify.py SECRET HEADER BODY_FILE: prints True or False (the tests use this).
    secret, header, path = sys.argv[1:4]
    with open(path, "rb") as f:
        print(verify_wxauth(secret.encode(), header, f.read()))
