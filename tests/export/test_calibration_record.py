"""A bundle names its calibration / held-back data by name, sha256 or relative path, never by the
exporting machine's absolute path (manifest.json extra.calibration.dataset, report.json
accuracy.dataset)."""

import hashlib
import json
import os
from pathlib import Path

from fftoolkit.data.loader import dataset_record
from fftoolkit.export.report import format_report
from fftoolkit.models import load_checkpoint


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def test_named_file_and_folder_records(tmp_path, monkeypatch):
    assert dataset_record("cifar10") == {"name": "cifar10"}
    assert dataset_record("mnist") == {"name": "mnist"}  # a name, even where nothing is cached
    archive = tmp_path / "work" / "data" / "set.tar.gz"
    archive.parent.mkdir(parents=True)
    archive.write_bytes(b"not really a tarball, but bytes to hash" * 1000)
    want = {"name": "set.tar.gz", "sha256": hashlib.sha256(archive.read_bytes()).hexdigest()}
    assert dataset_record(archive) == want
    assert dataset_record(str(archive)) == want
    folder = tmp_path / "work" / "data" / "tree"
    folder.mkdir()
    monkeypatch.chdir(tmp_path / "work")
    assert dataset_record(str(folder)) == {"name": "tree", "path": "data/tree"}  # absolute in
    assert dataset_record("data/tree") == {"name": "tree", "path": "data/tree"}
    assert dataset_record(".") == {"name": "work", "path": "."}
    monkeypatch.chdir(tmp_path / "work" / "data" / "tree")
    assert dataset_record(str(tmp_path / "work" / "data")) == {"name": "data"}  # outside: name
    assert dataset_record("../../other") == {"name": "other"}  # not there: its name only
    assert dataset_record(str(tmp_path / "gone" / "set")) == {"name": "set"}


def test_bundle_from_an_absolute_dataset_path_records_no_absolute_path(tiny_bundle):
    root = tiny_bundle.parent
    given = load_checkpoint(root / "last.pt").train_args["dataset"]
    assert os.path.isabs(given) and Path(given) == root / "tree"  # exported with that default
    manifest = json.loads((tiny_bundle / "manifest.json").read_text())
    report = json.loads((tiny_bundle / "report.json").read_text())
    assert manifest["extra"]["calibration"]["dataset"] == dataset_record(given)
    assert report["accuracy"]["dataset"] == dataset_record(given)
    assert dataset_record(given)["name"] == "tree"
    for name, doc in (("manifest.json", manifest), ("report.json", report)):
        text = (tiny_bundle / name).read_text()
        assert str(root) not in text and str(root.resolve()) not in text, name
        absolute = [s for s in _strings(doc) if os.path.isabs(s)]
        assert not absolute, (name, absolute)
    record = dataset_record(given)
    assert f"held-back images ({record.get('path', 'tree')}, val)" in format_report(report)
