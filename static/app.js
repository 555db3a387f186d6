// Progressive enhancement only: every action but copying works without this file.
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

  // The ⋮ menus: without this file a <details> that opens and closes; with it, the WAI-ARIA
  // menu button pattern. Enter, Space or ArrowDown on the button open the menu on its first
  // item (ArrowUp on its last); arrows, Home and End move; Escape closes it and returns to the
  // button; Tab closes it and moves on; a click elsewhere closes it.
  var menuCount = 0;
  function menuItems(menu) {
    return Array.prototype.slice.call(menu.querySelectorAll("[role=menuitem]"));
  }
  function openMenu(menu, at) {
    menu.setAttribute("open", "");
    menu.querySelector("summary").setAttribute("aria-expanded", "true");
    var items = menuItems(menu);
    if (items.length) {
      items[at === "last" ? items.length - 1 : 0].focus();
    }
  }
  function closeMenu(menu, refocus) {
    menu.removeAttribute("open");
    var button = menu.querySelector("summary");
    button.setAttribute("aria-expanded", "false");
    if (refocus) {
      button.focus();
    }
  }
  document.querySelectorAll("details.menu").forEach(function (menu) {
    var button = menu.querySelector("summary");
    var list = menu.querySelector(".menu-items");
    menuCount += 1;
    list.id = list.id || "menu-" + menuCount;
    button.id = button.id || "menu-button-" + menuCount;
    button.setAttribute("aria-haspopup", "menu");
    button.setAttribute("aria-controls", list.id);
    button.setAttribute("aria-expanded", menu.open ? "true" : "false");
    list.setAttribute("role", "menu");
    list.setAttribute("aria-labelledby", button.id);
    list.querySelectorAll("form").forEach(function (form) { form.setAttribute("role", "none"); });
    list.querySelectorAll(".menu-item").forEach(function (item) {
      item.setAttribute("role", "menuitem");
      item.setAttribute("tabindex", "-1");
    });
    button.addEventListener("click", function (event) {
      event.preventDefault();
      if (menu.open) {
        closeMenu(menu, false);
      } else {
        openMenu(menu, "first");
      }
    });
    button.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === " " || event.key === "ArrowDown") {
        event.preventDefault();
        openMenu(menu, "first");
      } else if (event.key === "ArrowUp") {
        event.preventDefault();
        openMenu(menu, "last");
      } else if (event.key === "Escape" && menu.open) {
        event.preventDefault();
        closeMenu(menu, true);
      }
    });
    list.addEventListener("keydown", function (event) {
      var items = menuItems(menu);
      var at = items.indexOf(document.activeElement);
      var next = null;
      if (event.key === "ArrowDown") {
        next = items[(at + 1) % items.length];
      } else if (event.key === "ArrowUp") {
        next = items[(at - 1 + items.length) % items.length];
      } else if (event.key === "Home") {
        next = items[0];
      } else if (event.key === "End") {
        next = items[items.length - 1];
      } else if (event.key === "Escape") {
        event.preventDefault();
        closeMenu(menu, true);
        return;
      } else if (event.key === "Tab") {
        closeMenu(menu, false);
        return;
      } else if (event.key === " " && document.activeElement.tagName === "A") {
        event.preventDefault();
        document.activeElement.click();
        return;
      }
      if (next) {
        event.preventDefault();
        next.focus();
      }
    });
  });
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details.menu[open]").forEach(function (menu) {
      if (!menu.contains(event.target)) {
        closeMenu(menu, false);
      }
    });
  });

  // The API key: the eye reveals and hides it, the copy button puts it on the clipboard.
  var keyField = document.getElementById("api-key");
  var revealButton = document.getElementById("reveal-button");
  var copyButton = document.getElementById("copy-button");
  var copyStatus = document.getElementById("copy-status");
  var revealedKey = keyField && keyField.getAttribute("data-revealed") ? keyField.textContent : null;

  function fetchKey() {
    if (revealedKey) {
      return Promise.resolve(revealedKey);
    }
    return fetch(copyButton.getAttribute("data-reveal-url"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrfToken(), "Accept": "application/json" }
    }).then(function (response) {
      // Sudo mode: the last proof of identity is old. The no-JavaScript form leads to the page
      // that asks for the password again, and then shows the key.
      var revealForm = document.getElementById("reveal-form");
      if (response.status === 401 && revealForm) {
        revealForm.submit();
        throw new Error("Confirm it is you first.");
      }
      if (!response.ok) {
        throw new Error("The key could not be revealed (" + response.status + ").");
      }
      return response.json();
    }).then(function (body) {
      revealedKey = body.key;
      return revealedKey;
    });
  }

  function say(message) {
    copyStatus.textContent = message;
    window.clearTimeout(say.timer);
    say.timer = window.setTimeout(function () { copyStatus.textContent = ""; }, 2500);
  }

  if (revealButton) {
    revealButton.addEventListener("click", function (event) {
      event.preventDefault();
      if (revealButton.getAttribute("aria-pressed") === "true") {
        keyField.textContent = keyField.getAttribute("data-masked");
        // A toggle keeps its name; aria-pressed says which way it is.
        revealButton.setAttribute("aria-pressed", "false");
        say("Key hidden");
        return;
      }
      fetchKey().then(function (key) {
        keyField.textContent = key;
        revealButton.setAttribute("aria-pressed", "true");
        say("Key shown");
      }, function (error) { say(error.message); });
    });
  }

  if (copyButton && navigator.clipboard) {
    copyButton.hidden = false;
    copyButton.addEventListener("click", function () {
      fetchKey().then(function (key) {
        return navigator.clipboard.writeText(key);
      }).then(function () { say("Copied"); }, function (error) { say(error.message || "Copy failed"); });
    });
  }

  // Tokens list: a select-all for the page, and how many rows are ticked.
  var selectAll = document.getElementById("select-all");
  var bulkForm = document.getElementById("bulk-form");
  if (selectAll && bulkForm) {
    var rows = document.querySelectorAll('input[name="ids"][form="bulk-form"]');
    var count = document.getElementById("selected-count");
    var update = function () {
      var ticked = Array.prototype.filter.call(rows, function (box) { return box.checked; }).length;
      selectAll.checked = ticked > 0 && ticked === rows.length;
      selectAll.indeterminate = ticked > 0 && ticked < rows.length;
      count.textContent = ticked === 0 ? "With the selected tokens:"
        : (ticked === 1 ? "1 token selected:" : ticked + " tokens selected:");
      // The actions appear once there is something to act on (without this file they stay).
      bulkForm.hidden = ticked === 0;
    };
    selectAll.hidden = false;
    selectAll.addEventListener("change", function () {
      rows.forEach(function (box) { box.checked = selectAll.checked; });
      update();
    });
    rows.forEach(function (box) { box.addEventListener("change", update); });
    update();
  }

  // Tokens list: on a narrow screen the filters would fill it; they fold away unless in use.
  var filtersPanel = document.getElementById("filters-panel");
  if (filtersPanel && window.matchMedia("(max-width: 640px)").matches
      && !filtersPanel.querySelector(".filters-toggle").textContent.match(/\(on\)/)) {
    filtersPanel.open = false;
  }

  // Permissions tab: the filter narrows the table as you type.
  var filter = document.querySelector("input[data-filter-table]");
  if (filter) {
    var table = document.getElementById(filter.getAttribute("data-filter-table"));
    filter.addEventListener("input", function () {
      var wanted = filter.value.trim().toLowerCase();
      table.querySelectorAll("tbody tr").forEach(function (row) {
        var name = row.querySelector(".module-name").textContent.toLowerCase();
        row.hidden = wanted !== "" && name.indexOf(wanted) === -1;
      });
    });
  }

  // Expires: the date is asked for only once "On a date" is chosen (without this file it stays,
  // with its hint).
  var expires = document.getElementById("expires");
  var expiryDate = document.querySelector(".expiry-date");
  if (expires && expiryDate) {
    var showDate = function () { expiryDate.hidden = expires.value !== "date"; };
    expires.addEventListener("change", showDate);
    showDate();
  }

  // "All Modules" ticks every module box, so the page shows what the grant means.
  var allModules = document.getElementById("all_modules");
  if (allModules && !allModules.disabled) {
    var boxes = document.querySelectorAll('input[name="modules"]');
    var sync = function () {
      boxes.forEach(function (box) {
        if (allModules.checked) {
          box.checked = true;
        }
        box.disabled = allModules.checked;
      });
    };
    allModules.addEventListener("change", sync);
    sync();
  }
})();
