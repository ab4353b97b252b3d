// Every console page: times shown in the officer's local time (the markup carries UTC), and a
// snapshot that has not reached the centre yet replaced by a note saying so.
function localTimes() {
  document.querySelectorAll("time").forEach(t => { t.textContent = new Date(t.dateTime).toLocaleString(); });
}
function missingSnapshot(img) {
  img.replaceWith("快照未到 / snapshot not received: " + img.dataset.sha256);
}
localTimes();
document.querySelectorAll("img.snapshot").forEach(img => {
  if (img.complete && img.naturalWidth === 0) missingSnapshot(img);
  else img.addEventListener("error", () => missingSnapshot(img));
});
