#!/usr/bin/python
# Copyright: gitops-agent contributors
# Apache-2.0
"""Put files in place in one step, as a loop of ansible.builtin.copy would."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: gitops_put
short_description: Put several files in place in one module run
description:
  - Writes each entry of O(files) to its O(files[].dest) when its content differs, then
    sets its mode, owner and group; creates missing parent directories.
  - Its action plugin reads each O(files[].src) on the controller (decrypting a vaulted
    file) and hands the content over; the module never sees a path on the controller.
  - A new content is written to a temporary file beside O(files[].dest), checked with
    O(files[].validate), and renamed into place. A symbolic link at O(files[].dest) is
    replaced, never written through.
options:
  files:
    type: list
    elements: dict
    required: true
    description: The files.
    suboptions:
      src: {type: path, required: true, description: Path on the controller (the action reads it).}
      dest: {type: path, required: true, description: Absolute path to write.}
      mode: {type: raw, default: "0644", description: Mode, octal string or symbolic.}
      owner: {type: str, default: "", description: Owner; empty leaves it to the run's user.}
      group: {type: str, default: "", description: Group; empty leaves it to the run's user.}
      validate: {type: str, default: "", description: Command checking the new file; C(%s) is its path.}
      backup: {type: bool, default: false, description: Keep a timestamped copy of a replaced file.}
  directory_mode: {type: raw, default: "0755", description: Mode of the directories created.}
  mark_file:
    type: path
    default: ""
    description:
      - Written (mode 0600, its directory created 0700) with O(mark_content) before the
        first change, so a change stays on record even when the run dies half-way.
        Empty, the default, writes none.
  mark_content: {type: str, default: "", description: What O(mark_file) holds.}
attributes:
  check_mode: {support: full}
  diff_mode: {support: none}
author: gitops-agent
"""

RETURN = r"""
changed_files:
  description: The dests written or whose mode, owner or group changed.
  type: list
  returned: always
created_directories:
  description: The parent directories created.
  type: list
  returned: always
"""

import base64
import os
import stat
import tempfile

from ansible.module_utils.basic import AnsibleModule

FILE_OPTIONS = {
    "src": {"type": "path", "required": True},
    "content": {"type": "str", "required": True, "no_log": True},  # base64, from the action
    "dest": {"type": "path", "required": True},
    "mode": {"type": "raw", "default": "0644"},
    "owner": {"type": "str", "default": ""},
    "group": {"type": "str", "default": ""},
    "validate": {"type": "str", "default": ""},
    "backup": {"type": "bool", "default": False},
}


class Put:
    def __init__(self, module):
        self.module = module
        self.check = module.check_mode
        self.marked = False
        self.changed_files, self.created = [], []

    def change(self):
        """Called before each change: the mark goes first."""
        p = self.module.params
        if self.marked or self.check or not p["mark_file"]:
            return
        directory, name = os.path.split(p["mark_file"])
        os.makedirs(directory, mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=directory)  # 0600
        with os.fdopen(fd, "w") as out:
            out.write(p["mark_content"])
        os.replace(tmp, p["mark_file"])
        self.marked = True

    def directory(self, path):
        """Create `path` and its missing parents with directory_mode."""
        if os.path.isdir(path):
            return
        if os.path.lexists(path):
            self.module.fail_json(msg=f"{path} is in the way: it is not a directory")
        self.directory(os.path.dirname(path))
        self.change()
        self.created.append(path)
        if not self.check:
            os.mkdir(path, 0o700)
            self.attributes(path, self.module.params["directory_mode"], "", "")

    def attributes(self, path, mode, owner, group):
        args = {"path": path, "mode": mode, "owner": owner or None, "group": group or None,
                "secontext": None, "attributes": None}
        return self.module.set_fs_attributes_if_different(args, False, expand=False)

    def same(self, dest, content):
        try:
            st = os.lstat(dest)
        except FileNotFoundError:
            return False
        if stat.S_ISDIR(st.st_mode):
            self.module.fail_json(msg=f"{dest} is a directory, not a file")
        if not stat.S_ISREG(st.st_mode):
            return False  # a link or a special file: replaced by the file
        if st.st_size != len(content):
            return False
        with open(dest, "rb") as current:
            return current.read() == content

    def put(self, entry):
        dest = entry["dest"]
        if not os.path.isabs(dest):
            self.module.fail_json(msg=f"dest must be an absolute path: {dest!r}")
        content = base64.b64decode(entry["content"])
        self.directory(os.path.dirname(dest))
        if self.same(dest, content):
            changed = self.differs(dest, entry)
            if changed:
                self.change()
                if not self.check:
                    self.attributes(dest, entry["mode"], entry["owner"], entry["group"])
        else:
            changed = True
            self.change()
            if not self.check:
                self.write(dest, content, entry)
        if changed:
            self.changed_files.append(dest)

    def differs(self, dest, entry):
        """Whether setting the entry's attributes would change the file (no change made)."""
        saved, self.module.check_mode = self.module.check_mode, True
        try:
            return self.attributes(dest, entry["mode"], entry["owner"], entry["group"])
        finally:
            self.module.check_mode = saved

    def write(self, dest, content, entry):
        directory, name = os.path.split(dest)
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".gitops", dir=directory)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(content)
            self.attributes(tmp, entry["mode"], entry["owner"], entry["group"])
            if entry["validate"]:
                self.validate(entry["validate"], tmp, dest)
            if entry["backup"] and os.path.lexists(dest) and not os.path.islink(dest):
                self.module.backup_local(dest)
            os.replace(tmp, dest)
        except BaseException:
            if os.path.lexists(tmp):
                os.unlink(tmp)
            raise

    def validate(self, command, tmp, dest):
        if "%s" not in command:
            self.module.fail_json(msg=f"{dest}: validate must contain %s: {command!r}")
        rc, out, err = self.module.run_command(command % tmp)
        if rc != 0:
            os.unlink(tmp)
            self.module.fail_json(msg=f"{dest}: validate failed ({command % tmp}, exit {rc})",
                                  stdout=out, stderr=err, changed_files=self.changed_files)


def main():
    module = AnsibleModule(
        argument_spec={
            "files": {"type": "list", "elements": "dict", "required": True,
                      "options": FILE_OPTIONS},
            "directory_mode": {"type": "raw", "default": "0755"},
            "mark_file": {"type": "path", "default": ""},
            "mark_content": {"type": "str", "default": ""},
        },
        supports_check_mode=True,
    )
    put = Put(module)
    for entry in module.params["files"]:
        put.put(entry)
    module.exit_json(changed=bool(put.changed_files or put.created),
                     changed_files=put.changed_files, created_directories=put.created)


if __name__ == "__main__":
    main()
