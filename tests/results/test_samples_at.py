import pytest

from evalpin.base.errors import EvalpinError
from evalpin.results.samples_at import read_samples


def test_a_revisions_samples_come_from_dvcs_cache_and_equal_the_workspaces(reproduced_repo):
    committed, workspace = read_samples(reproduced_repo, "HEAD"), read_samples(reproduced_repo, "workspace")
    assert committed == workspace and committed
    task = next(iter(committed))
    assert all(row["doc_id"] == doc for doc, row in committed[task].items())


def test_an_unknown_revision_is_one_line_naming_it(reproduced_repo):
    with pytest.raises(EvalpinError, match=r"^no-such-rev: not a git revision here"):
        read_samples(reproduced_repo, "no-such-rev")
