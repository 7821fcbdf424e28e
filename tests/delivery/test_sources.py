from pathlib import Path

import pytest

from evalpin.base.errors import EvalpinError
from evalpin.delivery.sources import Upstream, is_commit
from support import TEMPLATE, demo_commit

UPSTREAM = Upstream("evalpin/demo-tiny", TEMPLATE / "demo" / "hub")


def test_demo_upstream_has_three_revisions_and_main_points_at_the_newest():
    refs = UPSTREAM.refs()
    assert {"r1", "r2", "r3", "main"} <= refs.keys()
    assert refs["main"] == refs["r3"]
    assert len({refs["r1"], refs["r2"], refs["r3"]}) == 3
    assert all(is_commit(c) for c in refs.values())


def test_r2_changes_only_template_and_generation_defaults():
    r1, r2 = (UPSTREAM.snapshot(demo_commit(r)) for r in ("r1", "r2"))
    changed = {p.name for p in r1.iterdir() if p.read_bytes() != (r2 / p.name).read_bytes()}
    assert changed == {"chat_template.jinja", "generation_config.json"}


def test_r3_has_new_weights():
    r1, r3 = (UPSTREAM.snapshot(demo_commit(r)) for r in ("r1", "r3"))
    assert (r1 / "model.safetensors").read_bytes() != (r3 / "model.safetensors").read_bytes()


def test_revisions_are_small():
    for ref in ("r1", "r2", "r3"):
        size = sum(p.stat().st_size for p in UPSTREAM.snapshot(demo_commit(ref)).iterdir())
        assert size < 2_000_000


def test_resolve_passes_commits_through_and_names_unknown_refs():
    assert UPSTREAM.resolve("main") == demo_commit("r3")
    assert UPSTREAM.resolve(demo_commit("r1")) == demo_commit("r1")
    with pytest.raises(EvalpinError, match=r"no ref named 'v9'.*known refs: main, r1, r2, r3"):
        UPSTREAM.resolve("v9")


def test_snapshot_refuses_refs_and_unknown_commits():
    with pytest.raises(EvalpinError, match="only a full 40-hex commit"):
        UPSTREAM.snapshot("main")
    with pytest.raises(EvalpinError, match="not available offline"):
        UPSTREAM.snapshot("0" * 40)


def test_unknown_repo_in_cache_is_named(tmp_path: Path):
    with pytest.raises(EvalpinError, match="no model repo 'org/absent'"):
        Upstream("org/absent", TEMPLATE / "demo" / "hub").refs()
