"""One self-contained HTML file that shows a "lmzero-tree/1" tree: data and code inline.

The page needs no server and no network: the template (`viewer/viewer.html`) gets the style
sheet, the script and the tree's JSON pasted in, and the file opens from disk. The JSON sits in
a `<script type="application/json" id="tree-data">` element with every `<`, `>` and `&`
written as a JSON escape (`\\u003c`), so no step text can close the element or open a comment.
"""

from __future__ import annotations

import html
import re
from importlib import resources
from pathlib import Path

from lmzero.explain.tree_json import dumps, validate

_MARKERS = ("/*VIEWER_CSS*/", "/*VIEWER_JS*/", "__VIEWER_TITLE__", "__TREE_DATA__")


def _asset(name: str) -> str:
    return (resources.files("lmzero.explain") / "viewer" / name).read_text(encoding="utf-8")


def script_json(tree: dict) -> str:
    """The tree as JSON safe inside a <script> element.

    >>> script_json({"schema": "</script><!--"})
    '{"schema":"\\\\u003c/script\\\\u003e\\\\u003c!--"}'
    """
    return (dumps(tree).replace("&", "\\u0026").replace("<", "\\u003c")
            .replace(">", "\\u003e"))


def render_html(tree: dict) -> str:
    """The page's text. ValueError (one line) if `tree` is not a well-formed tree."""
    validate(tree)
    page = _asset("viewer.html")
    if any(page.count(m) != 1 for m in _MARKERS):
        raise RuntimeError("viewer.html lost one of its markers")
    pieces = {"/*VIEWER_CSS*/": _asset("viewer.css"),
              "/*VIEWER_JS*/": _asset("viewer.js").replace("</", "<\\/"),
              "__VIEWER_TITLE__": html.escape(str(tree.get("title", "tree"))),
              "__TREE_DATA__": script_json(tree)}
    # one pass: text pasted in (a step that reads "__TREE_DATA__") is never scanned again
    return re.sub("|".join(map(re.escape, _MARKERS)), lambda m: pieces[m.group(0)], page)


def write_html(tree: dict, path) -> None:
    """Write the viewer of `tree` to `path` atomically (temporary file + rename)."""
    from lmzero.checkpoint import write_atomic
    write_atomic(Path(path), render_html(tree).encode("utf-8"))
