"""The environment of an ansible-playbook run: the config repo's settings, then the agent's.

Ansible in the agent behaves as `ansible-playbook` run in a checkout of the config repo:
- the repo's `ansible.cfg` is the config file (ANSIBLE_CONFIG), so its plugin paths,
  `roles_path`, `collections_path`, vault and other settings apply, relative paths
  resolved from the repo as Ansible does;
- `library/`, `filter_plugins/`, `collections/` and the rest beside the playbook work as
  Ansible makes them work;
- on the roles path, after what ansible.cfg names: the repo's `roles/`, then the roles the
  agent ships; on the collections path, after ansible.cfg's: the repo's `collections/`,
  then Ansible's defaults.
What the agent must own wins over ansible.cfg: the inventory (localhost only), the stdout
callback and event capture (ansible-runner's), colour off, no retry files. Handlers run
even when a task fails (so a retry never forgets them), unless ansible.cfg sets
`force_handlers` itself.
"""

from __future__ import annotations

import configparser
import contextlib
import os
import sys
from pathlib import Path

SHIPPED = Path(__file__).resolve().parent / "content"  # the deploy: playbook and roles
DEFAULT_COLLECTIONS = ("~/.ansible/collections", "/usr/share/ansible/collections")


def _read(config_file: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    # a broken file: Ansible itself will say what is wrong with it
    with contextlib.suppress(configparser.Error, OSError, UnicodeDecodeError):
        parser.read(config_file, encoding="utf-8")
    return parser


def _config_paths(parser: configparser.ConfigParser, config_file: Path, key: str,
                  *aliases: str) -> list[str]:
    """A path-list setting of ansible.cfg's [defaults], resolved as Ansible resolves it."""
    for name in (key, *aliases):
        value = parser.get("defaults", name, fallback=None)
        if value:
            base = config_file.parent
            return [str(base / os.path.expanduser(part)) if not part.startswith(("/", "~"))
                    else os.path.expanduser(part)
                    for part in value.replace(os.pathsep, ",").split(",") if part.strip()]
    return []


def environment(config_dir: Path) -> dict[str, str]:
    config_file = config_dir / "ansible.cfg"
    has_config = config_file.is_file()
    parser = _read(config_file) if has_config else configparser.ConfigParser()
    roles = _config_paths(parser, config_file, "roles_path")
    collections = _config_paths(parser, config_file, "collections_path", "collections_paths")
    binaries = str(Path(sys.executable).parent)
    environment = {
        "PATH": f"{binaries}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_ROLES_PATH": ":".join([*roles, str(config_dir / "roles"),
                                        str(SHIPPED / "roles")]),
        "ANSIBLE_COLLECTIONS_PATH": ":".join([*collections, str(config_dir / "collections"),
                                              *DEFAULT_COLLECTIONS]),
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_LOCALHOST_WARNING": "0",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
        "ANSIBLE_DEPRECATION_WARNINGS": "0",
        "PYTHONDONTWRITEBYTECODE": "1",  # plugins in the repo leave no __pycache__ there
    }
    if not parser.has_option("defaults", "force_handlers"):  # the repo may say otherwise
        environment["ANSIBLE_FORCE_HANDLERS"] = "1"
    if has_config:
        environment["ANSIBLE_CONFIG"] = str(config_file)
    return environment
