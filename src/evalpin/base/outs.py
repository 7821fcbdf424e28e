"""The pipeline's outputs (dvc.yaml's outs), relative to the repository root: one place every module reads.

eval/verified.json       what the verify stage checked: the delivery and the datasets (in git)
eval/metrics.json        per task: metric, score, stderr, n; the suite mean (DVC metrics, in git)
eval/scores.json         per-task scores as rows, for `dvc plots show`
eval/fingerprint.json    what was measured: delivery, suite identity, effective generation
                         parameters, chat templates, runtime, a hash over all greedy outputs, and
                         (`outputs`) the sha256 of the other files as written (evaluation/output_set.py)
eval/samples/TASK.jsonl  per sample: doc/prompt/target hashes, response, score (DVC-tracked)
eval/results/TASK.json   per task: its key (every input), lm-eval's result and its samples; what a rerun
                         reuses (DVC-tracked, persisted: evaluation/task_store.py)
"""

from __future__ import annotations

VERIFIED_FILE = "eval/verified.json"
METRICS_FILE = "eval/metrics.json"
SCORES_FILE = "eval/scores.json"
FINGERPRINT_FILE = "eval/fingerprint.json"
SAMPLES_DIR = "eval/samples"
RESULTS_DIR = "eval/results"
