"""The widget's two signed tokens: a visitor token names a visitor of one line; a file link names one visitor's file
of one message. Neither stands in for the other, and a link expires."""

from __future__ import annotations

import time

from connectors.widget_tokens import (
    FILE_LINK_TTL,
    FILE_LINKS,
    file_link,
    link_target,
    new_visitor,
    visitor_of,
)
from router.web.auth import Signer

SIGNER = Signer(b"k" * 32)


def test_a_visitor_token_names_its_visitor_on_its_line_only():
    visitor, token = new_visitor(SIGNER, "support")
    assert visitor_of(SIGNER, token, "support", ttl_days=1) == visitor
    assert visitor_of(SIGNER, token, "sales", ttl_days=1) is None
    assert visitor_of(Signer(b"x" * 32), token, "support", ttl_days=1) is None


def test_a_file_link_names_the_visitor_the_message_and_the_file():
    link = file_link(SIGNER, "support", "v1", "M1", 2)
    assert link.startswith(FILE_LINKS)
    assert link_target(SIGNER, link.removeprefix(FILE_LINKS)) == ("support", "v1", "M1", 2)


def test_a_file_link_is_no_visitor_token_and_a_visitor_token_is_no_file_link():
    _, token = new_visitor(SIGNER, "support")
    link = file_link(SIGNER, "support", "v1", "M1", 0).removeprefix(FILE_LINKS)
    assert visitor_of(SIGNER, link, "support", ttl_days=1) is None
    assert link_target(SIGNER, token) is None


def test_a_file_link_expires_after_a_day_and_a_changed_one_is_refused():
    payload = {"kind": "widget.file", "line": "support", "visitor": "v1", "message": "M1", "n": 0}
    fresh = SIGNER.sign({**payload, "iat": int(time.time()) - FILE_LINK_TTL + 60})
    stale = SIGNER.sign({**payload, "iat": int(time.time()) - FILE_LINK_TTL - 60})
    assert link_target(SIGNER, fresh) == ("support", "v1", "M1", 0)
    assert link_target(SIGNER, stale) is None
    body, mac = fresh.split(".")
    assert link_target(SIGNER, body[:-1] + ("A" if body[-1] != "A" else "B") + "." + mac) is None
    for bad_n in (-1, True, "0", 1.5):
        assert link_target(SIGNER, SIGNER.sign({**payload, "n": bad_n})) is None
