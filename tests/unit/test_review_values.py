"""URL credentials stay out of every message, also when a password holds `@` or `$`."""

from __future__ import annotations

import pytest

from gitops_agent.config.urls import validate_url
from gitops_agent.errors import ConfigError
from gitops_agent.git_reason import redact


@pytest.mark.parametrize(("text", "shown"), [
    ("https://bob:p@ss@git.example.test/x.git", "https://***@git.example.test/x.git"),
    ("ssh://git:p@w$@h:22/x", "ssh://git:***@h:22/x"),
    ("fatal: unable to access 'https://t0k@n@h/x/': refused", "fatal: unable to access "
     "'https://***@h/x/': refused"),
    ("https://h/x.git and git@h:x.git", "https://h/x.git and git@h:x.git"),
])
def test_redact_hides_credentials_up_to_the_last_at_of_the_authority(text: str,
                                                                      shown: str) -> None:
    assert redact(text) == shown


def test_a_refused_url_is_named_without_its_password() -> None:
    with pytest.raises(ConfigError) as caught:
        validate_url("https://bob:pa$$w0rd@h/x.git")
    assert str(caught.value).startswith("refusing git URL 'https://***@h/x.git': ")
