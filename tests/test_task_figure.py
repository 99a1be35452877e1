"""Figure 9 (and task_parity) draw the experiment's own task: what is drawn is read back from the figure's
artists (texts, their positions, the edges) and checked against the task's labels, not against the drawing
code. The tree is rebuilt from geometry alone (which edge joins which boxes, which outcome sits on it), so
a wrong heap order, a swapped branch convention or a misnumbered leaf shows as a wrong class."""

import copy
import re

import numpy as np
import pytest
import yaml
from conftest import ROOT, SMOKE, run_snakemake
from progdistill import config as C
from progdistill import figures, task_figure
from progdistill import layout as L
from progdistill.streams import sample_inputs
from progdistill.tasks import HierarchicalParity, SparseParity, make_task

MINUS = "\N{MINUS SIGN}"


def _texts(fig, gid):
    return [t for ax in fig.axes for t in ax.texts if t.get_gid() == gid]


def _key(xy):
    return (round(float(xy[0]), 6), round(float(xy[1]), 6))


def drawn_tree(fig):
    """What the figure shows, rebuilt from its artists: {position: node} with each node's number, level and
    coordinates as written; {position: leaf}; children[position][outcome] = child position; the root."""
    nodes = {}
    for t in _texts(fig, "node"):
        m = re.fullmatch(r"node (\d+), level (\d+)\n\$((?:x_\{\d+\})+)\$", t.get_text())
        assert m, t.get_text()
        coords = [int(i) for i in re.findall(r"x_\{(\d+)\}", m.group(3))]
        nodes[_key(t.get_position())] = dict(j=int(m.group(1)), level=int(m.group(2)), coords=coords)
    leaves = {}
    for t in _texts(fig, "leaf"):
        m = re.fullmatch(r"class (\d+)", t.get_text())
        assert m, t.get_text()
        leaves[_key(t.get_position())] = (int(m.group(1)), int(m.group(1)))
    for t in _texts(fig, "subtree"):
        m = re.fullmatch(r"classes (\d+)\N{EN DASH}(\d+)", t.get_text())
        assert m, t.get_text()
        leaves[_key(t.get_position())] = (int(m.group(1)), int(m.group(2)))
    outcomes = {}
    for t in _texts(fig, "outcome"):
        assert t.get_text() in ("+1", f"{MINUS}1"), t.get_text()
        outcomes[_key(t.get_position())] = 1 if t.get_text() == "+1" else -1
    children = {p: {} for p in nodes}
    edges = [line for ax in fig.axes for line in ax.lines if line.get_gid() == "edge"]
    for line in edges:
        (x0, x1), (y0, y1) = line.get_xdata(), line.get_ydata()
        parent, child = ((x0, y0), (x1, y1)) if y0 > y1 else ((x1, y1), (x0, y0))
        parent, child = _key(parent), _key(child)
        assert parent in nodes and (child in nodes or child in leaves), (parent, child)
        outcome = outcomes[_key(((x0 + x1) / 2, (y0 + y1) / 2))]  # the label on the edge's middle
        assert outcome not in children[parent], "two edges of one node with the same outcome"
        children[parent][outcome] = child
    assert all(set(c) == {1, -1} for c in children.values())
    assert len(outcomes) == len(edges) == 2 * len(nodes)
    reached = {c for cs in children.values() for c in cs.values()}
    (root,) = set(nodes) - reached
    return nodes, leaves, children, root


def walk(tree, x):
    """The leaf the drawn tree sends input x to: each node's parity over its drawn coordinates."""
    nodes, leaves, children, pos = tree
    while pos in nodes:
        pos = children[pos][int(np.prod(x[nodes[pos]["coords"]]))]
    return leaves[pos]


