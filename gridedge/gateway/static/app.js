// Installer page: polls the local API and follows its live stream. No external assets.
"use strict";

const $ = (id) => document.getElementById(id);
// The token is typed into the form and kept for this tab only; never taken from the URL, which history keeps.
let token = sessionStorage.getItem("gridedge-token");
if (location.hash) history.replaceState(null, "", location.pathname + location.search);

async function api(path, body, method) {
  const init = { method: method || "GET", headers: { Authorization: `Bearer ${token}` } };
  if (body !== undefined) {
    init.method = method || "POST";
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (response.status === 401) { showLogin(); throw new Error("unauthorised"); }
  if (!response.ok) {
    let detail = "";
    try { detail = JSON.stringify((await response.json()).detail); } catch (e) { /* not JSON */ }
    throw new Error(`${response.status} ${detail}`);
  }
  return response.json();
}

function showLogin() {
  $("main").hidden = true;
  $("login").hidden = false;
}

function ago(ts) {
  if (ts == null) return "从未 never";
  const s = Math.max(0, Date.now() / 1000 - ts);
  return s < 60 ? `${s.toFixed(0)} 秒前 s ago` : s < 3600 ? `${(s / 60).toFixed(0)} 分钟前 min ago` : `${(s / 3600).toFixed(1)} 小时前 h ago`;
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
  $("device-count").textContent = `${online} / ${devices.length} 在线 online`;
  const choice = $("silence-device");
  if (choice.options.length !== devices.length + 1) {
    choice.replaceChildren(new Option("-", ""), ...devices.map((d) => new Option(d.id, d.id)));
  }
  const tested = $("sample-device");
  if (tested.options.length !== devices.length) {
    tested.replaceChildren(...devices.map((d) => new Option(`${d.id} (${d.profile})`, d.id)));
  }
}

async function refreshOutbox() {
  const o = await api("/api/outbox");
  $("uplink-state").textContent = o.uplink.state;
  $("uplink-state").className = `state-${o.uplink.state}`;
  $("outbox-depth").textContent = o.depth;
  $("outbox-age").textContent = o.depth ? `${o.oldest_age_s.toFixed(0)} s` : "-";
  $("uplink-published").textContent = o.uplink.published;
  $("uplink-error").textContent = o.uplink.last_error || "无 none";
}

async function refreshSilences() {
  const silences = await api("/api/silences");
  const list = $("silences");
  list.replaceChildren();
  for (const s of silences) {
    const li = document.createElement("li");
    const what = [s.rule && `规则 rule ${s.rule}`, s.device && `设备 device ${s.device}`, s.site && `场所 site ${s.site}`].filter(Boolean).join(", ");
    li.textContent = `${what} · 至 until ${new Date(s.ends_at * 1000).toLocaleString()}${s.author ? " · " + s.author : ""}${s.reason ? ": " + s.reason : ""}${s.from_pack ? " (规则包 from the rule pack)" : ""} `;
    if (!s.from_pack && s.id) {
      const end = document.createElement("button");
      end.type = "button";
      end.textContent = "结束 End now";
      end.addEventListener("click", async () => {
        await api(`/api/silences/${encodeURIComponent(s.id)}`, undefined, "DELETE");
        await refreshSilences();
      });
      li.append(end);
    }
    list.append(li);
  }
  if (!silences.length) list.innerHTML = '<li class="hint">无 none</li>';
}

$("reload").addEventListener("click", async () => {
  $("reload-result").textContent = "…";
  try {
    const done = await api("/api/config/reload", {});
    const d = done.detail || {};
    $("reload-result").textContent = `已重新加载 reloaded: 设备 devices ${d.reload_devices ? "✓" : "✗ (见日志 see log)"}, 规则 rules ${d.reload_rules ? "✓" : "✗ (见日志 see log)"}`;
    await refreshDevices();
    await refreshSilences();
  } catch (err) { $("reload-result").textContent = `失败 failed: ${err.message}`; }
});

$("silence").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const minutes = Number($("silence-minutes").value);
  const body = {
    device: $("silence-device").value || null,
    site: $("silence-site").value.trim() || null,
    ends_at: new Date(Date.now() + minutes * 60000).toISOString(),
    reason: $("silence-reason").value.trim(),
    author: $("silence-author").value.trim(),
  };
  try {
    await api("/api/silences", body);
    $("silence-result").textContent = "已静默 silenced";
    await refreshSilences();
  } catch (err) { $("silence-result").textContent = `未静默 refused: ${err.message}`; }
});

$("sample").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const device = $("sample-device").value;
  const body = { payload: $("sample-payload").value, encoding: $("sample-encoding").value };
  try {
    const r = await api(`/api/devices/${encodeURIComponent(device)}/test`, body);
    const lines = r.readings.map((x) => `${x.point} = ${JSON.stringify(x.value)}${x.unit ? " " + x.unit : ""} (${x.quality})`);
    if (r.device_time) lines.push(`设备时间 device time ${new Date(r.device_time * 1000).toISOString()}`);
    for (const p of r.problems) lines.push(`问题 problem: ${p}`);
    if (r.absent.length) lines.push(`缺少 absent: ${r.absent.join(", ")}`);
    $("sample-result").textContent = lines.join("\n") || "无读数 no readings";
  } catch (err) { $("sample-result").textContent = `未解码 refused: ${err.message}`; }
});

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
      img.alt = `${c.id} 最新画面 latest frame with its zones`;
      fig.append(img);
      caption.textContent = c.id;
    } else {
      caption.textContent = `${c.id}: 尚无画面 no frame yet`;
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
      $("link").textContent = "实时 live";
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
    $("link").textContent = "重新连接中 reconnecting";
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
  await refreshSilences();
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
