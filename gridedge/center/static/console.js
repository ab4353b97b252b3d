// Every console page: "due in" countdowns (times themselves are rendered on the server in the centre's
// time zone, the same for every officer), a snapshot that has not reached the centre yet replaced by a
// note saying so, and the change stream the live pages listen to.
function dueText(seconds) {
  const m = Math.round(Math.abs(seconds) / 60);
  const span = m < 120 ? m + " 分 min" : (m / 60).toFixed(1) + " 小时 h";
  return seconds >= 0 ? "还剩 due in " + span : "已超时 late by " + span;
}
function countdowns() {
  const now = Date.now() / 1000;
  document.querySelectorAll("time.due").forEach(t => {
    const left = Number(t.dataset.due) - now;
    let note = t.nextElementSibling;
    if (!note || !note.classList.contains("countdown")) {
      note = document.createElement("span");
      note.className = "countdown";
      t.after(note);
    }
    note.textContent = " (" + dueText(left) + ")";
    note.classList.toggle("late", left < 0);
  });
}
function missingSnapshot(img) {
  img.replaceWith("快照未到 / snapshot not received: " + img.dataset.sha256);
}
// Calls onChange after each change the centre announces (and once at the start); shows the stream's state.
function liveStream(onChange) {
  const conn = document.getElementById("conn");
  const state = up => {
    if (!conn) return;
    conn.textContent = up ? "实时更新 / live" : "重新连接中 / reconnecting…";
    conn.className = up ? "muted" : "muted down";
  };
  if (!window.EventSource) { setInterval(onChange, 2000); return; }
  const es = new EventSource("/api/stream");
  es.onopen = () => state(true);
  es.onmessage = () => onChange();
  es.onerror = () => state(false);
}
countdowns();
setInterval(countdowns, 30000);
document.querySelectorAll("img.snapshot").forEach(img => {
  if (img.complete && img.naturalWidth === 0) missingSnapshot(img);
  else img.addEventListener("error", () => missingSnapshot(img));
});
