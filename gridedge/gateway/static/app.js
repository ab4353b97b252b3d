// Installer page: polls the local API and follows its live stream. No external assets.
"use strict";

const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem("gridedge-token") || new URLSearchParams(location.hash.slice(1)).get("token");

async function api(path) {
  const response = await fetch(path, { headers: { Authorization: `Bearer ${token}` } });
  if (response.status === 401) { showLogin(); throw new Error("unauthorised"); }
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

function showLogin() {
  $("main").hidden = true;
  $("login").hidden = false;
}

function ago(ts) {
  if (ts == null) return "never";
  const s = Math.max(0, Date.now() / 1000 - ts);
  return s < 60 ? `${s.toFixed(0)} s ago` : s < 3600 ? `${(s / 60).toFixed(0)} min ago` : `${(s / 3600).toFixed(1)} h ago`;
}

function cell(row, text, cls) {
  const td = row.insertCell();
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function values(points) {
  return Object.entries(points)
    .map(([name, p]) => `${name}=${typeof p.value === "number" ? +p.value.toFixed(2) : p.value}${p.unit ? " " + p.unit : ""}`)
    .join(", ");
}

async function refreshDevices() {
  const devices = await api("/api/devices");
  const body = $("devices").tBodies[0];
  body.replaceChildren();
  for (const d of devices) {
    const row = body.insertRow();
    row.dataset.device = d.id;
    cell(row, d.id);
    cell(row, d.state.replace("_", " "), `state-${d.state}`);
    cell(row, d.address ? `${d.site}, ${d.address}` : d.site);
    cell(row, ago(d.last_seen));
    cell(row, values(d.points));
  }
  const online = devices.filter((d) => d.state === "online").length;
  $("device-count").textContent = `${online} of ${devices.length} online`;
}

async function refreshOutbox() {
  const o = await api("/api/outbox");
  $("uplink-state").textContent = o.uplink.state;
  $("uplink-state").className = `state-${o.uplink.state}`;
  $("outbox-depth").textContent = o.depth;
  $("outbox-age").textContent = o.depth ? `${o.oldest_age_s.toFixed(0)} s` : "-";
  $("uplink-published").textContent = o.uplink.published;
  $("uplink-error").textContent = o.uplink.last_error || "none";
}

function addEvent(e, atTop = true) {
  const li = document.createElement("li");
  li.className = `sev-${e.severity}`;
  const when = new Date(e.observed_at * 1000).toLocaleTimeString();
  li.textContent = `${when} ${e.status.toUpperCase()} ${e.title} (${e.category}, ${e.device_id})`;
  const list = $("events");
  atTop ? list.prepend(li) : list.append(li);
  while (list.children.length > 200) list.lastChild.remove();
}

async function refreshCameras() {
  const cameras = await api("/api/cameras");
  if (!cameras.length) return;
  const box = $("cameras");
  box.replaceChildren();
  for (const c of cameras) {
    const fig = document.createElement("figure");
    fig.className = "camera";
    const img = document.createElement("img");
    const frame = await fetch(`/api/cameras/${encodeURIComponent(c.id)}/frame.jpg`, { headers: { Authorization: `Bearer ${token}` } });
    const caption = document.createElement("figcaption");
    if (frame.ok) {
      img.src = URL.createObjectURL(await frame.blob());
      img.alt = `latest frame of ${c.id} with its zones`;
      fig.append(img);
      caption.textContent = c.id;
    } else {
      caption.textContent = `${c.id}: no frame yet`;
    }
    const capture = document.createElement("button");
    capture.type = "button";
    capture.textContent = "Capture empty scene";
    capture.title = "Use when nothing is left in view: the camera's next frame becomes its reference";
    capture.addEventListener("click", async () => {
      if (!confirm(`Is the scene of ${c.id} empty now (no goods, racks or bikes left in it)?`)) return;
      const done = await fetch(`/api/cameras/${encodeURIComponent(c.id)}/reference`, {
        method: "POST", headers: { Authorization: `Bearer ${token}` },
      });
      capture.textContent = done.ok ? "Reference requested" : `Refused (${done.status})`;
    });
    caption.append(" ", capture);
    fig.append(caption);
    box.append(fig);
  }
}

// Server-sent events through fetch, so the token travels in a header and never in a URL.
async function follow() {
  for (;;) {
    try {
      const response = await fetch("/api/stream", { headers: { Authorization: `Bearer ${token}` } });
      if (!response.ok) throw new Error(String(response.status));
      $("link").textContent = "live";
      $("link").className = "pill live";
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let kind = "message", data = "";
          for (const line of block.split("\n")) {
            if (line.startsWith("event:")) kind = line.slice(6).trim();
            else if (line.startsWith("data:")) data += line.slice(5).trim();
          }
          if (kind === "event" && data) addEvent(JSON.parse(data));
        }
      }
    } catch (err) { /* fall through to retry */ }
    $("link").textContent = "reconnecting";
    $("link").className = "pill";
    await new Promise((r) => setTimeout(r, 2000));
  }
}

async function start() {
  try {
    const health = await (await fetch("/healthz")).json();
    $("gateway-id").textContent = health.gateway_id;
    await refreshDevices();
  } catch (err) { return; }
  $("login").hidden = true;
  $("main").hidden = false;
  sessionStorage.setItem("gridedge-token", token);
  const recent = await api("/api/events?limit=50");
  $("events").replaceChildren();
  for (const e of recent) addEvent(e, false);
  await refreshOutbox();
  await refreshCameras();
  setInterval(() => { refreshDevices().catch(() => {}); refreshOutbox().catch(() => {}); }, 2000);
  follow();
}

$("login").addEventListener("submit", (ev) => {
  ev.preventDefault();
  token = $("token").value.trim();
  start();
});

if (token) start(); else showLogin();
