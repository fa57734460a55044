"""The gitops_sync module the gitops_source role runs, called as Ansible calls it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from gitops_agent.execute import ansible_env

MODULE = ansible_env.SHIPPED / "roles/gitops_source/library/gitops_sync.py"


def sync(tmp_path: Path, src: Path, dest: Path, check: bool = False,
         **args: Any) -> dict[str, Any]:
    """Run the module with its args the way Ansible hands them over (a JSON file)."""
    params = {"src": str(src), "dest": str(dest), "_ansible_check_mode": check,
              "_ansible_diff": True, **args}
    args_file = tmp_path / "args.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": params}))
    done = subprocess.run([sys.executable, str(MODULE), str(args_file)],
                          capture_output=True, text=True, timeout=60, check=False)
    result: dict[str, Any] = json.loads(done.stdout)
    assert (done.returncode != 0) == bool(result.get("failed")), done.stderr
    return result


def tree(root: Path) -> dict[str, str]:
    """{path: "file <mode> <content>" | "dir <mode>" | "link <target>"} of a tree."""
    found = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        mode = f"{path.lstat().st_mode & 0o7777:04o}"
        if path.is_symlink():
            found[rel] = f"link {os.readlink(path)}"
        elif path.is_dir():
            found[rel] = f"dir {mode}"
        else:
            found[rel] = f"file {mode} {path.read_text()}"
    return found


def make_source(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    (src / ".git/objects").mkdir(parents=True)
    (src / ".git/HEAD").write_text("ref: refs/heads/main\n")
    (src / "docs/deep").mkdir(parents=True)
    (src / "docs/deep/readme.md").write_text("# deep\n")
    (src / "empty").mkdir()
    (src / "index.html").write_text("<h1>v1</h1>\n")
    (src / "run.sh").write_text("#!/bin/sh\n")
    (src / "run.sh").chmod(0o700)
    (src / "private.txt").write_text("private\n")
    (src / "private.txt").chmod(0o600)
    (src / "latest.html").symlink_to("index.html")
    return src


def test_first_sync_copies_the_tree_without_vcs_dirs_and_normalises_modes(tmp_path):
    src = make_source(tmp_path)
    dest = tmp_path / "parents" / "dest"
    result = sync(tmp_path, src, dest)
    assert result["changed"] and "index.html" in result["changed_files"]
    assert tree(dest) == {
        "docs": "dir 0755", "docs/deep": "dir 0755", "docs/deep/readme.md": "file 0644 # deep\n",
        "empty": "dir 0755", "index.html": "file 0644 <h1>v1</h1>\n",
        "latest.html": "link index.html", "private.txt": "file 0644 private\n",
        "run.sh": "file 0755 #!/bin/sh\n"}
    assert "+ index.html" in result["diff"]["prepared"]


def test_a_second_sync_reports_unchanged_and_touches_nothing(tmp_path):
    src = make_source(tmp_path)
    dest = tmp_path / "dest"
    sync(tmp_path, src, dest)
    before = {p: p.lstat().st_mtime_ns for p in dest.rglob("*")}
    result = sync(tmp_path, src, dest)
    assert not result["changed"] and result["changed_files"] == []
    assert {p: p.lstat().st_mtime_ns for p in dest.rglob("*")} == before


def test_extraneous_files_and_local_edits_are_undone_except_vcs_and_excluded_paths(tmp_path):
    src = make_source(tmp_path)
    dest = tmp_path / "dest"
    sync(tmp_path, src, dest)
    (dest / "stale/dir").mkdir(parents=True)
    (dest / "stale/dir/file").write_text("x")
    (dest / "index.html").write_text("edited here\n")
    (dest / "run.sh").chmod(0o777)
    (dest / "docs/deep/readme.md").unlink()
    (dest / "docs/deep/readme.md").mkdir()  # a directory where the source has a file
    (dest / ".git").mkdir()
    (dest / "keep.conf").write_text("the config repo's\n")
    result = sync(tmp_path, src, dest, exclude_paths=["./keep.conf/"])
    assert set(result["changed_files"]) == {"stale", "index.html", "run.sh",
                                            "docs/deep/readme.md"}
    source = {rel: what for rel, what in tree(src).items() if not rel.startswith(".git")}
    assert tree(dest) == {**source, ".git": "dir 0755",
                          "keep.conf": "file 0644 the config repo's\n",
                          "private.txt": "file 0644 private\n", "run.sh": "file 0755 #!/bin/sh\n"}
    # delete: false keeps what the source no longer has
    (dest / "extra.txt").write_text("x")
    assert not sync(tmp_path, src, dest, delete=False, exclude_paths=["keep.conf"])["changed"]


def test_modes_are_the_ones_asked_for(tmp_path):
    src = make_source(tmp_path)
    dest = tmp_path / "dest"
    sync(tmp_path, src, dest, file_mode="0640", executable_mode=0o750, directory_mode="0750")
    found = tree(dest)
    assert found["private.txt"].startswith("file 0640")
    assert found["run.sh"].startswith("file 0750")
    assert found["docs"] == "dir 0750"
    assert f"{dest.stat().st_mode & 0o7777:04o}" == "0750"


def test_check_mode_reports_what_would_change_and_changes_nothing(tmp_path):
    src = make_source(tmp_path)
    dest = tmp_path / "dest"
    result = sync(tmp_path, src, dest, check=True)
    assert result["changed"] and "docs/deep/readme.md" in result["changed_files"]
    assert not dest.exists()
    sync(tmp_path, src, dest)
    (src / "index.html").write_text("<h1>v2</h1>\n")
    (dest / "stale.txt").write_text("x")
    result = sync(tmp_path, src, dest, check=True)
    assert sorted(result["changed_files"]) == ["index.html", "stale.txt"]
    assert (dest / "index.html").read_text() == "<h1>v1</h1>\n" and (dest / "stale.txt").exists()


def test_the_mark_is_written_before_the_first_change_and_only_then(tmp_path):
    src = make_source(tmp_path)
    dest = tmp_path / "dest"
    mark = tmp_path / "state" / "deploy-pending" / "web"

    checked = sync(tmp_path, src, dest, check=True, mark_file=str(mark), mark_content="c1 k1")
    assert checked["changed"] and not mark.parent.exists()  # check mode writes no mark
    first = sync(tmp_path, src, dest, mark_file=str(mark), mark_content="c1 k1")
    assert first["changed"] and mark.read_text() == "c1 k1"
    assert f"{mark.stat().st_mode & 0o777:o}" == "600"
    assert f"{mark.parent.stat().st_mode & 0o777:o}" == "700"
    mark.unlink()  # the commands ran
    again = sync(tmp_path, src, dest, mark_file=str(mark), mark_content="c1 k1")
    assert not again["changed"] and not mark.exists()  # nothing changed, nothing owed
    relative = sync(tmp_path, src, dest, mark_file="state/mark")
    assert relative["failed"] and "mark_file must be an absolute path" in relative["msg"]


def test_releases_switch_current_and_keep_the_newest(tmp_path):
    src = make_source(tmp_path)
    dest = tmp_path / "app"
    for release in ("r1", "r2", "r3"):
        result = sync(tmp_path, src, dest, releases=True, release=release, keep_releases=2)
        assert result["changed"] and result["target"] == f"{dest}/releases/{release}"
    assert os.readlink(dest / "current") == "releases/r3"
    assert sorted(p.name for p in (dest / "releases").iterdir()) == ["r2", "r3"]
    assert not sync(tmp_path, src, dest, releases=True, release="r3")["changed"]
    back = sync(tmp_path, src, dest, releases=True, release="r2", keep_releases=2)
    assert back["changed_files"] == ["current"]
    bad = sync(tmp_path, src, dest, releases=True, release="../etc")
    assert bad["failed"] and "plain name" in bad["msg"]


def test_a_hostile_source_cannot_write_outside_dest(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_text("untouched\n")
    (src / "escape").symlink_to(outside)  # a link pointing outside: copied as a link
    (src / "victim").symlink_to(outside / "victim")
    (src / "..dots").write_text("a name with dots\n")
    (src / "many").mkdir()
    for i in range(2000):
        (src / "many" / f"f{i}").write_text(str(i))
    dest = tmp_path / "dest"
    (dest / "escape").mkdir(parents=True)  # dest has a dir where the source has a link
    result = sync(tmp_path, src, dest)
    assert result["changed"]
    assert os.readlink(dest / "escape") == str(outside)
    assert os.readlink(dest / "victim") == str(outside / "victim")
    assert (dest / "..dots").read_text() == "a name with dots\n"
    assert len(list((dest / "many").iterdir())) == 2000
    # the source turns the link into a file: the file replaces the link, not its target
    (src / "victim").unlink()
    (src / "victim").write_text("mine\n")
    sync(tmp_path, src, dest)
    assert (outside / "victim").read_text() == "untouched\n"
    assert not (dest / "victim").is_symlink() and (dest / "victim").read_text() == "mine\n"
    assert sorted(p.name for p in outside.iterdir()) == ["victim"]
    # excluded paths must stay below the tree; dest must not overlap src
    assert "below the tree" in sync(tmp_path, src, dest, exclude_paths=["../x"])["msg"]
    assert "outside of src" in sync(tmp_path, src, src / "sub")["msg"]
