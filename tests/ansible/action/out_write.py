"""`out_write`: write `content` to `dest` on the controller — the host itself under the
agent's local connection — and report a change when the file's text changed.

The corpus' playbooks (tests/corpus/) leave what they read where the replay checks it
with this action: it needs no module run (ansible.builtin.copy makes two, ~0.6 s of
CPU per task), and how a playbook writes its output is not what a family is about.
The replay puts this directory on ANSIBLE_ACTION_PLUGINS.
"""

from __future__ import annotations

import os
import tempfile

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("dest", "content"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        dest, content = self._task.args.get("dest"), self._task.args.get("content")
        if not isinstance(dest, str) or not os.path.isabs(dest) or not isinstance(content, str):
            raise AnsibleActionFail("out_write needs an absolute dest and a string content")
        try:
            with open(dest, encoding="utf-8") as stream:
                changed = stream.read() != content
        except FileNotFoundError:
            changed = True
        if changed and not self._task.check_mode:
            descriptor, temporary = tempfile.mkstemp(dir=os.path.dirname(dest), prefix=".out-")
            with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
                stream.write(content)
            os.chmod(temporary, 0o644)
            os.replace(temporary, dest)
        result.update(changed=changed, dest=dest)
        return result
