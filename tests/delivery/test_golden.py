import json
import shutil
import sys
import time

import pytest

from evalpin.base.errors import EvalpinError
from evalpin.delivery import golden
from evalpin.delivery.golden import check_golden_of_verified, rendering_inputs
from evalpin.delivery.lock import load_lock
from support import evalpin_in_process, pin_demo, run


def test_pin_records_golden_renderings(pinned_repo):
    golden = json.loads((pinned_repo / "models/demo-tiny.golden.json").read_text())
    assert set(golden["token_ids"]) == {"plain-prompt", "user", "system-user", "multi-turn"}
    assert golden["token_ids"]["plain-prompt"][0] == 1  # BOS


def test_repin_without_looking_is_caught_by_the_rendering(pinned_repo):
    pin_demo(pinned_repo, "r2")  # new chat template; the lock follows, the golden file does not
    proc = evalpin_in_process(pinned_repo, "verify", "demo-tiny", check=False)
    assert proc.returncode == 1
    assert "prompt rendering differs" in proc.stderr and "user: first difference at token 0" in proc.stderr
    assert "evalpin golden demo-tiny --accept" in proc.stderr
    evalpin_in_process(pinned_repo, "golden", "demo-tiny", "--accept")
    assert evalpin_in_process(pinned_repo, "verify", "demo-tiny").returncode == 0


def test_double_bos_is_caught(pinned_repo):
    config = pinned_repo / "models/demo-tiny/tokenizer.json"
    data = json.loads(config.read_text())
    data["post_processor"]["single"].insert(0, {"SpecialToken": {"id": "<s>", "type_id": 0}})
    config.write_text(json.dumps(data))
    lock = pinned_repo / "models/demo-tiny.lock.json"
    # someone re-locks the edited files by hand: the file check passes, the rendering does not
    from evalpin.delivery.inventory import build_lock
    from evalpin.delivery.lock import Source, load_lock, save_lock

    old = load_lock(lock)
    save_lock(build_lock(pinned_repo / "models/demo-tiny", "demo-tiny", Source(**old.source.__dict__)), lock)
    proc = evalpin_in_process(pinned_repo, "golden", "demo-tiny", check=False)
    assert proc.returncode == 1
    assert "plain-prompt: first difference at token 1" in proc.stderr and "<s><s>" in proc.stderr
    # the new lock digest is not the one the last successful rendering was recorded under: verify renders
    assert evalpin_in_process(pinned_repo, "verify", "demo-tiny", check=False).returncode == 1


def test_files_only_skips_rendering(pinned_repo):
    (pinned_repo / "models/demo-tiny.golden.json").write_text('{"token_ids": {"user": [0]}}')
    assert evalpin_in_process(pinned_repo, "verify", "demo-tiny", "--files-only").returncode == 0
    assert evalpin_in_process(pinned_repo, "verify", "demo-tiny", check=False).returncode == 1


def verify_and_tell_if_rendered(repo, *args: str) -> tuple[int, bool]:
    """`evalpin verify demo-tiny ARGS` in a fresh process: its exit code, and whether it imported
    transformers (and torch) to render the golden conversations."""
    code = (
        "import sys; from evalpin.cli import main; rc = main(sys.argv[1:]); "
        "print('rendered' if 'transformers' in sys.modules else 'skipped'); sys.exit(rc)"
    )
    proc = run(repo, sys.executable, "-c", code, "verify", "demo-tiny", *args, check=False)
    return proc.returncode, proc.stdout.split()[-1] == "rendered"


def test_an_unchanged_delivery_verifies_without_importing_transformers(pinned_repo):
    assert verify_and_tell_if_rendered(pinned_repo) == (0, False)  # pin recorded its rendering
    assert verify_and_tell_if_rendered(pinned_repo, "--full") == (0, True)


def _golden_reformatted(repo):
    path = repo / "models/demo-tiny.golden.json"
    path.write_text(json.dumps(json.loads(path.read_text()), indent=4))  # same IDs, other bytes


def _record_edited(field, value):
    def edit(repo):
        path = repo / ".evalpin/golden/demo-tiny.json"
        record = json.loads(path.read_text())
        record[field] = value
        path.write_text(json.dumps(record))

    return edit


@pytest.mark.parametrize(
    "change",
    [
        _golden_reformatted,
        _record_edited("libraries", {"transformers": "4.0.0", "tokenizers": "0.1.0", "jinja2": "3.0.0"}),
        _record_edited("lock_digest", "0" * 64),
        _record_edited("conversations_sha256", "another set of conversations"),
        lambda repo: (repo / ".evalpin/golden/demo-tiny.json").write_text("{not json"),
        lambda repo: (repo / ".evalpin/golden/demo-tiny.json").unlink(),
    ],
    ids=["golden-file", "library-versions", "lock-digest", "conversations", "broken-record", "no-record"],
)
def test_any_changed_rendering_input_renders_again(pinned_repo, change):
    digest = load_lock(pinned_repo / "models/demo-tiny.lock.json").digest
    change(pinned_repo)
    assert check_golden_of_verified(pinned_repo, "demo-tiny", digest) == []
    # it rendered (and passed): the record now holds today's inputs again
    record = json.loads((pinned_repo / ".evalpin/golden/demo-tiny.json").read_text())
    assert record == rendering_inputs(pinned_repo, "demo-tiny", digest)


def test_a_chat_template_that_never_ends_is_stopped_and_named(pinned_repo_origin, tmp_path, monkeypatch):
    """A template looping 10^10 times hung pin, verify and evaluation: rendering now has a deadline."""
    delivery = tmp_path / "demo-tiny"
    shutil.copytree(pinned_repo_origin / "models/demo-tiny", delivery)
    loop = "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}"
    (delivery / "chat_template.jinja").write_text(loop + "{{ messages[0].content }}")
    monkeypatch.setattr(golden, "RENDER_LIMIT_S", 0.5)
    started = time.monotonic()
    with pytest.raises(
        EvalpinError, match=r"chat template, rendering the golden conversation .* took over 0.5 s"
    ):
        golden.render_all(delivery)
    assert time.monotonic() - started < 30
