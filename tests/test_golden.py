import json

from conftest import evalpin, pin_demo


def test_pin_records_golden_renderings(pinned_repo):
    golden = json.loads((pinned_repo / "models/demo-tiny.golden.json").read_text())
    assert set(golden["token_ids"]) == {"plain-prompt", "user", "system-user", "multi-turn"}
    assert golden["token_ids"]["plain-prompt"][0] == 1  # BOS


def test_repin_without_looking_is_caught_by_the_rendering(pinned_repo):
    pin_demo(pinned_repo, "r2")  # new chat template; the lock follows, the golden file does not
    proc = evalpin(pinned_repo, "verify", "demo-tiny", check=False)
    assert proc.returncode == 1
    assert "prompt rendering differs" in proc.stderr and "user: first difference at token 0" in proc.stderr
    assert "evalpin golden demo-tiny --accept" in proc.stderr
    evalpin(pinned_repo, "golden", "demo-tiny", "--accept")
    assert evalpin(pinned_repo, "verify", "demo-tiny").returncode == 0


def test_double_bos_is_caught(pinned_repo):
    config = pinned_repo / "models/demo-tiny/tokenizer.json"
    data = json.loads(config.read_text())
    data["post_processor"]["single"].insert(0, {"SpecialToken": {"id": "<s>", "type_id": 0}})
    config.write_text(json.dumps(data))
    lock = pinned_repo / "models/demo-tiny.lock.json"
    # someone re-locks the edited files by hand: the file check passes, the rendering does not
    from evalpin.lock import Source, build_lock, load_lock, save_lock

    old = load_lock(lock)
    save_lock(build_lock(pinned_repo / "models/demo-tiny", "demo-tiny", Source(**old.source.__dict__)), lock)
    proc = evalpin(pinned_repo, "golden", "demo-tiny", check=False)
    assert proc.returncode == 1
    assert "plain-prompt: first difference at token 1" in proc.stderr and "<s><s>" in proc.stderr


def test_files_only_skips_rendering(pinned_repo):
    (pinned_repo / "models/demo-tiny.golden.json").write_text('{"token_ids": {"user": [0]}}')
    assert evalpin(pinned_repo, "verify", "demo-tiny", "--files-only").returncode == 0
    assert evalpin(pinned_repo, "verify", "demo-tiny", check=False).returncode == 1
