// qg dashboard: refresh the overview's counts from counts.json. It only
// sets textContent, never HTML. Without JavaScript the page shows the same
// counts as of its load.
(function () {
  "use strict";
  var table = document.getElementById("overview");
  if (!table || !window.fetch) { return; }
  var every = parseInt(table.getAttribute("data-refresh"), 10);
  var src = table.getAttribute("data-src");
  if (!(every > 0) || !src) { return; }
  var fields = ["ready", "scheduled", "working", "failing", "given_up", "expired", "finished", "other_version", "oldest_ready"];
  function key(queue, cls, total) { return (total ? "T" : "R") + JSON.stringify([queue, cls]); }
  function apply(doc) {
    var byKey = {};
    doc.rows.forEach(function (r) { byKey[key(r.queue, r.class, r.total)] = r; });
    var rows = table.querySelectorAll("tr[data-queue]");
    for (var i = 0; i < rows.length; i++) {
      var tr = rows[i];
      var r = byKey[key(tr.getAttribute("data-queue"), tr.getAttribute("data-class"), tr.hasAttribute("data-total"))];
      fields.forEach(function (f) {
        var td = tr.querySelector('td[data-field="' + f + '"]');
        if (td) { td.textContent = r ? String(r[f]) : (f === "oldest_ready" ? "\u2013" : "0"); }
      });
    }
    var at = document.getElementById("counted-at");
    if (at) { at.textContent = doc.at; }
  }
  function tick() {
    fetch(src, { credentials: "same-origin", cache: "no-store" })
      .then(function (res) { return res.ok ? res.json() : null; })
      .then(function (doc) { if (doc) { apply(doc); } })
      .catch(function () {})
      .then(function () { setTimeout(tick, every); });
  }
  setTimeout(tick, every);
})();
