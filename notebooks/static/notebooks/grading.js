// Manual grading keys: j / k next / previous answer, s focuses the score, Enter saves
// (Enter in the comment box still adds a line; Ctrl+Enter saves from there).
(function () {
  "use strict";
  function typing(el) {
    return el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.tagName === "SELECT");
  }
  document.addEventListener("keydown", function (ev) {
    if (ev.altKey || ev.metaKey) return;
    var form = document.getElementById("grade-form");
    if (!form) return;
    var target = ev.target;
    if (ev.key === "Enter" && (ev.ctrlKey || (target && target.tagName === "INPUT"))) {
      ev.preventDefault();
      form.requestSubmit();
      return;
    }
    if (typing(target)) return;
    if (ev.key === "j" || ev.key === "k") {
      var link = document.getElementById(ev.key === "j" ? "next" : "prev");
      if (link) window.location.assign(link.href);
    } else if (ev.key === "s") {
      ev.preventDefault();
      var score = document.getElementById("id_score");
      if (score) score.focus();
    } else if (ev.key === "Enter") {
      ev.preventDefault();
      form.requestSubmit();
    }
  });
  window.addEventListener("DOMContentLoaded", function () {
    var score = document.getElementById("id_score");
    if (score) score.focus();
  });
})();
