// Burn-down chart of a run's GPU budget: cumulative GPU-hours per cohort, with the budget line.
(function () {
  const node = document.getElementById("gpu-chart-data");
  const canvas = document.getElementById("gpu-chart");
  if (!node || !canvas || !window.Chart) return;
  const data = JSON.parse(node.textContent);
  const palette = ["#1f5fbf", "#1e7a46", "#a06000", "#b3261e", "#6a3fb5", "#0f7c8c"];
  const datasets = Object.entries(data.series).map(([name, points], i) => ({
    label: name, data: points, borderColor: palette[i % palette.length], fill: false, tension: 0.2,
  }));
  if (data.budget > 0) {
    datasets.push({ label: data.labels.budget, data: data.days.map(() => data.budget), borderColor: "#5f6b7a",
                    borderDash: [6, 4], pointRadius: 0, fill: false });
  }
  new window.Chart(canvas, {
    type: "line",
    data: { labels: data.days, datasets: datasets },
    options: { maintainAspectRatio: false, animation: false,
               scales: { y: { beginAtZero: true, title: { display: true, text: data.labels.gpu_hours } } } },
  });
})();
