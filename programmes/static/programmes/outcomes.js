// Learning outcomes: the ESCO picker (search as you type, pick skills as chips), the lab/cell
// pair of selects (a lab's graded cells only), and the mastery rule's own fields.
(function () {
  "use strict";

  function escoPicker(root) {
    var input = root.querySelector("#esco-q");
    var results = root.querySelector("#esco-results");
    var chosen = root.querySelector("#esco-chosen");
    var url = root.getAttribute("data-search-url");
    var timer = null;
    var asked = 0;

    function has(id) {
      return chosen.querySelector('input[value="' + id + '"]') !== null;
    }

    function choose(skill) {
      if (!has(skill.id)) {
        var li = document.createElement("li");
        var label = document.createElement("span");
        label.textContent = skill.label;
        label.title = skill.uri;
        var hidden = document.createElement("input");
        hidden.type = "hidden";
        hidden.name = "esco";
        hidden.value = String(skill.id);
        var remove = document.createElement("button");
        remove.type = "button";
        remove.className = "linkbtn esco-remove";
        remove.setAttribute("aria-label", "×");
        remove.textContent = "×";
        li.append(label, hidden, remove);
        chosen.appendChild(li);
      }
      results.replaceChildren();
      input.value = "";
      input.focus();
    }

    function show(list) {
      results.replaceChildren();
      list.forEach(function (skill) {
        var li = document.createElement("li");
        var button = document.createElement("button");
        button.type = "button";
        button.className = "esco-option";
        button.textContent = skill.label;
        var small = document.createElement("small");
        small.textContent = skill.description;
        button.appendChild(small);
        button.addEventListener("click", function () { choose(skill); });
        li.appendChild(button);
        results.appendChild(li);
      });
    }

    input.addEventListener("input", function () {
      clearTimeout(timer);
      var q = input.value.trim();
      if (q.length < 2) { results.replaceChildren(); return; }
      timer = setTimeout(function () {
        var mine = ++asked;
        fetch(url + "?q=" + encodeURIComponent(q), { credentials: "same-origin" })
          .then(function (r) { return r.ok ? r.json() : { results: [] }; })
          .then(function (data) { if (mine === asked) { show(data.results); } })
          .catch(function () { results.replaceChildren(); });
      }, 200);
    });
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter") { event.preventDefault(); }  // never submit the form from here
      if (event.key === "Escape") { results.replaceChildren(); }
    });
    chosen.addEventListener("click", function (event) {
      if (event.target.classList.contains("esco-remove")) { event.target.closest("li").remove(); }
    });
  }

  function labCells() {
    var lab = document.getElementById("align-lab");
    var cell = document.getElementById("align-cell");
    if (!lab || !cell) { return; }
    function sync() {
      var first = null;
      Array.prototype.forEach.call(cell.options, function (option) {
        var mine = option.getAttribute("data-lab") === lab.value;
        option.hidden = !mine;
        option.disabled = !mine;
        if (mine && first === null) { first = option; }
      });
      if (first === null) {
        cell.value = "";
      } else if (cell.selectedOptions.length === 0 || cell.selectedOptions[0].disabled) {
        first.selected = true;
      }
    }
    lab.addEventListener("change", sync);
    sync();
  }

  function ruleFields() {
    document.querySelectorAll(".rule-fields").forEach(function (fieldset) {
      var select = fieldset.querySelector("select[name=method]");
      if (!select) { return; }
      function sync() {
        fieldset.className = fieldset.className.replace(/\bmethod-\S+/g, "").trim() + " method-" + select.value;
      }
      select.addEventListener("change", sync);
      sync();
    });
  }

  document.querySelectorAll(".esco-picker").forEach(escoPicker);
  labCells();
  ruleFields();
})();
