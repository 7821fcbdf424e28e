"""A catalog name's tree (suite/catalog_tree.py), on a small catalog of lm-eval YAMLs written here: where
a name is declared (the folders it names first), what is said of a name that is not, and each leaf's fields
as lm-eval's TaskFactory merges them (a member's own fields over its groups', an outer group's over an
inner one's). test_catalog.py covers the real catalog: arc, mmlu (57 leaves), leaderboard, the speed of
locate and resolve, and a misspelled mmlu name."""

from pathlib import Path

import lm_eval.tasks
import pytest

from evalpin.base.errors import EvalpinError
from evalpin.suite.catalog_tree import (
    GROUP,
    TAG,
    TASK,
    build,
    catalog_dir,
    index_of,
    kind_word,
    locate,
    referenced,
    resolve,
    search_order,
)

AGGREGATE = "aggregate_metric_list: [{metric: acc, aggregation: mean, weight_by_size: true}]\n"
CATALOG = {
    "arc/a_cot.yaml": "task: arc_cot\ndescription: like arc_easy\n",  # names arc_easy, declares none
    "arc/aa_broken.yaml": b"task: arc_easy\xff\n",  # not UTF-8: lm-eval skips it, and so does locate
    "arc/arc_easy.yaml": (
        "task: arc_easy\ntag: [ai2_arc]\ndataset_path: allenai/ai2_arc\ndataset_name: ARC-Easy\n"
        "output_type: multiple_choice\nnum_fewshot: 0\n"
    ),
    "arc/arc_challenge.yaml": "include: arc_easy.yaml\ntask: arc_challenge\ndataset_name: ARC-Challenge\n",
    "mmlu/mmlu_law.yaml": "task: mmlu_law\ndataset_path: cais/mmlu\ndataset_name: law\n",
    "mmlu_pro/mmlu_pro_law.yaml": "task: mmlu_pro_law\ndataset_path: TIGER-Lab/MMLU-Pro\n",
    "groups/g.yaml": (
        f"group: g\nnum_fewshot: 5\n{AGGREGATE}task: [arc_easy, {{task: arc_challenge, num_fewshot: 1}}]\n"
    ),
    "groups/h.yaml": "group: h\nnum_fewshot: 7\ntask: [g]\n",
    "groups/tagged.yaml": "group: tagged\ntask: [ai2_arc, mmlu_law]\n",
    "groups/inline.yaml": f"group: inline\ntask:\n  - group: sub\n    task: [arc_easy]\n    {AGGREGATE}",
    "py/p.yaml": "task: p\nclass: !function p.PyTask\n",
}


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("catalog")
    for rel, content in CATALOG.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(content if isinstance(content, bytes) else content.encode())
    return root


@pytest.fixture(scope="module")
def index(catalog) -> dict:
    """lm-eval's own index over the folders the groups below read."""
    return index_of([catalog / "arc", catalog / "mmlu", catalog / "groups"])


def test_the_catalog_is_lm_evals_own_task_folder():
    assert catalog_dir() == Path(lm_eval.tasks.__file__).parent


def test_a_name_is_searched_in_the_folders_it_names_first_most_specific_first(catalog):
    assert search_order("mmlu_pro_law", catalog) == [catalog / "mmlu_pro", catalog / "mmlu", catalog]
    assert search_order("ai2_arc", catalog) == [catalog / "arc", catalog]  # contains "arc"
    assert search_order("g", catalog) == [catalog]
    assert locate("mmlu_pro_law", catalog) == catalog / "mmlu_pro/mmlu_pro_law.yaml"
    assert locate("arc_easy", catalog) == catalog / "arc/arc_easy.yaml"  # past the mention and the bad file
    assert locate("ai2_arc", catalog) == catalog / "arc/arc_easy.yaml"  # a tag: the YAML that declares it
    assert locate("g", catalog) == catalog / "groups/g.yaml"  # found in the whole catalog


