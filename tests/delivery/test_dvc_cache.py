"""The DVC cache objects of a tracked delivery (delivery/dvc_cache.py): found from the .dvc file, staged
from the cache, and evicted when their bytes do not hash to their name. The restore paths that use them
(a pull cut short, a tampered remote, a kill while staging) are tests/registry/test_restore.py."""

import hashlib

import pytest
import yaml

from evalpin.delivery import dvc_cache
from support import dvc

WHAT = "models/demo-tiny"


def _corrupt(path) -> None:
    path.chmod(0o644)  # DVC keeps its objects read-only
    path.write_bytes(path.read_bytes() + b"tampered")


def test_the_cache_and_a_deliverys_manifest_are_found_from_its_dvc_file(pinned_repo):
    cache = dvc_cache.cache_root(pinned_repo)
    assert cache == pinned_repo / ".dvc/cache/files/md5"
    md5 = yaml.safe_load((pinned_repo / f"{WHAT}.dvc").read_text())["outs"][0]["md5"]
    assert dvc_cache.dir_md5(pinned_repo, WHAT) == md5 and md5.endswith(".dir")
    assert dvc_cache.cached(md5) == f"{md5[:2]}/{md5[2:]}"
    assert dvc_cache.manifest_object(pinned_repo, WHAT) == f"files/md5/{md5[:2]}/{md5[2:]}"
    assert (cache / dvc_cache.cached(md5)).is_file()


def test_a_configured_cache_dir_is_followed(pinned_repo, tmp_path):
    dvc(pinned_repo, "cache", "dir", str(tmp_path / "shared-cache"))
    assert dvc_cache.cache_root(pinned_repo) == tmp_path / "shared-cache/files/md5"
    assert not dvc_cache.holds(pinned_repo, WHAT)  # nothing in the new cache yet


def test_every_file_of_the_delivery_has_its_object_and_staging_copies_them_all(pinned_repo, tmp_path):
    cache = dvc_cache.cache_root(pinned_repo)
    found = dvc_cache.entries(cache, dvc_cache.dir_md5(pinned_repo, WHAT))
    delivery = pinned_repo / WHAT
    assert sorted(rel for rel, _ in found) == sorted(p.name for p in delivery.iterdir())
    for rel, obj in found:
        assert obj.read_bytes() == (delivery / rel).read_bytes()
        assert hashlib.md5(obj.read_bytes()).hexdigest() == obj.parent.name + obj.name
    assert dvc_cache.holds(pinned_repo, WHAT)
    staged = tmp_path / "staged"
    assert dvc_cache.stage_from_cache(pinned_repo, WHAT, staged)
    for rel, _ in found:
        assert (staged / rel).read_bytes() == (delivery / rel).read_bytes()
        assert (staged / rel).stat().st_mode & 0o200  # a writable copy, not a link to the read-only object


def test_a_cache_short_of_one_object_holds_nothing_and_stages_nothing(pinned_repo, tmp_path):
    cache = dvc_cache.cache_root(pinned_repo)
    found = dict(dvc_cache.entries(cache, dvc_cache.dir_md5(pinned_repo, WHAT)))
    found["tokenizer.json"].unlink()  # what an interrupted `dvc commit` or fetch leaves
    assert not dvc_cache.holds(pinned_repo, WHAT)
    assert not dvc_cache.stage_from_cache(pinned_repo, WHAT, tmp_path / "staged")
    assert not (tmp_path / "staged").exists()  # checked before the first copy


@pytest.mark.parametrize("manifest", [None, b"not json", b'[{"relpath": "x"}]', b'{"a": 1}'])
def test_a_missing_or_corrupt_manifest_lists_no_entries(pinned_repo, manifest):
    cache, md5 = dvc_cache.cache_root(pinned_repo), dvc_cache.dir_md5(pinned_repo, WHAT)
    path = cache / dvc_cache.cached(md5)
    if manifest is None:
        path.unlink()
    else:
        path.chmod(0o644)
        path.write_bytes(manifest)
    assert dvc_cache.entries(cache, md5) is None
    assert not dvc_cache.holds(pinned_repo, WHAT)


def test_only_objects_whose_bytes_do_not_hash_to_their_name_are_evicted(pinned_repo):
    assert dvc_cache.evict_corrupt_objects(pinned_repo, WHAT) == []
    cache = dvc_cache.cache_root(pinned_repo)
    found = dict(dvc_cache.entries(cache, dvc_cache.dir_md5(pinned_repo, WHAT)))
    weights = found.pop("model.safetensors")
    _corrupt(weights)
    md5 = weights.parent.name + weights.name
    assert dvc_cache.evict_corrupt_objects(pinned_repo, WHAT) == [dvc_cache.object_path(md5)]
    assert not weights.exists() and all(obj.is_file() for obj in found.values())
    assert dvc_cache.evict_corrupt_objects(pinned_repo, WHAT) == []  # a missing object is no corrupt one
    workspace = (pinned_repo / WHAT / "model.safetensors").read_bytes()
    assert hashlib.md5(workspace).hexdigest() == md5  # only the cache's copy was corrupt, and only it went


def test_a_corrupt_manifest_is_evicted_itself(pinned_repo):
    cache, md5 = dvc_cache.cache_root(pinned_repo), dvc_cache.dir_md5(pinned_repo, WHAT)
    _corrupt(cache / dvc_cache.cached(md5))
    assert dvc_cache.evict_corrupt_objects(pinned_repo, WHAT) == [
        dvc_cache.manifest_object(pinned_repo, WHAT)
    ]
    assert not (cache / dvc_cache.cached(md5)).exists()
