"""Figure 9 (appendix C): the task itself, drawn from the experiment's task object (tasks.make_task), so
every configuration draws its own.

A hierarchical task (tasks.HierarchicalParity) is drawn as its decision tree: each internal node (heap
order, root 0) with its number, tree level and the coordinates whose parity it reads; each edge with the
parity outcome that takes it (left: +1, right: -1, the convention of HierarchicalParity.labels); each leaf
with its class (0 .. 2^depth - 1, left to right). Below the tree a strip of the n coordinates shows which
node reads each one (colour of the node's level), so a random layout shows where its blocks fell.

A sparse parity task (tasks.SparseParity) is drawn as that strip alone, its support marked.

Legibility: the figure widens with the number of leaves and the coordinate labels' length, so every label
keeps its font size. A tree is drawn whole up to ``MAX_LEVELS`` = 5 levels (31 nodes, 32 leaves, about
22 inches wide with k = 4). A deeper tree is drawn to that many levels and each node below stands as one box
"classes a-b" (the classes of its subtree), with a note saying so; the strip still shows every node's
coordinates. The strip numbers each coordinate's node while a cell is wide enough to hold it (and each
coordinate, on its axis, at a tick spacing that fits), colour alone beyond that.

Coordinates are 0-based, as the configuration gives them (``task.support``, ``task.blocks``).
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from .tasks import HierarchicalParity, SparseParity  # noqa: E402

MAX_LEVELS = 5
# One colour per tree level (a node's box and its coordinates in the strip); cycles past ten levels.
LEVEL_COLOURS = plt.get_cmap("tab10").colors
UNUSED = "white"
FONT = 8  # points, every label of the figure
MINUS = "\N{MINUS SIGN}"


def outcome_label(parity: int) -> str:
    """The text on an edge: the node's parity that takes it."""
    return "+1" if parity > 0 else f"{MINUS}1"


def coordinate_label(coords) -> str:
    """A node's parity as the product of its coordinates, e.g. x_0 x_1 x_2 x_3 (mathtext)."""
    return "$" + "".join(f"x_{{{i}}}" for i in coords) + "$"


def level_colour(level: int):
    return LEVEL_COLOURS[level % len(LEVEL_COLOURS)]


def _light(colour, amount=0.55):
    """A colour mixed with white: a box's fill behind black text."""
    return tuple(c + (1 - c) * amount for c in colour[:3])


def draw_task(task, max_levels: int = MAX_LEVELS):
    """Figure 9 of a task object: its tree for HierarchicalParity, its support for SparseParity."""
    if isinstance(task, HierarchicalParity):
        return draw_tree(task, max_levels)
    if isinstance(task, SparseParity):
        return draw_support(task)
    raise TypeError(f"no task figure for {type(task).__name__}; valid: HierarchicalParity, SparseParity")


def _label_width(task) -> float:
    """Inches a node's coordinate label takes at FONT points (measured: ~0.14 in per x_i plus 0.045 per digit
    of its subscript)."""
    widest = max(len(b) * 0.14 + sum(len(str(i)) for i in b) * 0.045 for b in task.blocks)
    return max(widest, 0.9)  # "node 12, level 3" on the line above


