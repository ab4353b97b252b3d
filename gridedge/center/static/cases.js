// The case list: when the change stream says something changed, fetch the rendered `live` section and
// patch it in: rows whose data-version is unchanged stay the same DOM nodes (a selection survives),
// changed rows are swapped, and the counts and pager are replaced. No second renderer in JavaScript.
let busy = false, again = false;
function patch(fresh) {
  const live = document.getElementById("live");
  const body = live.querySelector("#cases tbody");
  const old = new Map([...body.rows].map(r => [r.dataset.case, r]));
  const checked = new Set([...body.querySelectorAll("input[name=case]:checked")].map(i => i.value));
  const rows = [...fresh.querySelector("#cases tbody").rows].map(r => {
    const mine = old.get(r.dataset.case);
    if (mine && r.dataset.case && mine.dataset.version === r.dataset.version) return mine;
    const box = r.querySelector("input[name=case]");
    if (box && checked.has(box.value)) box.checked = true;
    return document.importNode(r, true);
  });
  body.replaceChildren(...rows);
  for (const id of ["live-head", "live-foot"]) {
    document.getElementById(id).replaceWith(document.importNode(fresh.querySelector("#" + id), true));
  }
  countdowns();
}
async function refresh() {
  if (busy) { again = true; return; }
  busy = true;
  try {
    const r = await fetch("/fragments/cases" + window.location.search, {cache: "no-store"});
    if (r.ok) {
      const doc = new DOMParser().parseFromString(await r.text(), "text/html");
      const fresh = doc.getElementById("live");
      if (fresh) patch(fresh);
    }
  } catch (e) { /* the next change or poll retries */ }
  busy = false;
  if (again) { again = false; refresh(); }
}
liveStream(refresh);
// On a phone the filters fold away under their summary, so the cases come first; a search shows them.
const tools = document.getElementById("tools");
if (tools && window.matchMedia("(max-width: 700px)").matches && !window.location.search) tools.open = false;