def paths(tree):
    """(outcomes along the path, node positions along it, leaf) for every drawn leaf."""
    nodes, leaves, children, root = tree
    out, todo = [], [(root, [], [])]
    while todo:
        pos, outs, via = todo.pop()
        if pos in leaves:
            out.append((outs, via, leaves[pos]))
            continue
        for o, child in children[pos].items():
            todo.append((child, [*outs, o], [*via, pos]))
    return out


def check_classes_follow_labels(task, fig):
    """Every drawn leaf's class is the one task.labels gives an input whose node parities follow the drawn
    path to it; and the drawn tree classifies random inputs as labels does."""
    tree = drawn_tree(fig)
    nodes = tree[0]
    assert len(paths(tree)) == len(tree[1])
    for outs, via, (lo, hi) in paths(tree):
        x = np.ones((1, task.n), dtype=np.int8)  # every parity +1
        for o, pos in zip(outs, via, strict=True):
            if o == -1:
                x[0, nodes[pos]["coords"][0]] = -1  # one flip in this node's block: its parity -1
        assert lo <= int(task.labels(x)[0]) <= hi, (outs, lo, hi)
    x = sample_inputs(5, 0, 2000, task.n)
    y = task.labels(x)
    for xi, yi in zip(x, y, strict=True):
        lo, hi = walk(tree, xi)
        assert lo <= yi <= hi
    return tree


def _task(**block):
    """A task from a task block with the schema's defaults filled in (layout, seed), as validated."""
    return make_task({"layout": "consecutive", "seed": 0, **block})


def _cfg(path=ROOT / "config.yaml"):
    return C.validate_config(yaml.safe_load(path.read_text()))


def test_default_task_is_drawn_as_its_description():
    """config.yaml's hierarchical task: a depth-3 tree of 4-sparse parities on consecutive blocks of n=40
    coordinates (x0..x3 at the root, then x4..x7, ... in heap order), 8 classes left to right."""
    cfg = _cfg()
    exp = cfg["figures"]["hierarchical"]
    assert cfg["experiments"][exp]["task"] == dict(
        kind="hierarchical", n=40, depth=3, k=4, layout="consecutive", seed=0
    )
    task = make_task(cfg["experiments"][exp]["task"])
    model = C.Study.from_config(cfg).experiment(exp)
    fig = figures.DRAWINGS[L.FIGURES["fig9"].draw](figures.FigureData(None, None, model))
    nodes, leaves, children, root = check_classes_follow_labels(task, fig)
    by_number = {n["j"]: n for n in nodes.values()}
    assert sorted(by_number) == list(range(7))
    for j in range(7):
        assert by_number[j]["coords"] == list(range(4 * j, 4 * j + 4))
        assert by_number[j]["level"] == {0: 0, 1: 1, 2: 1}.get(j, 2)
    assert nodes[root]["j"] == 0 and nodes[root]["coords"] == [0, 1, 2, 3]
    # Heap order on the page: node 1 is the root's +1 (left) child, node 2 its -1 child.
    assert nodes[children[root][1]]["j"] == 1 and nodes[children[root][-1]]["j"] == 2
    assert children[root][1][0] < root[0] < children[root][-1][0]
    xs = sorted(leaves)
    assert [leaves[p] for p in xs] == [(c, c) for c in range(8)]  # class c is the c-th leaf from the left
    assert root[0] == pytest.approx(np.mean([p[0] for p in xs]))  # the root above the middle
    assert all(p[1] == xs[0][1] < min(q[1] for q in nodes) for p in xs)  # leaves on one row, below all nodes
    # The strip: coordinate i is numbered with the node whose label holds it; 28..39 are read by none.
    cells = {round(t.get_position()[0]): t.get_text() for t in _texts(fig, "coordinate-text")}
    assert cells == {i: str(j) for j in range(7) for i in range(4 * j, 4 * j + 4)}
    rects = sorted(
        (p for ax in fig.axes for p in ax.patches if p.get_gid() == "coordinate"), key=lambda p: p.get_x()
    )
    assert len(rects) == 40
    white = [i for i, p in enumerate(rects) if p.get_facecolor()[:3] == (1.0, 1.0, 1.0)]
    assert white == list(range(28, 40))
    assert len({rects[i].get_facecolor() for i in range(4, 12)}) == 1  # level 1 shares one colour
    assert rects[0].get_facecolor() != rects[4].get_facecolor() != rects[12].get_facecolor()
    assert any("depth 3, 8 classes" in t.get_text() for t in _texts(fig, "note"))


