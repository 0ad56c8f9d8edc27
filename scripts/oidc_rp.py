"""A web application signing people in through wxauth (SPEC §11), written
with authlib, a relying-party library nobody here wrote: discovery, the
authorization request with PKCE and a nonce, the token request with each
client authentication, the ID token verified through the JWK Set with
authlib's own claim rules, userinfo, refresh, and each refusal. The person
scans and decides through the mini-program's API, as the mini-program would.

    python scripts/oidc_rp.py http://127.0.0.1:PORT
"""

import sys
import warnings
from urllib.parse import parse_qsl, urlsplit

import requests

import authlib.deprecate  # noqa: E402,F401  (it turns its notices on when imported)

warnings.simplefilter("ignore")  # authlib.jose's notice that joserfc replaces it

from authlib.common.security import generate_token  # noqa: E402
from authlib.integrations.requests_client import OAuth2Session, OAuthError  # noqa: E402
from authlib.jose import JsonWebKey, jwt  # noqa: E402
from authlib.oidc.core import CodeIDToken  # noqa: E402

BASE = sys.argv[1].rstrip("/")
API = BASE + "/api/v1.0/auth"
SHOP = ("shop", "shop-secret-0123456789", "https://shop.example.com/callback")
SPA = ("spa", None, "http://127.0.0.1:3000/cb")

meta = requests.get(BASE + "/.well-known/openid-configuration", timeout=10).json()
assert meta["issuer"] == BASE, meta
keys = JsonWebKey.import_key_set(requests.get(meta["jwks_uri"], timeout=10).json())
checks = 0


def check(condition, what):
    global checks
    if not condition:
        raise SystemExit(f"oidc_rp: FAILED: {what}")
    checks += 1


def person(code):
    """A person signed in to the mini-program: (their token, their id)."""
    data = requests.post(API + "/authorize", json={"code": code}, timeout=10).json()["data"]
    return data["token"], data["user_id"]


def mini_program(call, token, scene):
    return requests.post(
        f"{API}/web-login/{call}",
        json={"scene": scene},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    ).json()


def client_for(client, method):
    client_id, secret, redirect_uri = client
    return OAuth2Session(
        client_id,
        secret,
        scope="openid profile",
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method=method,
    )


def sign_in(rp, who, decision="confirm"):
    """A browser asks to sign in; `who` scans and decides. Where the browser
    is sent back to, with the verifier, nonce and state the request used."""
    browser = requests.Session()
    nonce, verifier = generate_token(24), generate_token(48)
    url, state = rp.create_authorization_url(
        meta["authorization_endpoint"], nonce=nonce, code_verifier=verifier
    )
    to_scan = browser.get(url, allow_redirects=False, timeout=10)
    check(to_scan.status_code == 303, f"authorize sends the browser to the scan page: {to_scan.status_code}")
    scan = BASE + to_scan.headers["Location"]
    ticket = scan.rsplit("/", 1)[1]
    page = browser.get(scan, timeout=10)
    check(page.status_code == 200 and "data-state=\"waiting\"" in page.text, "the scan page waits")
    image = browser.get(scan + "/code.png", timeout=10)
    check(image.headers.get("Content-Type") == "image/png", "the scan page's code is an image")
    check(mini_program("scan", who, ticket)["result_code"] == 0, "the person scans")
    check(mini_program(decision, who, ticket)["result_code"] == 0, f"the person answers {decision}")
    back = browser.get(scan, allow_redirects=False, timeout=10)
    check(back.status_code == 303, "the scan page sends the browser back")
    return back.headers["Location"], verifier, nonce, state


def verified_id_token(token, client_id, nonce):
    claims = jwt.decode(
        token["id_token"],
        keys,
        claims_cls=CodeIDToken,
        claims_options={"iss": {"essential": True, "value": meta["issuer"]}},
        claims_params={"nonce": nonce, "client_id": client_id},
    )
    claims.validate()
    return claims


def status(access_token):
    answer = requests.get(
        API + "/status", headers={"Authorization": f"Bearer {access_token}"}, timeout=10
    ).json()
    return answer["data"]["is_authorized"] if answer["result_code"] == 0 else 0


