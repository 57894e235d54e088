"""Bad input never gets a 5xx nor the framework's 415: random parameters, content types, credentials, cookies."""

from __future__ import annotations

import base64
import random
from urllib.parse import quote

PATHS = [
    ("POST", "/oauth2/token"),
    ("POST", "/oauth2/introspect"),
    ("POST", "/oauth2/revoke"),
    ("POST", "/oauth2/device/auth"),
    ("GET", "/oauth2/auth"),
    ("GET", "/userinfo"),
    ("POST", "/userinfo"),
    ("GET", "/oauth2/sessions/logout"),
    ("POST", "/oauth2/sessions/logout"),
    ("GET", "/oauth2/device/verify"),
    ("POST", "/oauth2/device/verify"),
    ("GET", "/ui/login"),
    ("POST", "/ui/login"),
    ("GET", "/ui/consent"),
    ("POST", "/ui/consent"),
]
NAMES = [
    "grant_type",
    "client_id",
    "client_secret",
    "code",
    "code_verifier",
    "refresh_token",
    "scope",
    "audience",
    "token",
    "token_type_hint",
    "device_code",
    "redirect_uri",
    "response_type",
    "state",
    "nonce",
    "prompt",
    "max_age",
    "login_challenge",
    "consent_challenge",
    "csrf_token",
    "user_code",
    "device_challenge",
    "id_token_hint",
    "post_logout_redirect_uri",
    "login_verifier",
    "consent_verifier",
    "device_verifier",
    "access_token",
    "username",
    "password",
    "decision",
]
VALUES = [
    "",
    "x",
    "%",
    "%ZZ",
    "\x00",
    "é",
    "tg_at_x",
    "tg_rt_",
    "tg_ac_a",
    "tg_dc_",
    "eyJhbGciOiJub25lIn0.e30.",
    "a" * 5000,
    "-1",
    "99999999999999999999",
    "none login",
    "code",
    "S256",
    "client_credentials",
    "authorization_code",
    "refresh_token",
    "urn:ietf:params:oauth:grant-type:device_code",
    "http://127.0.0.1/cb",
    "BCDF-GHJK",
]


def test_random_bad_requests_never_get_a_server_error(http, register):
    random.seed(7)  # fixed: the same 600 requests every run
    c = register(grant_types=["client_credentials"], scope="a")
    for _ in range(600):
        method, path = random.choice(PATHS)
        params = "&".join(
            f"{quote(random.choice(NAMES))}={quote(random.choice(VALUES))}" for _ in range(random.randint(0, 5))
        )
        headers = {}
        if random.random() < 0.7:
            headers["Content-Type"] = random.choice(
                ["application/x-www-form-urlencoded", "application/json", "text/plain"]
            )
        if random.random() < 0.3:
            headers["Authorization"] = random.choice(
                [
                    "Basic Og==",
                    "Basic !!",
                    "Bearer ",
                    "Bearer x",
                    "Basic " + base64.b64encode(f"{c['client_id']}:{c['client_secret']}".encode()).decode(),
                ]
            )
        if random.random() < 0.2:
            headers["Cookie"] = random.choice(["tollgate_session=x", "tollgate_csrf=" + "A" * 43, "a=b; c"])
        if method == "GET":
            r = http.get(f"{path}?{params}", headers=headers)
        else:
            r = http.post(path, headers=headers, body=params)
        assert r.status_code < 500 and r.status_code != 415, (
            method,
            path,
            params,
            headers,
            r.status_code,
            r.body[:300],
        )


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