def test_smoke_task_draws_its_own_tree():
    cfg = _cfg(SMOKE)
    exp = cfg["figures"]["hierarchical"]
    task = make_task(cfg["experiments"][exp]["task"])
    nodes, leaves, _, root = check_classes_follow_labels(task, task_figure.draw_task(task))
    assert {n["j"]: n["coords"] for n in nodes.values()} == {0: [0, 1], 1: [2, 3], 2: [4, 5]}
    assert sorted(leaves.values()) == [(c, c) for c in range(4)]


def _numbered(task):
    nodes = drawn_tree(task_figure.draw_task(task))[0]
    return {n["j"]: n["coords"] for n in nodes.values()}


def test_node_labels_follow_the_layout_and_seed():
    """Another layout or seed moves the blocks, and the drawn labels move with them."""
    base = dict(kind="hierarchical", n=40, depth=3, k=4)
    tasks = {
        "consecutive": _task(**base, layout="consecutive"),
        "random0": _task(**base, layout="random", seed=0),
        "random1": _task(**base, layout="random", seed=1),
    }
    drawn = {name: _numbered(t) for name, t in tasks.items()}
    for name, t in tasks.items():
        assert drawn[name] == {j: list(b) for j, b in enumerate(t.blocks)}, name
        check_classes_follow_labels(t, task_figure.draw_task(t))
    assert drawn["consecutive"] != drawn["random0"] != drawn["random1"] != drawn["consecutive"]
    # Blocks given by hand are drawn as given.
    blocks = [[7, 2], [0, 11], [5, 9]]
    task = _task(kind="hierarchical", n=12, depth=2, k=2, blocks=blocks)
    assert _numbered(task) == {0: [7, 2], 1: [0, 11], 2: [5, 9]}


def test_the_tree_is_checked_against_labels_not_against_itself():
    """The path check fails for a tree whose drawn branches disagree with labels (the right branch on +1)."""
    task = _task(kind="hierarchical", n=12, depth=2, k=2)
    fig = task_figure.draw_task(task)
    for t in _texts(fig, "outcome"):
        t.set_text(f"{MINUS}1" if t.get_text() == "+1" else "+1")
    with pytest.raises(AssertionError):
        check_classes_follow_labels(task, fig)


def test_deeper_trees_stop_at_max_levels_with_subtree_boxes():
    task = _task(kind="hierarchical", n=200, depth=6, k=3)
    fig = task_figure.draw_task(task)
    nodes, leaves, _, _ = check_classes_follow_labels(task, fig)  # each input lands in its class's box
    assert len(nodes) == 2**task_figure.MAX_LEVELS - 1
    assert sorted(leaves.values()) == [(2 * i, 2 * i + 1) for i in range(32)]
    assert not _texts(fig, "leaf")
    assert any("levels 0..4 of 6 drawn" in t.get_text() for t in _texts(fig, "note"))
    # Depth 5 is drawn whole; max_levels cuts a tree where asked.
    assert len(drawn_tree(task_figure.draw_task(_task(kind="hierarchical", n=124, depth=5, k=4)))[1]) == 32
    small = task_figure.draw_task(_task(kind="hierarchical", n=40, depth=3, k=4), max_levels=2)
    assert sorted(drawn_tree(small)[1].values()) == [(0, 1), (2, 3), (4, 5), (6, 7)]
    with pytest.raises(ValueError, match="max_levels = 0"):
        task_figure.draw_task(task, max_levels=0)
    with pytest.raises(TypeError, match="no task figure for dict"):
        task_figure.draw_task({})