alice, alice_id = person("rp-alice")

# A confidential client, client_secret_basic: the whole flow.
rp = client_for(SHOP, "client_secret_basic")
callback, verifier, nonce, _ = sign_in(rp, alice)
token = rp.fetch_token(meta["token_endpoint"], authorization_response=callback, code_verifier=verifier)
claims = verified_id_token(token, "shop", nonce)
check(claims["sub"] == str(alice_id), f"sub is the person: {claims['sub']}")
check(claims["amr"] == ["mini_program_scan"], "amr says how")
check(status(token["access_token"]) == 1, "status knows the access token")
info = rp.get(meta["userinfo_endpoint"], timeout=10).json()
check(info["sub"] == str(alice_id), f"userinfo: {info}")
first_access = token["access_token"]
refreshed = rp.refresh_token(meta["token_endpoint"])
check(refreshed["access_token"] != first_access, "refresh gives a new access token")
check(status(refreshed["access_token"]) == 1, "status knows the refreshed token")
# The same code again: refused, and the session it opened is revoked.
try:
    rp.fetch_token(meta["token_endpoint"], authorization_response=callback, code_verifier=verifier)
    check(False, "a replayed code is refused")
except OAuthError as e:
    check(e.error == "invalid_grant", f"a replayed code: {e.error}")
check(status(refreshed["access_token"]) == 0, "a replayed code revokes what it issued")

# client_secret_post.
rp = client_for(SHOP, "client_secret_post")
callback, verifier, nonce, _ = sign_in(rp, alice)
token = rp.fetch_token(meta["token_endpoint"], authorization_response=callback, code_verifier=verifier)
verified_id_token(token, "shop", nonce)

# A public client: PKCE, no secret.
rp = client_for(SPA, "none")
callback, verifier, nonce, _ = sign_in(rp, alice)
token = rp.fetch_token(meta["token_endpoint"], authorization_response=callback, code_verifier=verifier)
check(verified_id_token(token, "spa", nonce)["aud"] == "spa", "the public client's ID token")

# A wrong secret: invalid_client.
rp = client_for(SHOP, "client_secret_basic")
callback, verifier, nonce, _ = sign_in(rp, alice)
wrong = client_for(("shop", "not-the-secret-at-all", SHOP[2]), "client_secret_basic")
try:
    wrong.fetch_token(meta["token_endpoint"], authorization_response=callback, code_verifier=verifier)
    check(False, "a wrong secret is refused")
except OAuthError as e:
    check(e.error == "invalid_client", f"a wrong secret: {e.error}")
# A wrong verifier: invalid_grant.
try:
    rp.fetch_token(meta["token_endpoint"], authorization_response=callback, code_verifier=generate_token(48))
    check(False, "a wrong verifier is refused")
except OAuthError as e:
    check(e.error == "invalid_grant", f"a wrong verifier: {e.error}")

# The person denies: the browser comes back with access_denied and the
# request's state, and no code (the application reads the error itself;
# authlib's session would take a code-less answer for another grant).
rp = client_for(SHOP, "client_secret_basic")
callback, verifier, nonce, state = sign_in(rp, alice, decision="deny")
answer = dict(parse_qsl(urlsplit(callback).query))
check(answer.get("error") == "access_denied" and "code" not in answer, f"a denial: {answer}")
check(answer.get("state") == state and answer.get("iss") == BASE, f"a denial's state and iss: {answer}")

# An unregistered redirect URI: a page, never a redirect.
rp = client_for(("shop", SHOP[1], "https://evil.example.com/cb"), "client_secret_basic")
url, _ = rp.create_authorization_url(meta["authorization_endpoint"], nonce="n", code_verifier=generate_token(48))
answer = requests.get(url, allow_redirects=False, timeout=10)
check(answer.status_code == 400 and "Location" not in answer.headers, "an unregistered redirect_uri")

print(f"oidc_rp: authlib {__import__('authlib').__version__}: all {checks} checks passed")
