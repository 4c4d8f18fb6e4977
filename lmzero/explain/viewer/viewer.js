/* lmzero tree viewer: plain script over one "lmzero-tree/1" object (docs/trees.md).

   The tree is rendered lazily: a node's children exist in the DOM only while it is expanded
   (the root and the principal variation are expanded at load), so trees of thousands of nodes
   open at once. Hooks for tests and scripts: every rendered node is a `.node[data-id]`; the
   root's children sit in `#root-children`; PV nodes carry `.pv`, the answer node `.answer`, the
   clicked one `.selected`; each node's first button is its `.toggle` (disabled at a leaf);
   `#wave` is the wave slider (absent without wave data); `window.viewerReady` turns true after
   the first render, with `window.viewerRenderMs` (ms since navigation start). */
"use strict";
(function () {
  var PAGE = 200;  // children rendered at once; a "show more" button adds the next ones
  var data = JSON.parse(document.getElementById("tree-data").textContent);
  var nodes = data.nodes;
  var isGame = data.kind === "game";
  var kids = nodes.map(function () { return []; });
  nodes.forEach(function (n) { if (n.parent !== null) kids[n.parent].push(n.id); });
  kids.forEach(function (list) {  // most visited first, then creation order
    list.sort(function (a, b) { return nodes[b].visits - nodes[a].visits || a - b; });
  });
  var onPv = new Set(data.pv);
  var hasWaves = data.waves > 0 && nodes.every(function (n) { return n.wave !== null; });
  var last = data.pv[data.pv.length - 1];
  var view = {
    wave: data.waves,  // nodes born after this wave are hidden
    expanded: new Set(data.pv),
    selected: data.answer !== null ? data.answer : last
  };
  var treeEl = document.getElementById("tree");
  var boards = {};  // node id -> parsed board grid (or null), computed on first use

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function fmt(x, signed) {
    if (x === null || x === undefined) return "\u2013";
    var s = Number(x).toFixed(3);
    return signed && x > 0 ? "+" + s : s;
  }

  function humanName(key) { return key.replace(/_/g, " "); }

  function visibleKids(id) {
    if (!hasWaves) return kids[id];
    return kids[id].filter(function (k) { return nodes[k].wave <= view.wave; });
  }

  function label(n) {
    if (n.parent === null) return isGame ? "root position" : data.title;
    return isGame ? "move " + n.step : n.step;
  }

  function depthOf(id) {
    var d = 0;
    while (nodes[id].parent !== null) { id = nodes[id].parent; d += 1; }
    return d;
  }

  function pathTo(id) {
    var path = [];
    for (var n = id; n !== null; n = nodes[n].parent) path.push(n);
    return path.reverse();
  }

  /* ---------------------------------------------------------------- boards (games) */

  function parsedBoard(id) {
    if (id in boards) return boards[id];
    var lines = nodes[id].board, rows = [];
    (lines || []).forEach(function (line) {
      var t = line.trim();
      var cells = t.indexOf(" ") >= 0 ? t.split(/\s+/) : t.split("");
      var ok = cells.length > 0 && cells.every(function (c) {
        return c === "X" || c === "O" || c === ".";
      });
      if (ok) rows.push(cells);
    });
    var same = rows.length > 0 && rows.every(function (r) { return r.length === rows[0].length; });
    boards[id] = same ? rows : null;
    return boards[id];
  }

  function lastMoveCell(id) {
    var parent = nodes[id].parent;
    if (parent === null) return null;
    var now = parsedBoard(id), before = parsedBoard(parent);
    if (!now || !before || now.length !== before.length) return null;
    for (var r = 0; r < now.length; r++) {
      for (var c = 0; c < now[r].length; c++) {
        if (now[r][c] !== "." && before[r][c] === ".") return [r, c];
      }
    }
    return null;
  }

  function boardEl(id, cls) {
    var grid = parsedBoard(id);
    if (!grid) return el("pre", "board-text " + cls, (nodes[id].board || []).join("\n"));
    var box = el("div", "board " + cls);
    box.style.gridTemplateColumns = "repeat(" + grid[0].length + ", 1fr)";
    var lastCell = lastMoveCell(id);
    grid.forEach(function (row, r) {
      row.forEach(function (c, col) {
        var cell = el("span", "cell " + (c === "X" ? "x" : c === "O" ? "o" : "e"));
        if (lastCell && lastCell[0] === r && lastCell[1] === col) cell.className += " last";
        box.appendChild(cell);
      });
    });
    return box;
  }

  /* ---------------------------------------------------------------- the tree */

  function badges(n, id) {
    var box = el("span", "badges");
    if (id === data.answer) box.appendChild(el("span", "badge answer-badge", "answer"));
    if (n.closed) {
      box.appendChild(el("span", "badge closed-" + n.closed.replace(/ /g, "-"), n.closed));
    } else if (n.terminal) {
      box.appendChild(el("span", "badge terminal-badge", "terminal"));
    }
    return box;
  }

  function stat(box, name, value, title) {  // an empty value keeps the column, blank
    var s = el("span", "stat");
    s.title = title;
    if (value !== "") {
      s.appendChild(el("b", null, name));
      s.appendChild(document.createTextNode(" " + value));
    }
    box.appendChild(s);
  }

  function stats(n) {
    var box = el("span", "stats");
    var parentVisits = n.parent === null ? n.visits : nodes[n.parent].visits;
    var bar = el("span", "bar");
    bar.title = "share of the parent's visits";
    var fill = el("span", "fill");
    fill.style.width = (parentVisits ? 100 * n.visits / parentVisits : 0).toFixed(1) + "%";
    bar.appendChild(fill);
    box.appendChild(bar);
    stat(box, "N", n.visits, "visits");
    stat(box, "Q", fmt(n.q, isGame), "mean backed-up value");
    stat(box, "P", fmt(n.prior), "prior");
    stat(box, "V", fmt(n.value, isGame), "the model's own value");
    stat(box, "r", n.terminal ? fmt(n.reward, isGame) : "", "reward (terminal nodes)");
    if (!isGame) stat(box, "tok", n.tokens ? n.tokens : "", "tokens spent on this node's requests");
    return box;
  }

  function renderNode(id) {
    var n = nodes[id];
    var box = el("div", "node");
    box.dataset.id = id;
    box.setAttribute("role", "treeitem");
    if (onPv.has(id)) box.classList.add("pv");
    if (id === data.answer) box.classList.add("answer");
    if (n.terminal) box.classList.add("terminal");
    if (id === view.selected) box.classList.add("selected");
    var row = el("div", "row");
    var count = visibleKids(id).length;
    var toggle = el("button", "toggle", count ? "\u25b8" : "\u00b7");
    toggle.type = "button";
    toggle.disabled = count === 0;
    toggle.title = count ? count + (count === 1 ? " child" : " children") : "no children";
    toggle.setAttribute("aria-expanded", "false");
    row.appendChild(toggle);
    var main = el("span", "main");
    if (isGame && n.board) main.appendChild(boardEl(id, "mini"));
    main.appendChild(el("span", n.parent === null ? "step root-label" : "step", label(n)));
    if (count) main.appendChild(el("span", "count", count));
    main.appendChild(badges(n, id));
    row.appendChild(main);
    row.appendChild(stats(n));
    box.appendChild(row);
    if (count && view.expanded.has(id)) expand(box, id);
    return box;
  }

  function appendKids(container, list, from) {
    var end = Math.min(list.length, from + PAGE);
    for (var i = from; i < end; i++) container.appendChild(renderNode(list[i]));
    if (end < list.length) {
      var rest = list.length - end;
      var more = el("button", "more", "show " + Math.min(PAGE, rest) + " more of " + rest);
      more.type = "button";
      more.addEventListener("click", function (ev) {
        ev.stopPropagation();
        more.remove();
        appendKids(container, list, end);
      });
      container.appendChild(more);
    }
  }

  function expand(box, id) {
    var container = el("div", "children");
    container.setAttribute("role", "group");
    if (id === 0) container.id = "root-children";
    appendKids(container, visibleKids(id), 0);
    box.appendChild(container);
    box.classList.add("open");
    var toggle = box.querySelector(":scope > .row > .toggle");
    toggle.textContent = "\u25be";
    toggle.setAttribute("aria-expanded", "true");
    view.expanded.add(id);
  }

  function collapse(box, id) {
    var container = box.querySelector(":scope > .children");
    if (container) container.remove();
    box.classList.remove("open");
    var toggle = box.querySelector(":scope > .row > .toggle");
    toggle.textContent = "\u25b8";
    toggle.setAttribute("aria-expanded", "false");
    view.expanded.delete(id);
  }

  function nodeBox(id) { return treeEl.querySelector('.node[data-id="' + id + '"]'); }

  function renderTree() {
    treeEl.textContent = "";
    view.expanded.add(0);
    treeEl.appendChild(renderNode(0));
  }

  /* Expand the ancestors of `id` so that it is in the DOM, then select it. */
  function reveal(id) {
    pathTo(id).slice(0, -1).forEach(function (a) {
      var box = nodeBox(a);
      if (box && !box.classList.contains("open") && visibleKids(a).length) expand(box, a);
    });
    select(id);
    var box = nodeBox(id);
    if (box) box.scrollIntoView({ block: "nearest" });
  }

  function select(id) {
    var old = treeEl.querySelector(".node.selected");
    if (old) old.classList.remove("selected");
    var box = nodeBox(id);
    if (box) box.classList.add("selected");
    view.selected = id;
    showDetails(id);
  }

  treeEl.addEventListener("click", function (ev) {
    if (ev.target.closest(".more")) return;
    var box = ev.target.closest(".node");
    if (!box) return;
    var id = Number(box.dataset.id);
    if (ev.target.closest(".toggle")) {
      if (box.classList.contains("open")) collapse(box, id); else expand(box, id);
      return;
    }
    select(id);
  });

  /* ---------------------------------------------------------------- details panel */

  function fieldTable(rows) {
    var table = el("table", "fields");
    rows.forEach(function (r) {
      var tr = el("tr");
      tr.appendChild(el("th", null, r[0]));
      tr.appendChild(el("td", null, r[1]));
      table.appendChild(tr);
    });
    return table;
  }

  function showDetails(id) {
    var n = nodes[id], pane = document.getElementById("details");
    pane.textContent = "";
    var head = el("div", "details-head");
    head.appendChild(el("h2", null, n.parent === null ? "root (node 0)" : "node " + id));
    head.appendChild(badges(n, id));
    if (onPv.has(id)) head.appendChild(el("span", "badge pv-badge", "principal variation"));
    pane.appendChild(head);
    if (isGame && n.board) {
      var holder = el("div", "board-holder");
      holder.appendChild(boardEl(id, "big"));
      var grid = parsedBoard(id);
      if (grid) {
        var cols = el("div", "board-cols");
        cols.style.gridTemplateColumns = "repeat(" + grid[0].length + ", 1fr)";
        for (var c = 1; c <= grid[0].length; c++) cols.appendChild(el("span", null, c));
        holder.appendChild(cols);
      }
      pane.appendChild(holder);
    }
    var path = pathTo(id);
    pane.appendChild(el("h3", null, isGame ? "moves from the root" : "steps from the root"));
    if (isGame) {
      var moves = path.slice(1).map(function (k) { return nodes[k].step; }).join(" ");
      pane.appendChild(el("p", "moves", moves || "(none: the root)"));
    } else {
      var ol = el("ol", "path");
      path.slice(1).forEach(function (k) { ol.appendChild(el("li", null, nodes[k].step)); });
      if (path.length === 1) pane.appendChild(el("p", "muted", "(none: the root)"));
      else pane.appendChild(ol);
    }
    var rows = [["visits", n.visits], ["Q (mean value)", fmt(n.q, isGame)],
                ["prior", fmt(n.prior)], ["value (model)", fmt(n.value, isGame)]];
    if (n.terminal) rows.push(["reward", fmt(n.reward, isGame)]);
    rows.push(["terminal", n.terminal ? "yes" : "no"], ["closed", n.closed || "open"]);
    if (n.tokens !== null) rows.push(["tokens", n.tokens]);
    if (n.wave !== null) rows.push(["born in wave", n.wave]);
    rows.push(["depth", depthOf(id)], ["children", kids[id].length]);
    pane.appendChild(fieldTable(rows));
    pane.appendChild(el("p", "muted", isGame
      ? "Values are for the player who made the move into this node (+1 a win, -1 a loss)."
      : "Values are solve probabilities in [0, 1]: the model's estimate (V), the mean of the " +
        "values backed up through the node (Q), the verifier's reward at terminals."));
    if (kids[id].length) pane.appendChild(childTable(id));
  }

  function childTable(id) {
    var box = el("div");
    box.appendChild(el("h3", null, "children (most visited first)"));
    var table = el("table", "children-table");
    var head = el("tr");
    [isGame ? "move" : "step", "N", "Q", "P"].forEach(function (h) {
      head.appendChild(el("th", null, h));
    });
    table.appendChild(head);
    kids[id].slice(0, 24).forEach(function (k) {
      var n = nodes[k], tr = el("tr", onPv.has(k) ? "pv-row" : null);
      tr.appendChild(el("td", "step", isGame ? n.step : n.step));
      tr.appendChild(el("td", null, n.visits));
      tr.appendChild(el("td", null, fmt(n.q, isGame)));
      tr.appendChild(el("td", null, fmt(n.prior)));
      tr.addEventListener("click", function () { reveal(k); });
      table.appendChild(tr);
    });
    box.appendChild(table);
    if (kids[id].length > 24) box.appendChild(el("p", "muted", (kids[id].length - 24) + " more"));
    return box;
  }

  /* ---------------------------------------------------------------- header and toolbar */

  function header() {
    var h = document.getElementById("header");
    var top = el("div", "title-row");
    top.appendChild(el("h1", null, data.title));
    top.appendChild(el("span", "kind", data.kind === "game" ? "game search" : "step search"));
    h.appendChild(top);
    if (data.summary) h.appendChild(el("p", "summary", data.summary));
    var budget = el("div", "budget");
    Object.keys(data.budget).forEach(function (key) {
      var v = data.budget[key];
      if (v === null || typeof v === "object") return;
      var chip = el("span", "chip");
      var shown = typeof v !== "number" ? v : key === "seconds" ? v.toFixed(1)
        : v.toLocaleString("en");
      chip.appendChild(el("b", null, shown));
      chip.appendChild(document.createTextNode(" " + humanName(key)));
      budget.appendChild(chip);
    });
    var chip = el("span", "chip");
    chip.appendChild(el("b", null, nodes.length.toLocaleString("en")));
    chip.appendChild(document.createTextNode(" nodes"));
    budget.appendChild(chip);
    h.appendChild(budget);
    var settings = el("details", "settings");
    settings.appendChild(el("summary", null, "search settings"));
    var grid = el("div", "settings-grid");
    Object.keys(data.settings).forEach(function (key) {
      var v = data.settings[key], item = el("span", "setting");
      item.appendChild(el("span", "k", key));
      item.appendChild(el("span", "v", v !== null && typeof v === "object"
        ? JSON.stringify(v) : String(v)));
      grid.appendChild(item);
    });
    settings.appendChild(grid);
    h.appendChild(settings);
  }

  function toolbar() {
    var bar = document.getElementById("toolbar");
    var pvButton = el("button", "tool", "Show principal variation");
    pvButton.type = "button";
    pvButton.id = "show-pv";
    pvButton.addEventListener("click", function () {
      data.pv.forEach(function (id) { view.expanded.add(id); });
      renderTree();
      reveal(last);
    });
    var collapseButton = el("button", "tool", "Collapse all");
    collapseButton.type = "button";
    collapseButton.id = "collapse-all";
    collapseButton.addEventListener("click", function () {
      view.expanded = new Set([0]);
      renderTree();
    });
    bar.appendChild(pvButton);
    bar.appendChild(collapseButton);
    if (hasWaves) bar.appendChild(slider());
    else bar.appendChild(el("span", "muted", "no wave data: the tree as the search left it"));
    var legend = el("span", "legend");
    legend.appendChild(el("span", "key pv-key", "principal variation"));
    legend.appendChild(el("span", "badge answer-badge", "answer"));
    legend.appendChild(el("span", "muted", "N visits \u00b7 Q mean value \u00b7 P prior " +
      "\u00b7 V model value \u00b7 r reward" + (isGame ? "" : " \u00b7 tok tokens")));
    bar.appendChild(legend);
  }

  function slider() {
    var born = new Array(data.waves + 1).fill(0);  // nodes born in each wave
    nodes.forEach(function (n) { born[Math.min(n.wave, data.waves)] += 1; });
    for (var w = 1; w <= data.waves; w++) born[w] += born[w - 1];
    var box = el("label", "wave");
    box.appendChild(el("span", null, "wave"));
    var range = el("input");
    range.type = "range";
    range.id = "wave";
    range.min = 0;
    range.max = data.waves;
    range.value = data.waves;
    box.appendChild(range);
    var text = el("span", "wave-label");
    box.appendChild(text);
    function describe() {
      text.textContent = "after wave " + view.wave + " of " + data.waves + ": " +
        born[view.wave].toLocaleString("en") + " of " + nodes.length.toLocaleString("en") +
        " nodes (statistics are the final ones)";
    }
    range.addEventListener("input", function () {
      view.wave = Number(range.value);
      describe();
      renderTree();
    });
    describe();
    return box;
  }

  header();
  toolbar();
  renderTree();
  showDetails(view.selected);
  window.viewerRenderMs = performance.now();
  window.viewerReady = true;
})();
