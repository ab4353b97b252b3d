// The case list: re-fetch the rendered `live` section when the change stream says something changed,
// so there is no second renderer in JavaScript.
let busy = false, again = false;
async function refresh() {
  if (busy) { again = true; return; }
  busy = true;
  try {
    const r = await fetch("/fragments/cases" + window.location.search, {cache: "no-store"});
    if (r.ok) { document.getElementById("live").outerHTML = await r.text(); localTimes(); }
  } catch (e) { /* the next change or poll retries */ }
  busy = false;
  if (again) { again = false; refresh(); }
}
function connState(up) {
  const c = document.getElementById("conn");
  c.textContent = up ? "实时更新 / live" : "重新连接中 / reconnecting…";
  c.className = up ? "muted" : "muted down";
}
if (window.EventSource) {
  const es = new EventSource("/api/stream");
  es.onopen = () => connState(true);
  es.onmessage = () => refresh();
  es.onerror = () => connState(false);
} else {
  setInterval(refresh, 2000);
}
