// Filtering by verdict/role/text and expanding evidence rows. Without JS every
// detail row stays visible, so the report is complete either way. Sets
// data-ready="1" on the root when done; check-html.sh relies on that.
(function () {
  "use strict";
  var root = document.getElementById("m2mspec-report");
  if (!root) { return; }
  root.classList.add("js");
  var rows = Array.prototype.slice.call(root.querySelectorAll("tr.case"));
  var chips = Array.prototype.slice.call(root.querySelectorAll("button.chip"));
  var role = document.getElementById("f-role");
  var text = document.getElementById("f-text");
  var count = document.getElementById("f-count");
  var none = document.getElementById("f-none");
  var texts = rows.map(function (r) { return r.textContent.toLowerCase(); });

  function detail(row) { return document.getElementById(row.getAttribute("data-detail")); }
  function setOpen(row, open) {
    row.classList.toggle("open", open);
    row.setAttribute("aria-expanded", open ? "true" : "false");
    var d = detail(row);
    if (d) { d.classList.toggle("open", open); }
  }
  function apply() {
    var on = {};
    chips.forEach(function (c) {
      if (c.getAttribute("aria-pressed") === "true") { on[c.getAttribute("data-verdict")] = true; }
    });
    var r = role ? role.value : "";
    var q = text ? text.value.trim().toLowerCase() : "";
    var shown = 0;
    rows.forEach(function (row, i) {
      var ok = on[row.getAttribute("data-verdict")] === true;
      if (ok && r !== "") { ok = row.getAttribute("data-role") === r; }
      if (ok && q !== "") { ok = texts[i].indexOf(q) !== -1; }
      row.classList.toggle("off", !ok);
      var d = detail(row);
      if (d) { d.classList.toggle("off", !ok); }
      if (ok) { shown += 1; }
    });
    if (count) { count.textContent = String(shown); }
    if (none) { none.classList.toggle("off", shown !== 0 || rows.length === 0); }
  }
  function setChips(pred) {
    chips.forEach(function (c) { c.setAttribute("aria-pressed", pred(c.getAttribute("data-verdict")) ? "true" : "false"); });
    apply();
  }
  rows.forEach(function (row) {
    row.addEventListener("click", function () {
      var sel = window.getSelection ? String(window.getSelection()) : "";
      if (sel !== "") { return; }
      setOpen(row, !row.classList.contains("open"));
    });
    row.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" || ev.key === " ") {
        ev.preventDefault();
        setOpen(row, !row.classList.contains("open"));
      }
    });
  });
  chips.forEach(function (c) {
    c.addEventListener("click", function () {
      c.setAttribute("aria-pressed", c.getAttribute("aria-pressed") === "true" ? "false" : "true");
      apply();
    });
  });
  function on(id, ev, fn) { var el = document.getElementById(id); if (el) { el.addEventListener(ev, fn); } }
  on("f-role", "change", apply);
  on("f-text", "input", apply);
  on("f-problems", "click", function () { setChips(function (v) { return v !== "pass" && v !== "skipped"; }); });
  on("f-all", "click", function () { setChips(function () { return true; }); });
  on("f-expand", "click", function () {
    rows.forEach(function (row) { if (!row.classList.contains("off")) { setOpen(row, true); } });
  });
  on("f-collapse", "click", function () { rows.forEach(function (row) { setOpen(row, false); }); });
  apply();
  root.setAttribute("data-ready", "1");
}());
