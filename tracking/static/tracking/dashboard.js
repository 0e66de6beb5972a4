// The tracking dashboard's weekly trends: active learners (line), completions (bars: completed
// and passed) and GPU-hours (bars).  Data and labels come from json_script elements; the same
// figures are in the table below the charts.
(function () {
  const dataNode = document.getElementById("tracking-chart-data");
  const labelNode = document.getElementById("tracking-chart-labels");
  if (!dataNode || !labelNode || !window.Chart) return;
  const data = JSON.parse(dataNode.textContent);
  const labels = JSON.parse(labelNode.textContent);
  const weeks = data.weeks.map((w) => {
    const d = new Date(w + "T00:00:00");
    return d.toLocaleDateString(document.documentElement.lang || undefined, { day: "numeric", month: "short" });
  });
  const common = {
    maintainAspectRatio: false,
    animation: false,
    plugins: { legend: { position: "bottom" } },
    scales: { y: { beginAtZero: true, ticks: { precision: 0 } }, x: { grid: { display: false } } },
  };
  function draw(id, config) {
    const canvas = document.getElementById(id);
    if (canvas) new window.Chart(canvas, config);
  }
  draw("chart-active", {
    type: "line",
    data: { labels: weeks, datasets: [{ label: labels.active, data: data.active, borderColor: "#1f5fbf",
      backgroundColor: "rgba(31, 95, 191, 0.12)", fill: true, tension: 0.25, pointRadius: 3 }] },
    options: common,
  });
  draw("chart-completions", {
    type: "bar",
    data: { labels: weeks, datasets: [
      { label: labels.completed, data: data.completed, backgroundColor: "#9bb7e3" },
      { label: labels.passed, data: data.passed, backgroundColor: "#1e7a46" },
    ] },
    options: common,
  });
  draw("chart-gpu", {
    type: "bar",
    data: { labels: weeks, datasets: [{ label: labels.gpu, data: data.gpu, backgroundColor: "#a06000" }] },
    options: { ...common, scales: { ...common.scales, y: { beginAtZero: true } } },
  });
})();
