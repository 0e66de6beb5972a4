// Grade distribution chart of the gradebook page (data from a json_script element).
window.addEventListener("DOMContentLoaded", function () {
  "use strict";
  var el = document.getElementById("grade-chart-data");
  var canvas = document.getElementById("grade-chart");
  if (!el || !canvas || typeof window.Chart === "undefined") return;
  var data = JSON.parse(el.textContent);
  new window.Chart(canvas, {
    type: "bar",
    data: { labels: data.labels, datasets: [{ label: data.label, data: data.counts, backgroundColor: "#1f5fbf" }] },
    options: { animation: false, maintainAspectRatio: false, plugins: { legend: { display: false } },
               scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }
  });
});
