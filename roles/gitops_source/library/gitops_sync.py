#!/usr/bin/python
# Copyright: gitops-agent contributors
# Apache-2.0
"""Sync a directory tree into another, as `rsync -a --delete --exclude .git` would."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: gitops_sync
short_description: Sync a source checkout into a directory in one step
description:
  - Copies every file, directory and symbolic link of O(src) into O(dest) (or, in
    releases mode, into C(<dest>/releases/<release>/), then switches C(<dest>/current)
    to it atomically and keeps the newest O(keep_releases)), leaving out VCS
    directories, and deletes what the source no longer has.
  - Only what differs (type, content, mode, owner, group, link target) is touched.
    Symbolic links are copied as links and never followed, in the source or in the
    destination. Files are written to a temporary name and renamed into place.
options:
  src: {type: path, required: true, description: Directory to copy from.}
  dest: {type: path, required: true, description: Directory to copy to.}
  exclude: {type: list, elements: str, description: Names skipped at any depth.}
  exclude_paths: {type: list, elements: str, description: Paths below the root skipped with their contents.}
  delete: {type: bool, default: true, description: Delete what the source no longer has.}
  file_mode: {type: raw, default: "0644", description: Mode of files.}
  executable_mode: {type: raw, default: "0755", description: Mode of files the source marks executable.}
  directory_mode: {type: raw, default: "0755", description: Mode of directories.}
  owner: {type: str, default: "", description: Owner; empty leaves it to the run's user.}
  group: {type: str, default: "", description: Group; empty leaves it to the run's user.}
  releases: {type: bool, default: false, description: Releases mode.}
  release: {type: str, default: "", description: Name of the release directory.}
  keep_releases: {type: int, default: 5, description: Releases kept in releases mode.}
  mark_file:
    type: path
    default: ""
    description:
      - Written (mode 0600, its directory created 0700) with O(mark_content) before the
        first change, so a change stays on record even when the run dies half-way; a
        caller's commands owe a run while it exists. Empty, the default, writes none.
        It must be a file outside O(src) and O(dest) (the sync would delete it there).
  mark_content: {type: str, default: "", description: What O(mark_file) holds.}
attributes:
  check_mode: {support: full}
  diff_mode: {support: full}
author: gitops-agent
"""

RETURN = r"""
changed_files:
  description: Paths (relative to the target) created, replaced, re-moded or deleted.
  type: list
  returned: always
target:
  description: The directory that was synced (the release directory in releases mode).
  type: str
  returned: always
"""

import grp
import os
import pwd
import re
import shutil
import stat
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule

DIR, FILE, LINK = "directory", "file", "link"
RELEASE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
CHUNK = 1 << 20


class SyncError(Exception):
    pass


def as_mode(value):
    """A mode as YAML gives it: "0644" (a string, octal) or 420 (an unquoted 0644)."""
    if isinstance(value, int):
        return value
    try:
        return int(str(value), 8)
    except ValueError:
        raise SyncError(f"not an octal mode: {value!r}") from None


def kind_of(st):
    if stat.S_ISDIR(st.st_mode):
        return DIR
    if stat.S_ISREG(st.st_mode):
        return FILE
    if stat.S_ISLNK(st.st_mode):
        return LINK
    return None  # sockets, fifos, devices: neither copied nor deleted, as before


def scan(root, exclude, exclude_paths):
    """{relative path: lstat} of the tree under root, without the excluded names and paths."""
    tree: dict[str, os.stat_result] = {}
    if not os.path.isdir(root):
        return tree
    pending = [""]
    while pending:
        rel_dir = pending.pop()
        with os.scandir(os.path.join(root, rel_dir) if rel_dir else root) as entries:
            for entry in entries:
                if entry.name in exclude:
                    continue
                rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
                if rel in exclude_paths:
                    continue
                st = entry.stat(follow_symlinks=False)
                kind = kind_of(st)
                if kind is None:
                    continue
                tree[rel] = st
                if kind == DIR:
                    pending.append(rel)
    return tree


def stat_or_none(path):
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None


