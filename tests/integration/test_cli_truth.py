"""The command line says what is true: suspend/resume know the host's apps, configure
starts from placeholders, shell completion, and the README's exit codes are the code's
(check mode: test_check_mode.py)."""

from __future__ import annotations

import ast
import inspect
import json
import re
import subprocess
from pathlib import Path

import pytest

from gitops_agent import errors
from gitops_agent.cli import main
from gitops_agent.config.template import render
from gitops_agent.lock import hold
from tests.helpers import cli
from tests.integration.test_configure import editor

PACKAGE = Path(errors.__file__).parent
README = PACKAGE.parent / "README.md"

def test_suspend_and_resume_refuse_an_app_this_host_does_not_have(world):
    world.app("web").app("db").config_repo.commit()
    assert cli("run", config=world.config_path).returncode == 0

    misspelled = cli("suspend", "wbe", "--reason", "disk swap", config=world.config_path)
    resumed = cli("resume", "wbe", config=world.config_path)

    for done in (misspelled, resumed):
        assert done.returncode == 2, done.stdout + done.stderr
        assert done.stderr.strip().splitlines() == [
            "gitops-agent: error: host web-01 has no app 'wbe'; it has: db, web"]
    assert not (world.state_dir / "suspended.json").exists()
    (world.state_dir / "state.json").unlink()  # the config checkout's app files still say
    assert cli("suspend", "db", "--reason", "r", config=world.config_path).returncode == 0
    assert list(json.loads((world.state_dir / "suspended.json").read_text())) == ["db"]


def test_suspend_before_any_pass_says_the_host_has_no_apps_yet(world):
    done = cli("suspend", "web", "--reason", "r", config=world.config_path)
    assert done.returncode == 2 and "it has none yet (no pass has run here)" in done.stderr
    assert not (world.state_dir / "suspended.json").exists()


def test_resume_an_app_whose_app_file_is_gone(world):
    world.state_dir.mkdir()
    suspended = world.state_dir / "suspended.json"
    suspended.write_text('{"old": {"reason": "r", "by": "ops@web-01", "at": "2026-01-01T00:00Z"}}')
    done = cli("resume", "old", config=world.config_path)
    assert done.returncode == 0 and json.loads(suspended.read_text()) == {}, done.stderr


def test_configure_starts_from_placeholders_not_live_looking_values(tmp_path):
    target = tmp_path / "etc" / "config.yml"
    seen = tmp_path / "seen.yml"
    done = cli("configure", config=target, env=editor(tmp_path, f'cp "$1" {seen}'))

    assert done.returncode == 0, done.stderr
    assert f"{target}: nothing changed: not saved" in done.stdout
    assert not target.exists()
    text = seen.read_text()
    assert "  url: @CONFIG_URL@" in text and "# REQUIRED." in text
    live = [line for line in text.splitlines()
            if not line.lstrip().startswith("#") and ("web-01" in line or "example" in line)]
    assert live == []


def test_configure_names_a_placeholder_left_with_file_and_line(tmp_path):
    target = tmp_path / "config.yml"
    line = render().splitlines().index("  url: @CONFIG_URL@") + 1
    done = cli("configure", config=target, env=editor(
        tmp_path, "sed -i 's/^interval: 60/interval: 30/' \"$1\""))

    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"{target}:{line}: url: @CONFIG_URL@ is a placeholder: write the config repo's git "
        "URL there", f"{target}: not written (the edit was invalid)"]
    assert not target.exists()


def test_configure_shows_every_problem_with_file_and_line_and_keeps_the_file(world, tmp_path):
    before = world.config_path.read_text()
    done = cli("configure", config=world.config_path, env=editor(
        tmp_path, "printf 'interval: -5\\nsplay: soon\\n' >> \"$1\""))

    assert done.returncode == 2
    for problem in (r"interval: -5 is less than", r"splay: 'soon' is not of type"):
        assert re.search(rf"^{world.config_path}:\d+: {problem}", done.stderr, re.M), done.stderr
    assert world.config_path.read_text() == before


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_prints_clicks_script_for_each_shell(shell, tmp_path):
    done = cli("completion", shell)

    assert done.returncode == 0, done.stderr
    assert "gitops-agent" in done.stdout and "_GITOPS_AGENT_COMPLETE" in done.stdout
    if shell == "bash":
        script = tmp_path / "gitops-agent.bash"
        script.write_text(done.stdout)
        checked = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr


