// Cases found per day, one line per category, level, unit or severity (stacked), from /api/charts/cases.
const el = document.getElementById("chart");
const form = document.getElementById("chart-form");
const chart = echarts.init(el);
window.casesChart = chart;
async function draw() {
  const q = new URLSearchParams(new FormData(form));
  const data = await (await fetch(el.dataset.source + "?" + q, {cache: "no-store"})).json();
  chart.setOption({
    tooltip: {trigger: "axis"},
    legend: {type: "scroll", top: 0},
    grid: {left: 40, right: 16, top: 40, bottom: 40, containLabel: true},
    xAxis: {type: "category", data: data.days},
    yAxis: {type: "value", minInterval: 1, name: "案件 cases"},
    series: data.series.map(s => ({name: s.key, type: "line", stack: "cases", areaStyle: {}, data: s.counts})),
  }, true);
}
form.addEventListener("change", draw);
window.addEventListener("resize", () => chart.resize());
draw();
