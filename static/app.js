// Progressive enhancement only: every action works without this file.
"use strict";

(function () {
  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function postForm(action, fields) {
    var form = document.createElement("form");
    form.method = "post";
    form.action = action;
    Object.keys(fields).forEach(function (name) {
      var input = document.createElement("input");
      input.type = "hidden";
      input.name = name;
      input.value = fields[name];
      form.appendChild(input);
    });
    document.body.appendChild(form);
    form.submit();
  }

  // Delete asks in place instead of opening the confirmation page.
  document.addEventListener("click", function (event) {
    var link = event.target.closest("a[data-confirm-delete]");
    if (!link) {
      return;
    }
    event.preventDefault();
    var name = link.getAttribute("data-confirm-delete");
    if (window.confirm("Delete the token “" + name + "”? Programs using its key will stop working.")) {
      postForm(link.getAttribute("data-action"), {
        csrf_token: csrfToken(),
        return_to: link.getAttribute("data-return-to") || ""
      });
    }
  });

  // Only one ⋮ menu open at a time; Escape or a click elsewhere closes it.
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details.menu[open]").forEach(function (menu) {
      if (!menu.contains(event.target)) {
        menu.removeAttribute("open");
      }
    });
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      document.querySelectorAll("details.menu[open]").forEach(function (menu) {
        menu.removeAttribute("open");
        menu.querySelector("summary").focus();
      });
    }
  });
})();
