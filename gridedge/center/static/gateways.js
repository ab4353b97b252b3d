// The gateways page: sort by any column (the order is kept across live refreshes), refresh on changes.
let sortKey = "state", ascending = true, busy = false;
function sortRows() {
  const table = document.getElementById("gateways");
  if (!table) return;
  const col = [...table.tHead.rows[0].cells].findIndex(th => th.dataset.key === sortKey);
  const body = table.tBodies[0];
  const rows = [...body.rows].filter(r => r.dataset.gateway);
  const value = r => r.cells[col].dataset.sort;
  const numeric = rows.every(r => value(r) !== "" && !isNaN(Number(value(r))));
  rows.sort((a, b) => {
    const x = numeric ? Number(value(a)) - Number(value(b)) : value(a).localeCompare(value(b));
    return ascending ? x : -x;
  });
  body.replaceChildren(...rows, ...[...body.rows].filter(r => !r.dataset.gateway));
  table.tHead.querySelectorAll("th").forEach(th => {
    th.setAttribute("aria-sort", th.dataset.key === sortKey ? (ascending ? "ascending" : "descending") : "none");
  });
}
document.addEventListener("click", e => {
  const th = e.target.closest("#gateways th[data-key]");
  if (!th) return;
  ascending = th.dataset.key === sortKey ? !ascending : true;
  sortKey = th.dataset.key;
  sortRows();
});
async function refresh() {
  if (busy) return;
  busy = true;
  try {
    const r = await fetch("/fragments/gateways", {cache: "no-store"});
    if (r.ok) {
      const doc = new DOMParser().parseFromString(await r.text(), "text/html");
      const fresh = doc.getElementById("gateways-live");
      if (fresh) { document.getElementById("gateways-live").replaceWith(document.importNode(fresh, true)); sortRows(); }
    }
  } catch (e) { /* next change retries */ }
  busy = false;
}
sortRows();
liveStream(refresh);
// Offline is a time: a gateway's state may change with no event at all, so look again now and then too.
setInterval(refresh, 5000);
