"""The readable fields of a sample: the gold choice as lm-eval scores it, and the per-task truncation count.
What the real tasks record (local, catalog, chat) is checked on real runs: test_samples.py and
test_evaluate_stage.py (gsm8k's 5-shot prompts cut to 256 tokens)."""

from evalpin.evaluation.readable import gold_index, truncated_count

CHOICES = ["red", "green", "blue"]


def test_the_gold_choice_is_an_index_whatever_doc_to_target_returns():
    assert gold_index(2, CHOICES) == 2
    assert gold_index("green", CHOICES) == 1
    assert gold_index(["red", 2], CHOICES) == [0, 2]  # several correct answers
    assert gold_index("purple", CHOICES) == "purple"  # not a choice: kept as lm-eval gave it


def test_truncation_is_counted_per_task_with_the_tokens_kept():
    rows = [
        {"prompt_tokens": 803, "truncated": {"tokens": 803, "kept": 256}},
        {"prompt_tokens": 120},
        {"prompt_tokens": 300, "truncated": {"tokens": 300, "kept": 256}},
    ]
    assert truncated_count(rows) == {"prompts": 2, "kept_tokens": 256}
    assert truncated_count([{"prompt_tokens": 12}, {"prompt_tokens": 40}]) == {"prompts": 0}
    assert truncated_count([{}, {}]) == {"prompts": None}  # a server backend: not counted, not "none"