FORM_TYPE = "application/x-www-form-urlencoded"
# A genuine authorization request's start (CLIENT_ID is replaced by a registered client's), so checks after it run.
GENUINE = "client_id=CLIENT_ID&response_type=code&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb&code_challenge=" + "c" * 43
GENUINE += "&code_challenge_method=S256"
# (what it is, extra headers, body, query): each sent to every endpoint; bodies go to GETs as their query.
MALFORMED: list[tuple[str, dict[str, str], str | bytes, str]] = [
    ("truncated JSON", {"Content-Type": "application/json"}, '{"client_id":', ""),
    ("JSON list", {"Content-Type": "application/json"}, "[1, 2]", ""),
    ("JSON null", {"Content-Type": "application/json"}, "null", ""),
    ("JSON operator", {"Content-Type": "application/json"}, '{"client_id": {"$ne": 1}}', ""),
    ("JSON sent as a form", {"Content-Type": FORM_TYPE}, '{"grant_type": "client_credentials"}', ""),
    ("text/plain form", {"Content-Type": "text/plain"}, "grant_type=client_credentials", ""),
    ("multipart", {"Content-Type": "multipart/form-data; boundary=x"}, "--x\r\n\r\na\r\n--x--", ""),
    ("form in UTF-16", {"Content-Type": FORM_TYPE + "; charset=utf-16"}, "a=b".encode("utf-16"), ""),
    ("two content types", {"Content-Type": FORM_TYPE + ", application/json"}, "a=b", ""),
    ("empty content type", {"Content-Type": ""}, "a=b", ""),
    ("NUL content type", {"Content-Type": "\x00"}, "a=b", ""),
    ("Basic not base64", {"Authorization": "Basic !!!"}, "grant_type=client_credentials", ""),
    ("Basic non-ASCII", {"Authorization": "Basic é"}, "grant_type=client_credentials", ""),
    ("Basic not UTF-8", {"Authorization": "Basic " + b64(b"\xff\xfe:\xff")}, "grant_type=client_credentials", ""),
    ("Basic without colon", {"Authorization": "Basic " + b64(b"client")}, "grant_type=client_credentials", ""),
    ("Basic only colon", {"Authorization": "Basic " + b64(b":")}, "grant_type=client_credentials", ""),
    ("Basic bad escapes", {"Authorization": "Basic " + b64(b"%zz%:%FF")}, "grant_type=client_credentials", ""),
    ("Basic NUL", {"Authorization": "Basic " + b64(b"\x00:\x00")}, "grant_type=client_credentials", ""),
    ("Basic huge", {"Authorization": "Basic " + "QUFB" * 3000}, "grant_type=client_credentials", ""),
    ("Basic bad padding", {"Authorization": "Basic Og==="}, "grant_type=client_credentials", ""),
    ("Basic trailing junk", {"Authorization": "Basic " + b64(b"a:b") + " more"}, "grant_type=client_credentials", ""),
    ("scheme only", {"Authorization": "Basic"}, "grant_type=client_credentials", ""),
    ("Bearer non-ASCII", {"Authorization": "Bearer é"}, "", ""),
    ("Bearer huge", {"Authorization": "Bearer " + "a" * 12000}, "", ""),
    ("Bearer JWT junk", {"Authorization": "Bearer eyJhbGciOlsxXX0.W10.x"}, "", ""),
    ("unknown scheme", {"Authorization": "Digest username=x"}, "", ""),
    ("Content-Length superscript", {"Content-Length": "²"}, "a=b", ""),
    ("Content-Length 5000 digits", {"Content-Length": "9" * 5000}, "a=b", ""),
    ("Content-Length negative", {"Content-Length": "-1"}, "a=b", ""),
    ("Content-Length hex", {"Content-Length": "0x10"}, "a=b", ""),
    ("huge cookie", {"Cookie": "tollgate_session=" + "a" * 9000}, "", ""),
    ("many cookies", {"Cookie": "; ".join(f"c{i}={i}" for i in range(800))}, "", ""),
    ("cookie junk", {"Cookie": ";;=;=x;\x00=\x00; tollgate_csrf"}, "", ""),
    ("huge header", {"X-Padding": "p" * 12000, "User-Agent": "u" * 9000}, "", ""),
    ("odd origin", {"Origin": "null"}, "", ""),
    ("huge origin", {"Origin": "https://" + "o" * 9000 + ".example"}, "", ""),
    ("NUL in body", {"Content-Type": FORM_TYPE}, "grant_type=\x00&client_id=\x00\x00", ""),
    ("NUL name", {"Content-Type": FORM_TYPE}, "%00=1&%00=2", "%00=1&%00=2"),
    ("NUL in query", {}, "", "client_id=%00&response_type=%00&login_verifier=%00"),
    ("raw invalid UTF-8 body", {"Content-Type": FORM_TYPE}, b"grant_type=\xff\xfe&token=\xc0\xaf", ""),
    ("invalid UTF-8 escapes", {"Content-Type": FORM_TYPE}, "client_id=%FF%FE&token=%C0%AF", "client_id=%FF%FE"),
    ("encoded surrogate", {"Content-Type": FORM_TYPE}, "scope=%ED%A0%80&state=%ED%B0%80", "state=%ED%A0%80"),
    ("broken escapes", {"Content-Type": FORM_TYPE}, "a=%&b=%z&c=%%", "a=%&b=%z&c=%%"),
    ("only separators", {"Content-Type": FORM_TYPE}, "&&&==&=", "&&&==&="),
    ("repeated everything", {"Content-Type": FORM_TYPE}, "client_id=a&client_id=b&grant_type=x&grant_type=y", ""),
    ("thousands of parameters", {"Content-Type": FORM_TYPE}, "&".join(f"p{i}=1" for i in range(3000)), ""),
    ("digits everywhere", {}, "", f"{GENUINE}&max_age=%C2%B2&user_code=%C2%B2%C2%B2"),
    ("Arabic digits", {}, "", f"{GENUINE}&max_age=%D9%A1%D9%A2"),
    ("huge max_age", {}, "", f"{GENUINE}&max_age=" + "9" * 4000),
    ("verifiers at once", {}, "", "login_verifier=a&consent_verifier=b&device_verifier=c"),
    ("CRLF in parameters", {"Content-Type": FORM_TYPE}, "state=a%0D%0ALocation:x", "state=a%0D%0ALocation:x"),
]


def test_malformed_requests_to_every_endpoint_never_get_a_server_error(http, register):
    client_id = register(redirect_uris=["http://127.0.0.1/cb"], token_endpoint_auth_method="none")["client_id"]
    failures = []
    for method, path in PATHS:
        for what, headers, body, template in MALFORMED:
            query = template.replace("CLIENT_ID", client_id)
            url = f"{path}?{query}" if query else path
            if method == "GET":
                form = body.decode("latin-1") if isinstance(body, bytes) else body
                response = http.get(f"{path}?{query or form}", headers=headers)
            else:
                response = http.post(url, headers=headers, body=body)
            if response.status_code >= 500 or response.status_code == 415:
                failures.append((method, path, what, response.status_code))
    assert not failures, failures
