"""RFC 7591 §2 client metadata rules (chalicelib.oauth.client_metadata): pure unit tests."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.oauth.client_metadata import new_client, replaced_client, validate
from chalicelib.oauth.clients import Client
from chalicelib.oauth.errors import InvalidClientMetadata, InvalidRedirectUri, OAuthError

DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"
WEB = {"redirect_uris": ["https://app.example.com/cb"]}


def refused(metadata: Any, error: type[OAuthError] = InvalidClientMetadata) -> str:
    """The error_description of the refusal, after checking its RFC 7591 §3.2.2 code."""
    with pytest.raises(OAuthError) as caught:
        validate(metadata)
    assert type(caught.value) is error
    assert caught.value.body()["error"] == error.error
    assert caught.value.description
    return caught.value.description


# --- defaults -----------------------------------------------------------------------------


def test_defaults_follow_rfc7591_and_tollgate():
    values = validate(WEB)
    assert values["grant_types"] == ("authorization_code",)
    assert values["response_types"] == ("code",)
    assert values["token_endpoint_auth_method"] == "client_secret_basic"
    assert values["access_token_strategy"] == "jwt"
    assert values["require_pkce"] is True
    assert values["skip_consent"] is False
    assert values["id_token_signed_response_alg"] == "RS256"
    assert values["scope"] == ""
    assert values["audience"] == ()


def test_every_accepted_field_is_kept():
    metadata = {
        "client_name": "Example",
        "client_uri": "https://example.com",
        "redirect_uris": ["https://example.com/cb", "http://127.0.0.1:8080/cb"],
        "post_logout_redirect_uris": ["https://example.com/bye"],
        "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
        "response_types": ["code"],
        "scope": "openid profile offline_access",
        "token_endpoint_auth_method": "client_secret_post",
        "audience": ["https://api.example.com", "orders"],
        "access_token_strategy": "opaque",
        "skip_consent": True,
        "require_pkce": False,
        "id_token_signed_response_alg": "ES256",
        "allowed_cors_origins": ["https://admin.example.com"],
    }
    values = validate(metadata)
    assert values == {k: tuple(v) if isinstance(v, list) else v for k, v in metadata.items()}


def test_null_counts_as_omitted():
    assert validate({**WEB, "scope": None, "grant_types": None}) == validate(WEB)


# --- unknown and server-assigned fields ------------------------------------------------


def test_unknown_field_is_named():
    assert "logo_uri" in refused({**WEB, "logo_uri": "https://example.com/logo.png"})


def test_several_unknown_fields_are_all_named():
    description = refused({**WEB, "contacts": [], "jwks": {}})
    assert "contacts" in description and "jwks" in description


@pytest.mark.parametrize("field", ["client_id", "client_secret", "client_id_issued_at", "client_secret_expires_at"])
def test_server_assigned_fields_cannot_be_registered(field):
    assert field in refused({**WEB, field: "chosen"})


def test_metadata_must_be_an_object():
    assert "object" in refused(["redirect_uris"])


# --- types ----------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["client_name", "scope", "token_endpoint_auth_method", "client_uri"])
def test_string_fields_refuse_other_types(field):
    assert field in refused({**WEB, field: 42})


@pytest.mark.parametrize("field", ["skip_consent", "require_pkce"])
@pytest.mark.parametrize("value", ["true", 1, [True]])
def test_boolean_fields_refuse_other_types(field, value):
    assert field in refused({**WEB, field: value})


@pytest.mark.parametrize("field", ["grant_types", "response_types", "audience"])
@pytest.mark.parametrize("value", ["authorization_code", [1], {"a": 1}])
def test_list_fields_must_be_lists_of_strings(field, value):
    assert field in refused({**WEB, field: value})


@pytest.mark.parametrize("field", ["redirect_uris", "post_logout_redirect_uris"])
def test_uri_lists_must_be_lists_of_strings(field):
    assert field in refused({**WEB, field: "https://example.com/cb"}, InvalidRedirectUri)


def test_list_fields_refuse_repeats():
    assert "more than once" in refused({**WEB, "audience": ["a", "a"]})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("token_endpoint_auth_method", "private_key_jwt"),
        ("access_token_strategy", "reference"),
        ("id_token_signed_response_alg", "HS256"),
        ("id_token_signed_response_alg", "none"),
    ],
)
def test_enumerated_fields_refuse_other_values(field, value):
    description = refused({**WEB, field: value})
    assert field in description and value in description


# --- redirect URIs (RFC 6749 §3.1.2, RFC 8252 §7) -----------------------------------------


@pytest.mark.parametrize(
    "uri",
    [
        "https://app.example.com/cb",
        "https://app.example.com:8443/cb?tenant=1",
        "http://127.0.0.1/cb",
        "http://127.0.0.1:51004/cb",
        "http://[::1]:8080/cb",
        "http://127.0.0.1:8080/cb?app=notes",
        "com.example.app:/oauth2redirect/example-provider",
        "com.example.app://cb",
    ],
)
def test_redirect_uris_accepted(uri):
    assert validate({"redirect_uris": [uri]})["redirect_uris"] == (uri,)


@pytest.mark.parametrize(
    ("uri", "why"),
    [
        ("/cb", "absolute"),
        ("app.example.com/cb", "absolute"),
        ("https://app.example.com/cb#frag", "fragment"),
        ("https://app.example.com/cb#", "fragment"),
        ("http://app.example.com/cb", "https"),
        ("http://localhost.evil.example/cb", "https"),
        ("http://localhost:3000/cb", "not a loopback IP literal"),
        ("http://localhost/cb", "RFC 8252 §8.3"),
        ("HTTP://127.0.0.1/cb", "https"),
        ("http://127.0.0.1:08080/cb", "https"),
        ("https://evil.example\\@app.example.com/cb", "backslash"),
        ("http://127.0.0.1\\@evil.example/cb", "backslash"),
        ("https://user@app.example.com/cb", "user information"),
        ("https://app.example.com:99999/cb", "not a valid URI"),
        ("http://127.0.0.1.nip.io/cb", "https"),
        ("https:///cb", "host"),
        ("myapp:/cb", "private-use"),
        ("javascript:alert(1)", "private-use"),
        ("data:text/html,hi", "private-use"),
        ("file:///etc/passwd", "private-use"),
        ("https://app.example.com/c b", "whitespace"),
        ("https://[::1/cb", "not a valid URI"),
    ],
)
def test_redirect_uris_refused(uri, why):
    description = refused({"redirect_uris": [uri]}, InvalidRedirectUri)
    assert uri in description and why in description


@pytest.mark.parametrize("uri", ["http://app.example.com/bye", "https://app.example.com/bye#x", "bye"])
def test_post_logout_redirect_uris_follow_the_same_rules(uri):
    description = refused({**WEB, "post_logout_redirect_uris": [uri]}, InvalidRedirectUri)
    assert "post_logout_redirect_uris" in description


def test_repeated_redirect_uri_is_invalid_redirect_uri():
    refused({"redirect_uris": ["https://a.example/cb", "https://a.example/cb"]}, InvalidRedirectUri)


def test_authorization_code_requires_a_redirect_uri():
    assert "redirect_uri" in refused({"grant_types": ["authorization_code"]}, InvalidRedirectUri)
    assert "redirect_uri" in refused({}, InvalidRedirectUri)


def test_machine_clients_need_no_redirect_uri():
    values = validate({"grant_types": ["client_credentials"]})
    assert values["redirect_uris"] == ()


@pytest.mark.parametrize("uri", ["javascript:alert(1)", "ftp://example.com", "example.com", "https://"])
def test_client_uri_must_be_a_web_url(uri):
    assert "client_uri" in refused({**WEB, "client_uri": uri})


# --- allowed_cors_origins (Hydra's name): extra origins a browser app calls from ----------------


@pytest.mark.parametrize(
    "origin",
    ["https://admin.example.com", "https://admin.example.com:8443", "http://127.0.0.1:3000", "http://[::1]:5173"],
)
def test_allowed_cors_origins_accepted(origin):
    assert validate({**WEB, "allowed_cors_origins": [origin]})["allowed_cors_origins"] == (origin,)


def test_allowed_cors_origins_default_to_none():
    assert validate(WEB)["allowed_cors_origins"] == ()


@pytest.mark.parametrize(
    ("origin", "why"),
    [
        ("https://admin.example.com/", "no path"),
        ("https://admin.example.com/app", "no path"),
        ("https://*.example.com", "wildcard"),
        ("*", "wildcard"),
        ("null", "scheme://host"),
        ("admin.example.com", "scheme://host"),
        ("http://admin.example.com", "https"),
        ("https://Admin.Example.com", "https://admin.example.com"),
        ("https://admin.example.com:443", "https://admin.example.com"),
        ("https://user@admin.example.com", "scheme://host"),
        ("https://admin.example.com\\@evil.example", "scheme://host"),
        ("https://admin.example.com?x", "no path"),
        ("com.example.app://cb", "https"),
    ],
)
def test_allowed_cors_origins_refused(origin, why):
    description = refused({**WEB, "allowed_cors_origins": [origin]})
    assert "allowed_cors_origins" in description and why in description


# --- grant types and response types (RFC 7591 §2.1) ---------------------------------------


@pytest.mark.parametrize("grant_type", ["implicit", "password"])
def test_implicit_and_password_grants_are_refused(grant_type):
    assert grant_type in refused({**WEB, "grant_types": ["authorization_code", grant_type]})


def test_unknown_grant_type_is_refused():
    assert "urn:example:saml" in refused({**WEB, "grant_types": ["urn:example:saml"]})


def test_empty_grant_types_are_refused():
    assert "grant_types" in refused({**WEB, "grant_types": []})


@pytest.mark.parametrize("grant_type", ["authorization_code", "client_credentials", DEVICE_CODE])
def test_supported_grant_types(grant_type):
    assert validate({**WEB, "grant_types": [grant_type]})["grant_types"] == (grant_type,)


@pytest.mark.parametrize("response_type", ["token", "id_token", "code id_token", "none"])
def test_only_response_type_code_is_supported(response_type):
    assert response_type in refused({**WEB, "response_types": [response_type]})


def test_response_types_default_to_code_with_authorization_code():
    assert validate(WEB)["response_types"] == ("code",)


def test_response_types_default_to_empty_without_authorization_code():
    assert validate({"grant_types": ["client_credentials"]})["response_types"] == ()


def test_authorization_code_requires_response_type_code():
    assert "'code'" in refused({**WEB, "response_types": []})


def test_response_type_code_requires_authorization_code():
    assert "authorization_code" in refused({"grant_types": ["client_credentials"], "response_types": ["code"]})


def test_refresh_token_requires_authorization_code_or_device_code():
    assert "refresh_token" in refused({"grant_types": ["client_credentials", "refresh_token"]})
    assert validate({"grant_types": [DEVICE_CODE, "refresh_token"]})["grant_types"] == (DEVICE_CODE, "refresh_token")


# --- public clients ---------------------------------------------------------------------------


def test_public_client_cannot_use_client_credentials():
    assert "client_credentials" in refused(
        {"grant_types": ["client_credentials"], "token_endpoint_auth_method": "none"}
    )


def test_public_client_must_use_pkce():
    assert "PKCE" in refused({**WEB, "token_endpoint_auth_method": "none", "require_pkce": False})


def test_public_native_client_is_accepted():
    values = validate(
        {
            "redirect_uris": ["com.example.app:/cb", "http://127.0.0.1/cb"],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "none",
        }
    )
    assert values["token_endpoint_auth_method"] == "none"


def test_public_device_client_is_accepted():
    assert validate({"grant_types": [DEVICE_CODE], "token_endpoint_auth_method": "none"})["response_types"] == ()


# --- scope (RFC 6749 §3.3) and audience -------------------------------------------------------


@pytest.mark.parametrize("scope", ["openid", "openid profile email", "read:orders https://api.example.com/x", "a!#[]~"])
def test_scope_tokens_accepted(scope):
    assert validate({**WEB, "scope": scope})["scope"] == scope


@pytest.mark.parametrize(
    "scope", ['openid "profile"', "openid\\x", "openid  profile", " openid", "openid\tprofile", "é"]
)
def test_scope_must_be_nqchar_tokens_separated_by_single_spaces(scope):
    assert "scope" in refused({**WEB, "scope": scope})


def test_scope_tokens_must_not_repeat():
    assert "openid" in refused({**WEB, "scope": "openid profile openid"})


@pytest.mark.parametrize("audience", ["", "two words", "tab\there"])
def test_audience_values_are_single_tokens(audience):
    assert "audience" in refused({**WEB, "audience": [audience]})


# --- building clients: registration and RFC 7592 replacement ---------------------------------


def test_new_client_carries_identity_and_no_secret_yet():
    client = new_client(WEB, client_id="abc", issued_at=1700000000)
    assert client.client_id == "abc"
    assert client.client_id_issued_at == 1700000000
    assert client.client_secret_expires_at == 0
    assert client.client_secret_hash == ""
    assert client.redirect_uris == ("https://app.example.com/cb",)


@pytest.fixture
def registered() -> Client:
    return Client(
        client_id="abc",
        client_name="Old",
        redirect_uris=("https://old.example.com/cb",),
        scope="openid",
        skip_consent=True,
        client_id_issued_at=1700000000,
        client_secret_hash="hash",
    )


def test_replacement_resets_omitted_fields_to_defaults(registered):
    client = replaced_client(registered, {"redirect_uris": ["https://new.example.com/cb"]})
    assert client.redirect_uris == ("https://new.example.com/cb",)
    assert client.client_name == "" and client.scope == "" and client.skip_consent is False


def test_replacement_keeps_identity_issue_time_and_secret_hash(registered):
    client = replaced_client(registered, WEB)
    assert (client.client_id, client.client_id_issued_at, client.client_secret_hash) == ("abc", 1700000000, "hash")


def test_replacement_accepts_the_registered_read_only_values_echoed_back(registered):
    echoed = {**registered.metadata(), "client_name": "New"}
    assert replaced_client(registered, echoed).client_name == "New"


@pytest.mark.parametrize(
    ("field", "value"), [("client_id", "other"), ("client_id_issued_at", 1), ("client_secret_expires_at", 5)]
)
def test_replacement_cannot_change_read_only_fields(registered, field, value):
    with pytest.raises(InvalidClientMetadata, match=field):
        replaced_client(registered, {**WEB, field: value})


def test_replacement_cannot_set_a_secret(registered):
    with pytest.raises(InvalidClientMetadata, match="client_secret"):
        replaced_client(registered, {**WEB, "client_secret": "mine"})


def test_replacement_runs_every_rule(registered):
    with pytest.raises(InvalidRedirectUri):
        replaced_client(registered, {"redirect_uris": ["http://example.com/cb"]})
    with pytest.raises(InvalidClientMetadata, match="colour"):
        replaced_client(registered, {**WEB, "colour": "blue"})


def test_client_that_becomes_public_loses_its_secret_hash(registered):
    client = replaced_client(registered, {**WEB, "token_endpoint_auth_method": "none"})
    assert client.is_public and client.client_secret_hash == ""