def test_completion_answers_the_shell_with_the_commands():
    done = cli(env={"COMP_WORDS": "gitops-agent su", "COMP_CWORD": "1",
                    "_GITOPS_AGENT_COMPLETE": "bash_complete"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["plain,suspend"]


# --- exit codes: README's table, errors.EXITS and the code agree ---------------------------

def _command_line_section() -> str:
    return README.read_text().split("\n## Command line\n", 1)[1].split("\n## ", 1)[0]


def _item_codes(text: str) -> set[int]:
    """The codes that start an item of a list such as `0 all ok, 1 failed / 3 …`."""
    return {int(code) for code in re.findall(r"(?:^|[,;/])\s*(\d+)\b", text)}


def readme_exit_codes() -> dict[str, set[int]]:
    """{command: the exit codes its row of the README's "Command line" table names}."""
    table: dict[str, set[int]] = {}
    for line in _command_line_section().splitlines():
        if not line.startswith("| `"):
            continue
        command_cell, _, exit_cell = (cell.strip() for cell in
                                      re.split(r"(?<!\\)\|", line)[1:-1])
        for span in re.findall(r"`([^`]+)`", command_cell):
            name = span.removeprefix("gitops-agent ").split()[0]
            if not name.startswith("-"):  # `--configure`, an alias
                table[name] = _item_codes(exit_cell)
    return table


def test_readme_table_names_every_command_with_the_codes_it_exits_with():
    table = readme_exit_codes()

    assert set(table) == set(errors.EXITS) == set(main.commands)
    assert table == {name: set(codes) for name, codes in errors.EXITS.items()}


def test_readme_names_the_codes_every_command_can_exit_with():
    section = " ".join(_command_line_section().split())
    sentence = section.split("Besides the codes in the table,")[1].split(".")[0]
    assert {int(code) for code in re.findall(r"(?:exits|,)\s+(\d+)\b", sentence)} == set(
        errors.COMMON_EXITS)


def _returned_codes(path: Path, function: str | None = None) -> set[int]:
    """Exit codes that `-> int` functions of `path` (only `function`, when given) return
    as constants: 0, EXIT_*, either side of `a if c else b`."""
    codes: set[int] = set()
    for definition in ast.walk(ast.parse(path.read_text())):
        if isinstance(definition, ast.FunctionDef) and function in (None, definition.name) \
                and ast.unparse(definition.returns or ast.Constant(None)) == "int":
            returns = [node.value for node in ast.walk(definition)
                       if isinstance(node, ast.Return) and node.value is not None]
            while returns:
                value = returns.pop()
                if isinstance(value, ast.IfExp):
                    returns += [value.body, value.orelse]
                elif isinstance(value, ast.Constant) and isinstance(value.value, int):
                    codes.add(value.value)
                elif isinstance(value, ast.Name) and value.id.startswith("EXIT_"):
                    codes.add(getattr(errors, value.id))
    return codes


def _command_modules() -> dict[str, set[str]]:
    """{commands/<module>.py: the commands cli.py runs from it}."""
    found: dict[str, set[str]] = {}
    for name, command in main.commands.items():
        source = inspect.getsource(command.callback.__wrapped__)  # type: ignore[union-attr]
        for module in re.findall(r"from gitops_agent\.commands\.(\w+) import", source):
            found.setdefault(module, set()).add(name)
    return found


def test_codes_the_commands_return_are_documented_for_them():
    modules = _command_modules()
    assert set().union(*modules.values()) == set(main.commands)
    sources = [(PACKAGE / "commands" / f"{module}.py", None, names)
               for module, names in modules.items()]
    sources += [(PACKAGE / "pass_.py", "exit_code_of", {"run"}),  # what run returns
                (PACKAGE / "publish" / "fleet.py", "exit_code", {"fleet"})]
    found = set()
    for path, function, names in sources:  # run.py and watch.py return what they are given
        documented = set().union(*(errors.EXITS[name] for name in names))
        returned = _returned_codes(path, function)
        assert returned <= documented, (path.name, sorted(returned - documented))
        found |= returned
    assert found == {0, 1, 2, 3, 4}


def test_run_playbook_exits_75_while_another_run_holds_the_lock(world):
    world.app("web").config_repo.commit()
    with hold(world.state_dir / "lock"):
        done = cli("run-playbook", "web", config=world.config_path)
    assert done.returncode == 75 and "another gitops-agent run holds" in done.stderr, done.stderr


def test_init_exits_2_when_the_directory_has_app_files(tmp_path):
    assert cli("init", str(tmp_path / "repo")).returncode == 0
    again = cli("init", str(tmp_path / "repo"))
    assert again.returncode == 2 and "already has app files" in again.stderr


def test_help_shows_the_exit_codes_of_the_command():
    done = cli("plan", "--help")
    assert "Exit 0 nothing to do; 1 an error; 3 changes pending." in done.stdout