def same_content(a, b, size):
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while size > 0:
            ca, cb = fa.read(CHUNK), fb.read(CHUNK)
            if ca != cb:
                return False
            if not ca:
                return True
            size -= len(ca)
    return True


class Sync:
    def __init__(self, module):
        p = module.params
        self.module = module
        self.check = module.check_mode
        self.src = p["src"].rstrip("/") or "/"
        self.base = p["dest"].rstrip("/") or "/"
        self.exclude = set(p["exclude"] if p["exclude"] is not None
                           else [".git", ".hg", ".svn", ".bzr", "_darcs", "CVS"])
        self.exclude_paths = set()
        for path in p["exclude_paths"] or []:
            path = re.sub(r"^(\./)+", "", path).rstrip("/")
            if not path:
                continue
            if path.startswith("/") or ".." in path.split("/"):
                raise SyncError(f"exclude_paths must stay below the tree: {path!r}")
            self.exclude_paths.add(path)
        self.delete = p["delete"]
        self.file_mode = as_mode(p["file_mode"])
        self.exec_mode = as_mode(p["executable_mode"])
        self.dir_mode = as_mode(p["directory_mode"])
        self.uid = self.gid = -1
        if p["owner"]:
            try:
                self.uid = pwd.getpwnam(p["owner"]).pw_uid
            except KeyError:
                raise SyncError(f"no such user: {p['owner']}") from None
        if p["group"]:
            try:
                self.gid = grp.getgrnam(p["group"]).gr_gid
            except KeyError:
                raise SyncError(f"no such group: {p['group']}") from None
        self.releases = p["releases"]
        self.release = p["release"] or ""
        self.keep = p["keep_releases"]
        self.target = (f"{self.base}/releases/{self.release}" if self.releases
                       else self.base)
        self.changed: list[str] = []  # relative paths, "." for the target itself
        self.mark_file = p["mark_file"] or ""
        self.mark_content = p["mark_content"]
        self.diff_lines: list[str] = []

        if not os.path.isabs(self.src) or not os.path.isabs(self.base):
            raise SyncError("src and dest must be absolute paths")
        if self.mark_file:
            self.check_mark()
        if not os.path.isdir(self.src):
            raise SyncError(f"src is not a directory: {self.src}")
        if self.base == "/":
            raise SyncError("dest must not be /")
        if (self.base + "/").startswith(self.src + "/") or \
                (self.src + "/").startswith(self.base + "/"):
            raise SyncError(f"dest ({self.base}) must be outside of src ({self.src}) "
                            "and not contain it")
        if self.releases and not RELEASE_NAME.match(self.release):
            raise SyncError(f"release must be a plain name such as a commit sha: "
                            f"{self.release!r}")
        if self.keep < 1:
            raise SyncError("keep_releases must be at least 1")

    def check_mark(self):
        """The mark is a file of its own, outside both trees: inside dest the sync would
        delete it (or trip over the directory it made), inside src sync it."""
        mark = self.mark_file
        if not os.path.isabs(mark):
            raise SyncError(f"mark_file must be an absolute path: {mark!r}")
        if mark.endswith("/") or os.path.isdir(mark):
            raise SyncError(f"mark_file must name a file, not a directory: {mark!r}")
        for tree in (self.src, self.base):
            for a, b in ((mark, tree), (os.path.realpath(mark), os.path.realpath(tree))):
                if (a + "/").startswith(b.rstrip("/") + "/"):
                    raise SyncError(f"mark_file must be outside src and dest: {mark!r} is "
                                    f"in {tree}")

    # -- recording ---------------------------------------------------------------
    def note(self, sign, rel, why):
        """Record a change of rel (relative to the target; in releases mode it is shown
        relative to dest, as releases/<release>/rel)."""
        if rel.startswith("/"):  # dest itself, releases/ or current: relative to dest
            shown = rel[1:] or "."
        elif self.releases:
            shown = f"releases/{self.release}" + ("" if rel == "." else f"/{rel}")
        else:
            shown = rel
        if not self.changed and self.mark_file and not self.check:
            self.write_mark()
        self.changed.append(shown)
        self.diff_lines.append(f"{sign} {shown} ({why})")

    def write_mark(self):
        directory, name = os.path.split(self.mark_file)
        os.makedirs(directory, mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=directory)  # 0600
        try:
            with os.fdopen(fd, "w") as out:
                out.write(self.mark_content)
            os.replace(tmp, self.mark_file)
        except BaseException:
            if os.path.lexists(tmp):
                os.unlink(tmp)
            raise

    # -- primitives (each does nothing in check mode) -------------------------------
    def owned(self, st):
        return ((self.uid == -1 or st.st_uid == self.uid)
                and (self.gid == -1 or st.st_gid == self.gid))

    def ensure_dir(self, path, rel, st=None):
        """Make path a directory with dir_mode and the owner; st: its lstat or None."""
        if st is not None and not stat.S_ISDIR(st.st_mode):
            self.remove(path, rel, "not a directory")
            st = None
        if st is None:
            self.note("+", rel, "directory")
            if not self.check:
                if rel.startswith("/"):  # dest itself: its parents too, as mkdir -p
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                os.mkdir(path, 0o700)
                os.chown(path, self.uid, self.gid)
                os.chmod(path, self.dir_mode)
        elif stat.S_IMODE(st.st_mode) != self.dir_mode or not self.owned(st):
            self.note("~", rel, "directory mode/owner")
            if not self.check:
                os.chown(path, self.uid, self.gid)
                os.chmod(path, self.dir_mode)

    def remove(self, path, rel, why):
        self.note("-", rel, why)
        if self.check:
            return
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)

    def write_file(self, src, path, mode):
        directory, name = os.path.split(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".gitops-tmp", dir=directory)
        try:
            with os.fdopen(fd, "wb") as out, open(src, "rb") as inp:
                shutil.copyfileobj(inp, out, CHUNK)
            os.chown(tmp, self.uid, self.gid)
            os.chmod(tmp, mode)
            os.replace(tmp, path)  # replaces a link, never writes through it
        except BaseException:
            if os.path.lexists(tmp):
                os.unlink(tmp)
            raise

    def write_link(self, target, path):
        directory, name = os.path.split(path)
        tmp = os.path.join(directory, f".{name}.{os.getpid()}.gitops-tmp")
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(target, tmp)
        os.replace(tmp, path)

    # -- the sync ----------------------------------------------------------------
    def sync_tree(self):
        src_tree = scan(self.src, self.exclude, self.exclude_paths)
        dst_tree = scan(self.target, self.exclude, self.exclude_paths)
        target_exists = bool(dst_tree) or (os.path.isdir(self.target)
                                           and not os.path.islink(self.target))
        # Directories that hold an excluded path: never deleted as a whole.
        protected = set()
        for path in self.exclude_paths:
            parts = path.split("/")
            for i in range(1, len(parts)):
                protected.add("/".join(parts[:i]))

        # 1. Removals: what the source has not (when deleting), or of another type.
        removed: list[str] = []
        for rel in sorted(dst_tree):
            if any(rel.startswith(gone + "/") for gone in removed):
                continue
            d = dst_tree[rel]
            s = src_tree.get(rel)
            if s is None:
                if self.delete and rel not in protected:
                    self.remove(os.path.join(self.target, rel), rel, "not in the source")
                    removed.append(rel)
            elif kind_of(s) != kind_of(d):
                self.remove(os.path.join(self.target, rel), rel, "type changed")
                removed.append(rel)
        gone = set(removed)

        def current(rel):
            if rel in gone:
                return None
            parent = rel
            while "/" in parent:
                parent = parent.rpartition("/")[0]
                if parent in gone:
                    return None
            return dst_tree.get(rel)

        if self.releases:
            self.ensure_dir(self.target, ".", None if not target_exists else os.stat(self.target))
        # 2. Directories, files and links, parents first (sorted order).
        for rel in sorted(src_tree):
            s = src_tree[rel]
            kind = kind_of(s)
            d = current(rel)
            path = os.path.join(self.target, rel)
            src_path = os.path.join(self.src, rel)
            if kind == DIR:
                self.ensure_dir(path, rel, d)
            elif kind == FILE:
                mode = self.exec_mode if s.st_mode & stat.S_IXUSR else self.file_mode
                if d is None:
                    why = "new file"
                elif d.st_size != s.st_size or not same_content(src_path, path, s.st_size):
                    why = "content"
                elif stat.S_IMODE(d.st_mode) != mode or not self.owned(d):
                    why = "mode/owner"
                else:
                    continue
                self.note("+" if d is None else "~", rel, why)
                if self.check:
                    continue
                if why == "mode/owner":
                    os.chown(path, self.uid, self.gid)
                    os.chmod(path, mode)
                else:
                    self.write_file(src_path, path, mode)
            else:
                link_target = os.readlink(src_path)
                if d is not None and os.readlink(path) == link_target:
                    continue
                self.note("+" if d is None else "~", rel, f"link to {link_target}")
                if not self.check:
                    self.write_link(link_target, path)

    def switch_release(self):
        current = f"{self.base}/current"
        wanted = f"releases/{self.release}"
        try:
            now = os.readlink(current)
        except FileNotFoundError:
            now = None
        except OSError:  # there, and not a link
            if os.path.isdir(current):
                raise SyncError(f"{current} is a directory, not a link to a release") from None
            now = None
        if now == wanted:
            return
        self.note("~", "/current", f"-> {wanted}")
        if self.check:
            return
        if os.path.isdir(self.target):  # mark this release as the newest
            os.utime(self.target, None)
        self.write_link(wanted, current)

    def prune_releases(self):
        if self.check:
            return  # a check run made no release: there is nothing sure to prune
        releases_dir = f"{self.base}/releases"
        found = []
        with os.scandir(releases_dir) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    found.append((entry.stat(follow_symlinks=False).st_mtime, entry.path))
        found.sort(reverse=True)
        for index, (_, path) in enumerate(found):
            if index >= self.keep and path != self.target:
                shutil.rmtree(path)

    def run(self):
        # dest (and releases/) may be links to directories: followed, as the file module does.
        self.ensure_dir(self.base, "/", stat_or_none(self.base))
        if self.releases:
            releases_dir = f"{self.base}/releases"
            before = len(self.changed)
            self.ensure_dir(releases_dir, "/releases", stat_or_none(releases_dir))
            # Creating releases/ is not a change of its own (the release dir is).
            del self.changed[before:]
            del self.diff_lines[before:]
        self.sync_tree()
        if self.releases:
            self.switch_release()
            self.prune_releases()