def test_a_name_the_catalog_lacks_is_one_line_with_the_names_spelled_like_it(catalog):
    with pytest.raises(EvalpinError) as caught:
        locate("nosuch", catalog)
    assert str(caught.value) == (
        f"conf/suite/: 'nosuch' is no task, group or tag in lm-eval's catalog ({catalog}). Check the name: "
        "`lm_eval ls tasks | grep nosuch`, or write it as a local task under the suite's include_path."
    )
    with pytest.raises(EvalpinError, match=r"'arc_eazy' is no task.*\); did you mean arc_easy\. Check the"):
        locate("arc_eazy", catalog)  # in the folder it names (arc/): a near spelling


def test_a_group_passes_its_task_fields_down_under_each_members_own(catalog, index):
    g = build("g", index, {})
    assert (g.kind, g.path, g.aggregated) == (GROUP, str(catalog / "groups/g.yaml"), True)
    easy, challenge = g.children
    assert [leaf.name for leaf in g.leaves()] == ["arc_easy", "arc_challenge"]
    assert easy.overrides == {"num_fewshot": 5} and easy.config["num_fewshot"] == 5
    assert challenge.overrides == {"num_fewshot": 1}  # the member's own field, over its group's
    assert (challenge.config["dataset_path"], challenge.config["dataset_name"]) == (
        "allenai/ai2_arc",  # from the file it includes
        "ARC-Challenge",
    )
    assert "aggregate_metric_list" not in easy.config  # a group's own field is not passed down
    assert challenge.path == str(catalog / "arc/arc_challenge.yaml") and not easy.aggregated


def test_an_outer_groups_fields_win_over_an_inner_groups_and_a_members_own_over_both(index):
    h = build("h", index, {})
    assert (h.kind, [c.name for c in h.children], h.aggregated) == (GROUP, ["g"], False)
    easy, challenge = h.leaves()
    assert (easy.config["num_fewshot"], challenge.config["num_fewshot"]) == (7, 1)
    assert h.children[0].overrides == {"num_fewshot": 7}
    assert referenced("h", index) == {"h", "g", "arc_easy", "arc_challenge"}


def test_a_tag_expands_to_its_tasks_in_name_order_inside_a_group_and_alone(index):
    tagged = build("tagged", index, {})
    assert [(c.name, c.kind) for c in tagged.children] == [
        ("arc_challenge", TASK),
        ("arc_easy", TASK),
        ("mmlu_law", TASK),
    ]
    alone = build("ai2_arc", index, {})
    assert (alone.kind, [c.name for c in alone.children], alone.path) == (
        TAG,
        ["arc_challenge", "arc_easy"],
        "",
    )
    assert [kind_word(n) for n in (tagged, alone, alone.children[0])] == ["a group", "a tag", "a task"]
    assert referenced("tagged", index) == {"tagged", "ai2_arc", "arc_challenge", "arc_easy", "mmlu_law"}


def test_a_python_task_is_refused_on_one_line_naming_its_yaml_and_field(catalog):
    with pytest.raises(EvalpinError) as caught:
        build("p", index_of([catalog / "py"]), {})
    assert str(caught.value) == (
        f"{catalog}/py/p.yaml: 'p' is a Python task (field 'class'); evalpin runs YAML tasks on pinned data "
        "only. Name a YAML task instead, or write it as a local task."
    )
    with pytest.raises(
        EvalpinError, match=r"/squadv2/squadv2\.yaml: 'squadv2' is a Python task \(field 'class'\)"
    ):
        resolve("squadv2")  # one in lm-eval's own catalog


@pytest.mark.xfail(
    strict=True,
    raises=KeyError,
    reason="member_name reads a member dict's 'task' before its 'group': an inline subgroup (lm-eval's "
    "blimp_nl, flan_held_in) is looked up by str(its task list); resolve('blimp_nl') says it is no name",
)
def test_a_group_defined_inline_in_its_parent_is_a_subgroup(index):
    inline = build("inline", index, {})
    (sub,) = inline.children
    assert (sub.kind, sub.aggregated, [leaf.name for leaf in sub.leaves()]) == (GROUP, True, ["arc_easy"])
