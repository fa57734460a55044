"""An app re-applies when, and only when, a config-repo file its last apply read changed.

One test per family of tests/corpus/ (see tests/corpus_replay.py for the format): the
family's repo is applied once, then every step is one commit and one `gitops-agent run`,
and the apps that re-applied must be exactly the step's `expect`, with the new content
on the host.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.corpus_replay import CorpusError, families, load, replay

FAMILIES = families()


@pytest.mark.slow
@pytest.mark.parametrize("path", FAMILIES, ids=[path.stem for path in FAMILIES])
def test_family_reapplies_exactly_the_apps_that_read_the_change(path: Path,
                                                                 tmp_path: Path) -> None:
    family = load(path)

    result = replay(family, tmp_path)

    if not result.first_ok:
        pytest.fail(f"{family.name}: the first apply must apply every app "
                    f"({', '.join(sorted(family.apps))})\n{result.first.explain()}", pytrace=False)
    if result.problems:
        pytest.fail(f"{family.name}:\n" + "\n\n".join(result.problems), pytrace=False)


def test_every_corpus_family_loads_and_has_a_positive_and_a_negative_step() -> None:
    assert len(FAMILIES) >= 10
    for path in FAMILIES:
        family = load(path)
        assert 2 <= len(family.steps) <= 5, family.name
        assert any(step.expect and step.check for step in family.steps), family.name
        assert any(not step.expect for step in family.steps), family.name


MALFORMED = {
    "unknown step key": ("steps:\n  - name: change it\n    write: {a.txt: x}\n"
                         "    expects: [web]\n", r"steps\[0\] \(change it\): unknown key\(s\) "
                                                 r"expects"),
    "missing expect": ("steps:\n  - name: change it\n    write: {a.txt: x}\n",
                       r"steps\[0\] \(change it\): 'expect' is required"),
    "expect names no app": ("steps:\n  - name: change it\n    write: {a.txt: x}\n"
                            "    expect: [db]\n", r"expect names db, which is not an app"),
    "path escapes the repo": ("steps:\n  - name: change it\n    write: {../a.txt: x}\n"
                              "    expect: []\n", r"'\.\./a\.txt' is not a plain relative path"),
    "no steps": ("steps: []\n", r"'steps' must be a non-empty list"),
}


@pytest.mark.parametrize("case", MALFORMED, ids=list(MALFORMED))
def test_the_loader_rejects_a_malformed_family_with_a_clear_error(case: str,
                                                                  tmp_path: Path) -> None:
    steps, message = MALFORMED[case]
    path = tmp_path / "broken.yml"
    path.write_text("description: a broken family\nfiles:\n  apps/web.yml: |\n"
                    "    playbook: playbooks/web.yml\n" + steps)

    with pytest.raises(CorpusError, match=message) as caught:
        load(path)

    assert str(path) in str(caught.value)
