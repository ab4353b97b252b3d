// The grid map: cells from the centre's GeoJSON (registered with ECharts, so no tile server is needed),
// coloured by the worst severity of their open cases and labelled with the count; redrawn on every change
// the centre announces; a click lists the cell's cases. The table under it says the same in words.
const SEVERITY_COLOURS = {critical: "#b00020", major: "#e65100", minor: "#f9a825", info: "#757575"};
const RANK = {critical: 0, major: 1, minor: 2, info: 3};
const el = document.getElementById("map");
let chart = null, features = [];

function cellOf(code, heat) {
  // A feature may be a grid (4 codes) or a larger unit: it sums every grid under its code path.
  const under = heat.filter(h => h.grid === code || h.grid.startsWith(code + "/"));
  const open = under.reduce((n, h) => n + h.open_cases, 0);
  const late = under.reduce((n, h) => n + h.escalated, 0);
  const worst = under.map(h => h.worst).filter(Boolean).sort((a, b) => RANK[a] - RANK[b])[0] || null;
  return {open, late, worst};
}

function fillTable(cells) {
  const body = document.querySelector("#cells tbody");
  body.replaceChildren(...cells.map(c => {
    const tr = document.createElement("tr");
    tr.dataset.grid = c.name;
    tr.dataset.open = c.value;
    const link = document.createElement("a");
    link.href = "/?grid=" + encodeURIComponent(c.name);
    link.textContent = c.title + " " + c.name;
    const cols = [link, String(c.value), c.worst || "-", String(c.late)];
    cols.forEach(v => { const td = document.createElement("td"); td.append(v); tr.append(td); });
    return tr;
  }));
}

async function draw() {
  if (!chart) {
    const geo = await (await fetch(el.dataset.geojson, {cache: "no-store"})).json();
    features = geo.features;
    echarts.registerMap("grid", geo);
    chart = echarts.init(el);
    window.gridMap = chart;  // for the browser tests and the curious
    chart.on("click", p => { if (p.name) window.location.href = "/?grid=" + encodeURIComponent(p.name); });
    window.addEventListener("resize", () => chart.resize());
  }
  const heat = await (await fetch(el.dataset.heat, {cache: "no-store"})).json();
  const cells = features.map(f => {
    const code = f.properties.grid, c = cellOf(code, heat);
    return {
      name: code, value: c.open, worst: c.worst, late: c.late, title: f.properties.name || code,
      itemStyle: {areaColor: c.worst ? SEVERITY_COLOURS[c.worst] : "#dfe8df"},
    };
  });
  chart.setOption({
    tooltip: {formatter: p => p.data ? `${p.data.title} ${p.name}<br>未结 open ${p.data.value} · ${p.data.worst || "-"}` : p.name},
    series: [{
      type: "map", map: "grid", nameProperty: "grid", roam: true, selectedMode: false, data: cells,
      label: {show: true, formatter: p => p.data ? `${p.data.title}\n${p.data.value}` : p.name, color: "#111", backgroundColor: "rgba(255,255,255,0.8)", padding: 2},
      itemStyle: {borderColor: "#333", borderWidth: 1},
      emphasis: {label: {show: true}, itemStyle: {areaColor: "#90caf9"}},
    }],
  });
  fillTable(cells);
  el.dataset.drawn = String(Number(el.dataset.drawn || 0) + 1);
}
let busy = false;
async function refresh() {
  if (busy) return;
  busy = true;
  try { await draw(); } catch (e) { /* the next change retries */ }
  busy = false;
}
if (el) { refresh(); liveStream(refresh); }
