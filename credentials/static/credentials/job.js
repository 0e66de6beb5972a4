// The progress of a bulk issuing job: polls its JSON status every 1.5 s until it is done
// or failed, and fills the page's [data-field] elements and the <progress> bar.
(function () {
  "use strict";
  var box = document.getElementById("job");
  if (!box || box.dataset.done === "1") return;
  var url = box.dataset.statusUrl;
  var bar = document.getElementById("job-progress");
  var finished = document.getElementById("job-done");

  function show(data) {
    box.querySelectorAll("[data-field]").forEach(function (el) {
      var value = data[el.dataset.field];
      el.textContent = value === null || value === undefined ? "" : String(value);
    });
    bar.value = data.percent;
    bar.textContent = data.percent + "%";
    var error = document.getElementById("job-error");
    error.hidden = !data.error;
    if (data.done) {
      finished.textContent = data.status === "failed" ? box.dataset.failedText : box.dataset.doneText;
      finished.hidden = false;
      box.dataset.done = "1";
    }
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error(response.status);
        return response.json();
      })
      .then(function (data) {
        show(data);
        if (!data.done) window.setTimeout(poll, 1500);
      })
      .catch(function () {
        window.setTimeout(poll, 5000);
      });
  }
  window.setTimeout(poll, 1000);
})();
