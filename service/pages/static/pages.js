// ftmatrix pages: keyboard navigation of the grids and panels opened in place. Every page
// works without this file: cells are links to URLs that render the same panel on the server.
(function () {
  "use strict";

  function cellsOf(grid) {
    return Array.prototype.map.call(grid.tBodies[0] ? grid.tBodies[0].rows : [], function (row) {
      return Array.prototype.map.call(row.cells, function (cell) {
        return cell.querySelector("a.cell");
      });
    });
  }

  // Roving tabindex (WAI-ARIA grid pattern): one tab stop for the grid, arrow keys inside it.
  function setupGrid(grid) {
    var rows = cellsOf(grid);
    var links = grid.querySelectorAll("a.cell");
    if (!links.length) return;
    var start = grid.querySelector("td.open a.cell") || links[0];
    Array.prototype.forEach.call(links, function (link) {
      link.tabIndex = link === start ? 0 : -1;
    });
    grid.addEventListener("keydown", function (event) {
      var target = event.target;
      if (!target.classList || !target.classList.contains("cell")) return;
      var r = -1, c = -1;
      rows.forEach(function (row, i) {
        var j = row.indexOf(target);
        if (j >= 0) { r = i; c = j; }
      });
      if (r < 0) return;
      var moves = {
        ArrowRight: [0, 1], ArrowLeft: [0, -1], ArrowDown: [1, 0], ArrowUp: [-1, 0]
      };
      var next = null;
      if (moves[event.key]) {
        var dr = moves[event.key][0], dc = moves[event.key][1];
        var i = r + dr, j = c + dc;
        while (i >= 0 && i < rows.length && j >= 0 && j < rows[i].length) {
          if (rows[i][j]) { next = rows[i][j]; break; }
          i += dr; j += dc;
        }
      } else if (event.key === "Home") {
        next = (event.ctrlKey ? rows[0] : rows[r]).filter(Boolean)[0];
      } else if (event.key === "End") {
        var row = (event.ctrlKey ? rows[rows.length - 1] : rows[r]).filter(Boolean);
        next = row[row.length - 1];
      } else if (event.key === " ") {
        event.preventDefault();
        target.click();
        return;
      } else {
        return;
      }
      event.preventDefault();
      if (next) {
        target.tabIndex = -1;
        next.tabIndex = 0;
        next.focus();
      }
    });
  }

  function setupPanel() {
    var panel = document.getElementById("panel");
    if (!panel) return;
    var body = document.getElementById("panel-body");
    var close = panel.querySelector("[data-close]");
    var opener = null;

    function shut(event) {
      if (event) event.preventDefault();
      panel.hidden = true;
      panel.parentNode.classList.remove("with-panel");
      var open = document.querySelector("td.open");
      if (open) open.classList.remove("open");
      if (close) history.replaceState(null, "", close.getAttribute("href"));
      var back = opener || document.querySelector("a.cell[tabindex='0']");
      if (back) back.focus();
    }

    document.addEventListener("click", function (event) {
      var link = event.target.closest && event.target.closest("a.cell[data-panel]");
      if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
      event.preventDefault();
      opener = link;
      fetch(link.getAttribute("data-panel"), { headers: { Accept: "text/html" } })
        .then(function (response) {
          if (!response.ok) throw new Error(String(response.status));
          return response.text();
        })
        .then(function (text) {
          var doc = new DOMParser().parseFromString(text, "text/html");
          var found = doc.getElementById("panel-body");
          if (!found) throw new Error("no panel");
          body.innerHTML = found.innerHTML;
          var open = document.querySelector("td.open");
          if (open) open.classList.remove("open");
          link.parentNode.classList.add("open");
          panel.hidden = false;
          panel.parentNode.classList.add("with-panel");
          history.replaceState(null, "", link.getAttribute("href").split("#")[0]);
          panel.focus();
        })
        .catch(function () { window.location.href = link.href; });
    });
    if (close) close.addEventListener("click", shut);
    panel.addEventListener("keydown", function (event) {
      if (event.key === "Escape") shut(event);
    });
    if (!panel.hidden && window.location.hash === "#panel") panel.focus();
  }

  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("[data-grid]"), setupGrid);
    setupPanel();
  });
})();
