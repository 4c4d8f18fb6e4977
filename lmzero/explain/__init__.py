"""Explaining a search: its tree as data ("lmzero-tree/1" JSON) and as a page to browse.

    step_search result ──► step_tree_json ─┐
                                           ├─► tree dict ─► write_tree_json (FILE.json)
    game search result ──► game_tree_json ─┘       │  ◄──── read_tree_json (validated)
                                                   └──────► write_html (one offline page:
                                                            viewer/ and the data inline)

`docs/trees.md` describes every field of the schema and what the viewer shows.
"""

from lmzero.explain.html import render_html, write_html
from lmzero.explain.tree_json import (SCHEMA, game_tree_json, read_tree_json, step_tree_json,
                                      validate, write_tree_json)

__all__ = ["SCHEMA", "game_tree_json", "read_tree_json", "render_html", "step_tree_json",
           "validate", "write_html", "write_tree_json"]