@pytest.mark.parametrize("seed", [0, 1])
def test_sparse_parity_draws_its_support(seed):
    task = _task(kind="sparse_parity", n=50, d=5, seed=seed)
    fig = task_figure.draw_task(task)
    cells = {round(t.get_position()[0]): t.get_text() for t in _texts(fig, "coordinate-text")}
    support = sorted(cells)
    assert all(cells[i] == str(i) for i in support)
    rects = [p for ax in fig.axes for p in ax.patches if p.get_gid() == "coordinate"]
    filled = sorted(round(p.get_x() + 0.5) for p in rects if p.get_facecolor()[:3] != (1.0, 1.0, 1.0))
    assert filled == support and len(rects) == 50
    (title,) = [ax.get_title(loc="left") for ax in fig.axes]
    assert [int(i) for i in re.findall(r"x_\{(\d+)\}", title)] == support
    # The drawn support is the task's: its product gives the labels (class 0 when +1).
    x = sample_inputs(9, 0, 2000, task.n)
    assert np.array_equal((np.prod(x[:, support].astype(int), axis=1) < 0).astype(int), task.labels(x))
    assert support == list(task.support)


def test_sparse_parity_supports_differ_by_seed():
    a, b = (_task(kind="sparse_parity", n=50, d=5, seed=s) for s in (0, 1))
    assert isinstance(a, SparseParity) and a.support != b.support
    titles = [task_figure.draw_task(t).axes[0].get_title(loc="left") for t in (a, b)]
    assert titles[0] != titles[1]


def test_a_task_figure_trains_nothing_and_redraws_when_the_task_changes(tmp_path):
    """`snakemake results/figures/fig9.pdf` on a fresh directory runs the task_figure job alone; a changed
    task (another layout) plans it again, a changed student setting does not."""
    target = L.FIGURE_PDF.format(fig="fig9")
    out = run_snakemake(tmp_path, target, "--cores", "1", "--configfile", str(SMOKE))
    text = out.stdout + out.stderr
    assert re.findall(r"^(?:local)?rule (\w+):", text, re.M) == ["task_figure"], text[-3000:]
    assert (tmp_path / target).read_bytes()[:5] == b"%PDF-"
    assert (tmp_path / L.FIGURE_PNG.format(fig="fig9")).stat().st_size > 10_000

    def plan(edit):
        cfg = copy.deepcopy(yaml.safe_load(SMOKE.read_text()))
        edit(cfg["experiments"]["hierarchical"])
        path = tmp_path / "edited.yaml"
        path.write_text(yaml.safe_dump(cfg))
        out = run_snakemake(tmp_path, target, "-n", "--cores", "1", "--configfile", str(path))
        return re.findall(r"^(?:local)?rule (\w+):", out.stdout + out.stderr, re.M)

    assert plan(lambda e: None) == []
    assert plan(lambda e: e["students"]["widths"].append(12)) == []
    assert plan(lambda e: e["task"].update(layout="random", seed=3)) == ["task_figure"]


def test_task_figures_are_registered_for_the_task_rule_only():
    task_figs = [n for n, f in L.FIGURES.items() if f.needs == "task"]
    assert task_figs == ["fig9", "task_parity"]
    assert L.FIGURES["fig9"].family == "hierarchical" and L.FIGURES["task_parity"].family == "parity"
    table_figs = L.figure_pattern("parity", "hierarchical").split("|")
    assert not set(task_figs) & set(table_figs)
    assert set(L.figure_pattern("parity", "hierarchical", needs="task").split("|")) == set(task_figs)
    assert L.FIGURE_PDF.format(fig="fig9") in L.all_targets(C.Study.from_config(_cfg()))
    assert isinstance(make_task(_cfg()["experiments"]["hierarchical"]["task"]), HierarchicalParity)
