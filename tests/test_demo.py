"""The demo is named as the demo: its synthetic datasets under real Hub ids, and its tiny model."""

from evalpin.demo import demo_data_tasks
from support import TEMPLATE


def test_the_templates_run_names_every_task_on_demo_data():
    """The committed run (eval/fingerprint.json) read the four datasets pinned from demo/hub."""
    assert demo_data_tasks(TEMPLATE) == {
        "Rowan/hellaswag": ["hellaswag"],
        "allenai/ai2_arc": ["arc_easy"],
        "cais/mmlu": [
            "mmlu_demo",
            "mmlu_high_school_biology",
            "mmlu_high_school_geography",
            "mmlu_nutrition",
        ],
        "openai/gsm8k": ["gsm8k"],
    }
