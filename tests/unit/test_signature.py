"""Splitting a raw signed commit into what git signed and the signature."""

from __future__ import annotations

from gitops_agent.observe.signature import split_signed

SIGNED = """tree 1111111111111111111111111111111111111111
parent 2222222222222222222222222222222222222222
author Ops <ops@example.test> 1700000000 +0000
committer Ops <ops@example.test> 1700000000 +0000
gpgsig -----BEGIN SSH SIGNATURE-----
 U1NIU0lHAAAAAQ==
 -----END SSH SIGNATURE-----

the message

with a blank line
"""


def test_split_signed_removes_exactly_the_gpgsig_header():
    payload, signature = split_signed(SIGNED)

    assert signature == ("-----BEGIN SSH SIGNATURE-----\nU1NIU0lHAAAAAQ==\n"
                         "-----END SSH SIGNATURE-----\n")
    assert payload == SIGNED.replace(
        "gpgsig -----BEGIN SSH SIGNATURE-----\n U1NIU0lHAAAAAQ==\n"
        " -----END SSH SIGNATURE-----\n", "")


def test_split_signed_unsigned_commit_is_none():
    assert split_signed("tree 1\nauthor a\ncommitter c\n\nmessage\n") is None
