"""Archives given as --data-dir: members checked here, not left to ``filter="data"`` alone
(a TypeError on Python 3.10 before 3.10.12, which pyproject allows); the zip check compares
resolved paths, not string prefixes. Real tar and zip files."""

from __future__ import annotations

import io
import tarfile
import zipfile

import pytest

from search import data
from search.errors import UserError

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64 + b"\xff\xd9"  # bytes only: unpacking reads none


def _tar(path, members):
    with tarfile.open(path, "w:gz") as t:
        for name, kind in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(JPEG)
                t.addfile(info, io.BytesIO(JPEG))
            elif kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
                t.addfile(info)
            elif kind == "fifo":
                info.type = tarfile.FIFOTYPE
                t.addfile(info)
    return path


@pytest.fixture(params=["with data_filter", "as on Python 3.10.11"])
def python(request, monkeypatch):
    """Both kinds of Python: with tarfile's data filter, and without it (as before 3.10.12)."""
    if request.param != "with data_filter":
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
    return request.param


def test_a_tar_unpacks_files_and_leaves_links_and_devices_out(tmp_path, python):
    archive = _tar(tmp_path / "UTKFace.tar.gz", [
        ("UTKFace/30_0_0_20170117120000000.jpg.chip.jpg", "file"),
        ("UTKFace/link.jpg", "symlink"),
        ("UTKFace/pipe.jpg", "fifo"),
    ])
    folder = data.unpack(archive, tmp_path / "cache")
    found = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert found == [".unpacked", "UTKFace/30_0_0_20170117120000000.jpg.chip.jpg"]
    assert not (folder / "UTKFace" / "link.jpg").is_symlink()


@pytest.mark.parametrize("member", ["../evil.jpg", "/tmp/evil.jpg", "a/../../evil.jpg"])
def test_a_tar_member_outside_its_folder_refuses_the_archive(tmp_path, python, member):
    archive = _tar(tmp_path / "bad.tar.gz", [("ok/1_0_0_20170117120000000.jpg", "file"),
                                             (member, "file")])
    with pytest.raises(UserError, match="would unpack outside its folder; refusing the "
                                        "archive"):
        data.unpack(archive, tmp_path / "cache")
    assert not (tmp_path / "evil.jpg").exists()
    assert [p.name for p in (tmp_path / "cache" / "archives").iterdir()] == []  # no leftover


def test_the_zip_check_is_not_a_string_prefix(tmp_path):
    folder = tmp_path / "cache" / ".UTKFace-1a2b.tmp-7"
    folder.mkdir(parents=True)
    # "../.UTKFace-1a2b.tmp-7evil/x.jpg" starts with the folder's path as a string
    with pytest.raises(UserError, match="would unpack outside its folder"):
        data._check_member(tmp_path / "a.zip", folder, f"../{folder.name}evil/x.jpg")
    assert data._check_member(tmp_path / "a.zip", folder, "UTKFace/x.jpg") == \
        folder.resolve() / "UTKFace" / "x.jpg"
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("../escape.jpg", JPEG)
    with pytest.raises(UserError, match="member '../escape.jpg' would unpack outside"):
        data.unpack(archive, tmp_path / "cache2")
    assert not (tmp_path / "escape.jpg").exists()
