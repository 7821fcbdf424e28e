"""Quiet by default, loud on demand: lm-eval's chatter is filtered out of a normal run, -v keeps it."""

import logging

import pytest

from evalpin.base import quiet

CHATTER = (
    ("lm_eval.api.task", "demo_color_mc: Custom kwargs can be passed to `--metadata` in console"),
    ("lm_eval.models.huggingface", "Left truncation applied. Original sequence length was 803, ..."),
)


def test_a_normal_run_prints_no_lm_eval_chatter(reproduced_repo_origin):
    log = (reproduced_repo_origin.parent / "repro.log").read_text()  # the session's real `dvc repro`
    assert "Running stage 'evaluate'" in log and "demo_color_mc: acc" in log
    assert "Custom kwargs" not in log and "--metadata" not in log


@pytest.mark.parametrize("verbose", [False, True])
def test_the_filter_drops_only_the_chatter_unless_verbose(verbose, monkeypatch, caplog):
    monkeypatch.delenv(quiet.VERBOSE_ENV, raising=False)
    for name, _ in CHATTER:
        monkeypatch.setattr(logging.getLogger(name), "filters", [])  # undo an earlier install
    quiet.install(verbose)
    with caplog.at_level(logging.INFO):
        for name, message in CHATTER:
            logging.getLogger(name).warning(message)
        logging.getLogger("lm_eval.api.task").warning("demo_color_mc: a real problem")
    kept = [r.getMessage() for r in caplog.records]
    assert "demo_color_mc: a real problem" in kept
    assert (len(kept) == 3) is verbose


def test_evalpin_verbose_in_the_environment_counts_as_v(monkeypatch):
    monkeypatch.setenv(quiet.VERBOSE_ENV, "1")
    assert quiet.verbose_requested(False)
    monkeypatch.setenv(quiet.VERBOSE_ENV, "0")
    assert not quiet.verbose_requested(False) and quiet.verbose_requested(True)
