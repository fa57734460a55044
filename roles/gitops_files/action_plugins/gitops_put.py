# Copyright: gitops-agent contributors
# Apache-2.0
"""The controller's half of gitops_put: read each src here (a vaulted one decrypted), hand
the contents to the module in one run."""

from __future__ import annotations

import base64

from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        arguments = dict(self._task.args)
        files = arguments.get("files")
        if not isinstance(files, list) or not all(isinstance(entry, dict) for entry in files):
            raise AnsibleActionFail("files must be a list of dicts with src and dest")
        arguments["files"] = [{**entry, "content": self._content(entry.get("src"))}
                              for entry in files]
        try:
            result.update(self._execute_module(module_name=self._task.action,
                                               module_args=arguments, task_vars=task_vars))
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result

    def _content(self, src):
        if not isinstance(src, str) or not src:
            raise AnsibleActionFail(f"each file needs a src: {src!r}")
        try:
            real = self._loader.get_real_file(src, decrypt=True)
        except AnsibleError as error:
            raise AnsibleActionFail(f"cannot read {src}: {error}") from error
        try:
            with open(real, "rb") as stream:
                return base64.b64encode(stream.read()).decode("ascii")
        except OSError as error:
            raise AnsibleActionFail(f"cannot read {src}: {error.strerror}") from error
        finally:
            self._loader.cleanup_tmp_file(real)
