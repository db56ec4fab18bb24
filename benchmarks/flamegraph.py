"""A small SVG flame graph from collapsed stacks ("frame;frame;frame count" lines, as py-spy's
``--format raw`` writes them): the root at the bottom, each frame as wide as its samples, the
full frame and its share in each box's tooltip."""

from __future__ import annotations

from html import escape

WIDTH = 1600
ROW = 16
MIN_WIDTH = 0.5  # px: narrower frames are left out (they are in the collapsed file)


class _Node:
    __slots__ = ("children", "count")

    def __init__(self) -> None:
        self.count = 0
        self.children: dict[str, _Node] = {}


def _tree(collapsed: str) -> _Node:
    root = _Node()
    for line in collapsed.splitlines():
        frames, _, count_text = line.rpartition(" ")
        if not frames or not count_text.isdigit():
            continue
        count = int(count_text)
        node = root
        node.count += count
        for frame in frames.split(";"):
            node = node.children.setdefault(frame, _Node())
            node.count += count
    return root


def _depth(node: _Node) -> int:
    return 1 + max((_depth(c) for c in node.children.values()), default=0)


def _colour(name: str) -> str:
    h = sum(name.encode()) % 60
    if "emergency/" in name or "alerts/" in name:
        return f"rgb(230,{120 + h},{40 + h // 2})"  # our code: orange
    if "sqlalchemy" in name or "psycopg" in name or "sqlmodel" in name:
        return f"rgb({60 + h},{140 + h},220)"  # the database layers: blue
    return f"rgb(200,{170 + h // 2},{160 + h // 3})"


def render(collapsed: str, *, title: str) -> str:
    root = _tree(collapsed)
    total = max(root.count, 1)
    rows = _depth(root)
    height = (rows + 2) * ROW
    scale = WIDTH / total
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        'font-family="monospace" font-size="11">',
        f'<text x="4" y="12">{escape(title)}: {root.count} samples (hover a box)</text>',
    ]

    def draw(node: _Node, name: str, x: float, depth: int) -> None:
        w = node.count * scale
        if w < MIN_WIDTH:
            return
        y = height - (depth + 1) * ROW
        label = f"{name} ({node.count} samples, {node.count / total:.1%})"
        parts.append(
            f'<g><title>{escape(label)}</title><rect x="{x:.1f}" y="{y}" width="{w:.1f}" '
            f'height="{ROW - 1}" fill="{_colour(name)}"/>'
        )
        chars = int(w / 7)
        if chars > 3:
            text = name if len(name) <= chars else name[: chars - 1] + "…"
            parts.append(f'<text x="{x + 2:.1f}" y="{y + ROW - 4}">{escape(text)}</text>')
        parts.append("</g>")
        child_x = x
        for child_name, child in sorted(node.children.items()):
            draw(child, child_name, child_x, depth + 1)
            child_x += child.count * scale

    child_x = 0.0
    for name, child in sorted(root.children.items()):
        draw(child, name, child_x, 0)
        child_x += child.count * scale
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
