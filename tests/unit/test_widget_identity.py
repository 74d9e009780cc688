"""The site's signed visitor identity: what a genuine signature names, and every way a forged one is refused."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from pydantic import ValidationError

from connectors.widget_identity import IdentityRefused, SiteUser, signature, verify, visitor_of_user
from connectors.widget_settings import WidgetSettings

SECRET = "a-long-random-site-secret"


def signed(user_id: str, email: str = "", phone: str = "", name: str = "") -> dict[str, str]:
    # as the docs tell a site's backend to do it, written out here independently of the module
    text = "\n".join([user_id, email, phone, name])
    digest = hmac.new(SECRET.encode(), text.encode(), hashlib.sha256).hexdigest()
    out = {"id": user_id, "hash": digest}
    out.update({k: v for k, v in (("email", email), ("phone", phone), ("name", name)) if v})
    return out


def test_a_genuine_identity_names_the_user_and_its_fields() -> None:
    raw = signed("42", "ivan@example.com", "+7 900 000-00-00", "Иван Петров")
    assert verify(SECRET, raw) == SiteUser("42", "ivan@example.com", "+7 900 000-00-00", "Иван Петров")
    assert verify(SECRET, {**raw, "hash": raw["hash"].upper()}).id == "42"  # hex in either case
    assert verify(SECRET, signed("7")) == SiteUser("7", None, None, None)
    assert (
        signature(SECRET, SiteUser("42", "ivan@example.com", None, None))
        == signed("42", "ivan@example.com")["hash"]
    )


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ({**signed("42", "ivan@example.com"), "email": "boss@example.com"}, "identity_refused"),  # altered
        ({**signed("42"), "name": "Someone Else"}, "identity_refused"),  # a field added
        ({**signed("42"), "id": "43"}, "identity_refused"),
        (
            {"id": "42", "hash": hmac.new(b"another-secret-xxxx", b"42\n\n\n", "sha256").hexdigest()},
            "identity_refused",
        ),
        ({"id": "42", "hash": "00" * 31}, "bad_identity"),
        ({"id": "42", "hash": "zz" * 32}, "bad_identity"),
        ({"id": "", "hash": "00" * 32}, "bad_identity"),
        ({"id": "x" * 129, "hash": "00" * 32}, "bad_identity"),
        ({"id": 42, "hash": "00" * 32}, "bad_identity"),
        ({**signed("42"), "admin": True}, "bad_identity"),
        ({**signed("42"), "email": 5}, "bad_identity"),
        ("42", "bad_identity"),
        ([], "bad_identity"),
    ],
)
def test_a_forged_or_malformed_identity_is_refused_with_a_code(raw: object, code: str) -> None:
    with pytest.raises(IdentityRefused) as refused:
        verify(SECRET, raw)
    assert refused.value.code == code and str(refused.value)


def test_a_users_visitor_is_the_same_on_every_device_and_never_an_anonymous_one() -> None:
    assert visitor_of_user("site", "42") == visitor_of_user("site", "42")
    assert visitor_of_user("site", "42") != visitor_of_user("shop", "42") != visitor_of_user("site", "43")
    assert visitor_of_user("site", "42").startswith("u") and len(visitor_of_user("site", "42")) == 32


def test_the_settings_need_a_long_secret_for_required_identities() -> None:
    with pytest.raises(ValidationError, match="identity: required needs identity_secret"):
        WidgetSettings.model_validate({"type": "widget", "identity": "required"})
    with pytest.raises(ValidationError, match="at least 16 characters"):
        WidgetSettings.model_validate({"type": "widget", "identity_secret": "short"})
    ok = WidgetSettings.model_validate({"type": "widget", "identity_secret": SECRET, "identity": "required"})
    assert ok.identity == "required" and ok.identity_secret is not None