def main():
    module = AnsibleModule(
        argument_spec={
            "src": {"type": "path", "required": True},
            "dest": {"type": "path", "required": True},
            "exclude": {"type": "list", "elements": "str"},
            "exclude_paths": {"type": "list", "elements": "str", "default": []},
            "delete": {"type": "bool", "default": True},
            "file_mode": {"type": "raw", "default": "0644"},
            "executable_mode": {"type": "raw", "default": "0755"},
            "directory_mode": {"type": "raw", "default": "0755"},
            "owner": {"type": "str", "default": ""},
            "group": {"type": "str", "default": ""},
            "releases": {"type": "bool", "default": False},
            "release": {"type": "str", "default": ""},
            "keep_releases": {"type": "int", "default": 5},
            "mark_file": {"type": "path", "default": ""},
            "mark_content": {"type": "str", "default": ""},
        },
        supports_check_mode=True,
    )
    started = time.monotonic()
    try:
        sync = Sync(module)
    except (SyncError, OSError) as error:
        module.fail_json(msg=f"gitops_sync: {error}")
        return
    try:
        sync.run()
    except (SyncError, OSError) as error:
        # What was done before the failure was done: say so, for the caller's commands.
        module.fail_json(msg=f"gitops_sync: {error}", changed=bool(sync.changed),
                         changed_files=sync.changed, target=sync.target)
        return
    result = {
        "changed": bool(sync.changed),
        "changed_files": sync.changed,
        "target": sync.target,
        "seconds": round(time.monotonic() - started, 3),
    }
    if module._diff and sync.changed:
        result["diff"] = {"prepared": "\n".join(sync.diff_lines) + "\n"}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
