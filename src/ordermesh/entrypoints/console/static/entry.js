// Order entry: refresh a line's availability as the agent types its SKU or quantity.
// The page works without this: its "Check availability" button asks the same question.
(function () {
  "use strict";
  var table = document.querySelector("[data-entry-lines]");
  if (!table) { return; }
  var timers = new WeakMap();

  function pickup() {
    var chosen = document.querySelector("input[name=method]:checked");
    var store = document.getElementById("f-pickup");
    return chosen && chosen.value === "pickup" && store ? store.value : "";
  }

  function show(cell, answer) {
    cell.textContent = "";
    var badge = document.createElement("span");
    badge.className = "badge entry-" + answer.status;
    badge.textContent = answer.label;
    cell.appendChild(badge);
    if (answer.detail) {
      var detail = document.createElement("span");
      detail.className = "muted";
      detail.textContent = " " + answer.detail;
      cell.appendChild(detail);
    }
  }

  function check(row) {
    var sku = row.querySelector("[data-sku]").value.trim();
    var qty = row.querySelector("[data-qty]").value.trim();
    var cell = row.querySelector("[data-availability]");
    if (!sku) { cell.textContent = ""; return; }
    var query = new URLSearchParams({ sku: sku, qty: qty || "1" });
    if (pickup()) { query.set("pickup", pickup()); }
    fetch("/console/availability?" + query.toString(), {
      credentials: "same-origin", headers: { Accept: "application/json" }
    }).then(function (response) {
      var type = response.headers.get("content-type") || "";
      if (!response.ok || type.indexOf("application/json") !== 0) { throw new Error("no answer"); }
      return response.json();
    }).then(function (answer) { show(cell, answer); })
      .catch(function () { cell.textContent = "Could not check: use Check availability"; });
  }

  table.addEventListener("input", function (event) {
    var row = event.target.closest("tr");
    if (!row || !(event.target.matches("[data-sku]") || event.target.matches("[data-qty]"))) {
      return;
    }
    clearTimeout(timers.get(row));
    timers.set(row, setTimeout(function () { check(row); }, 350));
  });
})();
