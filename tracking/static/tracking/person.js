// A person's activity as their institution sees it: events per day over twelve weeks.
(function () {
  const node = document.getElementById("activity-chart-data");
  const labelsNode = document.getElementById("activity-chart-labels");
  const canvas = document.getElementById("activity-chart");
  if (!node || !canvas || !window.Chart) return;
  const data = JSON.parse(node.textContent);
  const labels = labelsNode ? JSON.parse(labelsNode.textContent) : { events: "Events" };
  new window.Chart(canvas, {
    type: "bar",
    data: {
      labels: data.days,
      datasets: [{ label: labels.events, data: data.events, backgroundColor: "#1f5fbf" }],
    },
    options: {
      maintainAspectRatio: false,
      animation: false,
      plugins: { legend: { display: false } },
      scales: { y: { beginAtZero: true, ticks: { precision: 0 } }, x: { ticks: { maxTicksLimit: 12 } } },
    },
  });
  canvas.dataset.drawn = "1";
})();
