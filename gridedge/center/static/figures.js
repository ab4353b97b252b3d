// The evaluation figures as charts: disposal and on-time rates per unit and per grid, beside the tables.
async function drawFigures() {
  const query = new URLSearchParams(window.location.search);
  const params = new URLSearchParams();
  for (const k of ["since", "until"]) if (query.get(k)) params.set(k, query.get(k) + "T00:00:00Z");
  const figures = await (await fetch("/api/figures?" + params, {cache: "no-store"})).json();
  for (const by of ["unit", "grid"]) {
    const el = document.getElementById("chart-" + by);
    if (!el) continue;
    const rows = figures.filter(f => f.by === by);
    const pct = v => v === null ? null : Math.round(v * 1000) / 10;
    const chart = echarts.init(el);
    chart.setOption({
      tooltip: {trigger: "axis"},
      legend: {top: 0},
      grid: {left: 40, right: 40, top: 40, bottom: 30, containLabel: true},
      xAxis: {type: "category", data: rows.map(f => f.key)},
      yAxis: [{type: "value", name: "%", max: 100}, {type: "value", name: "件 cases", minInterval: 1}],
      series: [
        {name: "处置率 disposal %", type: "bar", data: rows.map(f => pct(f.disposal_rate))},
        {name: "按时率 on-time %", type: "bar", data: rows.map(f => pct(f.on_time_rate))},
        {name: "发现 found", type: "line", yAxisIndex: 1, data: rows.map(f => f.found)},
      ],
    });
    window.addEventListener("resize", () => chart.resize());
  }
}
drawFigures();
