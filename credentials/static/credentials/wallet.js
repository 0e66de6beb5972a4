// The wallet's "Copy link" buttons: the share link to the clipboard, or, where the browser
// refuses (no clipboard API, an insecure origin), the link selected for the person to copy.
(function () {
  "use strict";

  function selectText(input) {
    input.focus();
    input.select();
    input.setSelectionRange(0, input.value.length);
  }

  function say(button, text) {
    var status = button.parentElement.querySelector(".copied");
    if (status) {
      status.textContent = text;
    }
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button.copy");
    if (!button) {
      return;
    }
    var input = document.getElementById(button.dataset.copy);
    if (!input) {
      return;
    }
    var fallback = function () {
      selectText(input);
      var copied = false;
      try {
        copied = document.execCommand("copy");
      } catch (error) {
        copied = false;
      }
      say(button, copied ? button.dataset.done : button.dataset.select);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(function () {
        selectText(input);
        say(button, button.dataset.done);
      }, fallback);
    } else {
      fallback();
    }
  });
})();