def draw_tree(task: HierarchicalParity, max_levels: int = MAX_LEVELS):
    """The decision tree of ``task``, its top ``max_levels`` levels when it is deeper (see module docstring).

    Artists a reader (or a test) can find: node texts (gid "node": "node j, level l" over the product of its
    coordinates), edges (Line2D, gid "edge", from parent to child centre), edge texts (gid "outcome": +1 or
    -1 at the edge's middle), leaf texts (gid "leaf": "class c"; gid "subtree": "classes a-b" below a cut)
    and the strip's coordinate cells (Rectangle, gid "coordinate", filled with the owner's level colour).
    """
    if max_levels < 1:
        raise ValueError(f"max_levels = {max_levels}; valid: 1 or more")
    depth = task.depth
    shown = min(depth, max_levels)
    leaves = 2**shown
    per_box = 2 ** (depth - shown)  # classes under one bottom box
    # Inches between neighbouring leaves: the deepest drawn nodes sit two leaves apart and must not touch,
    # nor the bottom boxes ("classes 62-63": ~0.065 in per character).
    bottom = len(f"classes {task.num_classes - 2}-{task.num_classes - 1}") if per_box > 1 else 8
    spacing = max(0.75, _label_width(task) / 2 + 0.2, 0.065 * bottom + 0.2)
    width = max(6.0, leaves * spacing + 0.6)
    tree_h, strip_h = 0.95 * (shown + 1), 0.9
    fig = plt.figure(figsize=(width, tree_h + strip_h + 0.5))
    ax = fig.add_axes((0.0, strip_h / (tree_h + strip_h + 0.5), 1.0, tree_h / (tree_h + strip_h + 0.5)))
    ax.set_xlim(-0.5, leaves - 0.5)
    ax.set_ylim(-shown - 0.45, 0.45)
    ax.set_axis_off()

    def centre(level, i):
        # Leaf positions are 0 .. leaves-1; a node sits above the middle of its subtree's leaves.
        return (i + 0.5) * 2 ** (shown - level) - 0.5, -level

    levels = task.block_levels()
    for level in range(shown):
        for i in range(2**level):
            j = 2**level - 1 + i
            x, y = centre(level, i)
            for side, parity in ((0, 1), (1, -1)):
                cx, cy = centre(level + 1, 2 * i + side)
                ax.plot([x, cx], [y, cy], color="grey", linewidth=1, zorder=1, gid="edge")
                ax.text(
                    (x + cx) / 2,
                    (y + cy) / 2,
                    outcome_label(parity),
                    ha="center",
                    va="center",
                    fontsize=FONT,
                    zorder=3,
                    gid="outcome",
                    bbox=dict(boxstyle="round,pad=0.15", facecolor="white", edgecolor="none"),
                )
            ax.text(
                x,
                y,
                f"node {j}, level {levels[j]}\n{coordinate_label(task.blocks[j])}",
                ha="center",
                va="center",
                fontsize=FONT,
                zorder=4,
                gid="node",
                bbox=dict(boxstyle="round,pad=0.3", facecolor=_light(level_colour(level)), edgecolor="grey"),
            )
    for i in range(leaves):
        x, y = centre(shown, i)
        if per_box == 1:
            text, gid = f"class {i}", "leaf"
        else:
            text, gid = f"classes {i * per_box}\N{EN DASH}{(i + 1) * per_box - 1}", "subtree"
        ax.text(
            x,
            y,
            text,
            ha="center",
            va="center",
            fontsize=FONT,
            zorder=4,
            gid=gid,
            bbox=dict(boxstyle="square,pad=0.3", facecolor="0.92", edgecolor="grey"),
        )
    note = f"depth {depth}, {task.num_classes} classes; edges: the node's parity (left +1, right {MINUS}1)"
    if shown < depth:
        note += f"; levels 0..{shown - 1} of {depth} drawn, each bottom box a subtree of {per_box} classes"
    ax.text(-0.45, 0.4, note, ha="left", va="top", fontsize=FONT, color="0.3", gid="note")

    owner = {i: j for j, b in enumerate(task.blocks) for i in b}
    strip = fig.add_axes((0.02, 0.35 / (tree_h + strip_h + 0.5), 0.96, 0.3 / (tree_h + strip_h + 0.5)))
    _strip(
        strip,
        task.n,
        {i: level_colour(levels[j]) for i, j in owner.items()},
        {i: str(j) for i, j in owner.items()},
    )
    strip.set_title(
        "which node's parity reads each coordinate (number: node; colour: its level)",
        fontsize=FONT,
        loc="left",
    )
    return fig


def _strip(ax, n: int, colours: dict, texts: dict) -> None:
    """n unit cells on one row: coordinate i at x = i, filled with colours[i] (white when absent), texts[i]
    written inside while the cells are wide enough."""
    for i in range(n):
        ax.add_patch(
            Rectangle(
                (i - 0.5, 0),
                1,
                1,
                facecolor=_light(colours[i], 0.25) if i in colours else UNUSED,
                edgecolor="0.6",
                linewidth=0.5,
                gid="coordinate",
            )
        )
    ax.set_xlim(-0.5, n - 0.5)
    ax.set_ylim(0, 1)
    ax.set_yticks([])
    cell_in = ax.get_position().width * ax.figure.get_figwidth() / n
    longest = max((len(t) for t in texts.values()), default=1)
    if cell_in >= 0.055 * longest + 0.03:  # a digit at FONT - 1 points is ~0.053 in wide
        for i, t in texts.items():
            ax.text(i, 0.5, t, ha="center", va="center", fontsize=FONT - 1, gid="coordinate-text")
    # Ticks at a spacing whose labels fit (three digits at FONT - 1 points take ~0.25 in).
    step = next(s for s in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 10**9) if s * cell_in >= 0.3)
    ax.set_xticks(range(0, n, step))
    ax.tick_params(axis="x", labelsize=FONT - 1, length=2)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.set_xlabel("coordinate", fontsize=FONT - 1, labelpad=1)


def draw_support(task: SparseParity):
    """The n coordinates of a sparse parity task, its support filled (gid "coordinate" cells), with its
    label rule as the title."""
    width = max(6.0, min(0.16 * task.n, 16.0))
    fig = plt.figure(figsize=(width, 1.6))
    ax = fig.add_axes((0.02, 0.3, 0.96, 0.25))
    colour = level_colour(0)
    _strip(ax, task.n, {i: colour for i in task.support}, {i: str(i) for i in task.support})
    ax.set_title(
        f"y = {coordinate_label(task.support)}: class 0 when +1, class 1 when {MINUS}1 "
        f"(support of d = {task.d} among n = {task.n} coordinates)",
        fontsize=FONT,
        loc="left",
    )
    return fig
