// Passkeys: adding one (account page), checking one, signing in with one (sign-in page), and
// using one as the second step of signing in (/login/2fa).
// Each ceremony asks the server to start, asks the browser (navigator.credentials), and sends
// the answer back as JSON with the page's CSRF token in the X-CSRF-Token header. Without
// JavaScript or WebAuthn the buttons stay disabled or hidden, and the page says why.
"use strict";

(function () {
  var supported = !!(window.PublicKeyCredential && navigator.credentials &&
    navigator.credentials.create && navigator.credentials.get);

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    if (meta) {
      return meta.getAttribute("content");
    }
    var field = document.querySelector('input[name="csrf_token"]');
    return field ? field.value : "";
  }

  // base64url (no padding) <-> ArrayBuffer, as the server's JSON carries binary.
  function toBuffer(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) {
      base64 += "=";
    }
    var binary = atob(base64);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) {
      bytes[i] = binary.charCodeAt(i);
    }
    return bytes.buffer;
  }

  function toText(buffer) {
    if (!buffer) {
      return null;
    }
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) {
      binary += String.fromCharCode(bytes[i]);
    }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  // A ceremony at `path`: the server's options (`path`/start, sent `body`), the browser's answer
  // to them (`ask`: create or get), and the server's verdict on it (`path`/finish).
  function ceremony(path, body, ask, query) {
    return post(path + "/start", body)
      .then(function (options) {
        return ask(options).catch(function (error) {
          throw new Error(browserFailure(error));
        });
      })
      .then(function (answer) {
        return post(path + "/finish" + (query || ""), answer);
      });
  }

  function describe(list) {
    return (list || []).map(function (credential) {
      return { type: credential.type, id: toBuffer(credential.id) };
    });
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
      body: JSON.stringify(body || {})
    }).then(function (response) {
      return response.json().catch(function () {
        return {
          error: response.status === 403
            ? "This page has expired. Reload it and try again."
            : "The server could not answer (" + response.status + "). Try again."
        };
      }).then(function (answer) {
        if (!response.ok) {
          var failure = new Error(answer.error || "The request was refused.");
          failure.field = answer.field;
          failure.redirect = answer.redirect;
          throw failure;
        }
        return answer;
      });
    });
  }

  // What the browser's refusal means for the person.
  function browserFailure(error) {
    if (error && error.name === "NotAllowedError") {
      return "No passkey was used: the request was cancelled or timed out.";
    }
    if (error && error.name === "InvalidStateError") {
      return "This device already has a passkey for you here.";
    }
    if (error && error.name === "SecurityError") {
      return "The browser refused passkeys at this address. Open tokendesk at its public address.";
    }
    return (error && error.message) || "The passkey could not be used.";
  }

  function create(options) {
    var key = options.publicKey;
    key.challenge = toBuffer(key.challenge);
    key.user.id = toBuffer(key.user.id);
    key.excludeCredentials = describe(key.excludeCredentials);
    return navigator.credentials.create({ publicKey: key }).then(function (made) {
      return {
        id: made.id,
        rawId: toText(made.rawId),
        type: made.type,
        response: {
          attestationObject: toText(made.response.attestationObject),
          clientDataJSON: toText(made.response.clientDataJSON)
        },
        extensions: {}
      };
    });
  }

  function get(options) {
    var key = options.publicKey;
    key.challenge = toBuffer(key.challenge);
    key.allowCredentials = describe(key.allowCredentials);
    return navigator.credentials.get({ publicKey: key }).then(function (used) {
      return {
        id: used.id,
        rawId: toText(used.rawId),
        type: used.type,
        response: {
          authenticatorData: toText(used.response.authenticatorData),
          clientDataJSON: toText(used.response.clientDataJSON),
          signature: toText(used.response.signature),
          userHandle: toText(used.response.userHandle)
        },
        extensions: {}
      };
    });
  }

  function show(element, text, kind) {
    if (!element) {
      return;
    }
    element.textContent = text;
    element.className = "alert alert-" + kind;
    element.hidden = false;
  }

  // The account page: add and check.
  var section = document.querySelector("[data-passkeys]");
  if (section) {
    var message = section.querySelector("#passkey-message");
    var form = section.querySelector("[data-passkey-register]");
    var nameField = section.querySelector("#passkey-name");
    var nameError = section.querySelector("#passkey-name-error");
    var support = section.querySelector("[data-passkey-support]");
    var blocked = !!section.querySelector("#passkey-notice");
    if (supported && !blocked) {
      form.querySelector("button[type=submit]").disabled = false;
      section.querySelectorAll("[data-passkey-check]").forEach(function (button) {
        button.disabled = false;
      });
      if (support) {
        support.hidden = true;
      }
    } else if (!supported && support) {
      support.textContent = "This browser cannot use passkeys.";
    }

    var nameIs = function (error) {
      nameError.textContent = error || "";
      nameError.hidden = !error;
      if (error) {
        nameField.setAttribute("aria-invalid", "true");
        nameField.setAttribute("aria-describedby", "passkey-name-hint passkey-name-error");
        nameField.focus();
      } else {
        nameField.removeAttribute("aria-invalid");
        nameField.setAttribute("aria-describedby", "passkey-name-hint");
      }
    };

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      nameIs(null);
      message.hidden = true;
      ceremony("/account/security/passkeys/register", { name: nameField.value }, create)
        .then(function (done) {
          window.location.assign(done.redirect);
        })
        .catch(function (error) {
          if (error.field === "name") {
            nameIs(error.message);
          } else {
            show(message, error.message, "error");
          }
        });
    });

    section.addEventListener("click", function (event) {
      var button = event.target.closest("[data-passkey-check]");
      if (!button) {
        return;
      }
      message.hidden = true;
      ceremony("/account/security/passkeys/check", undefined, get)
        .then(function (done) {
          show(message, done.message, "success");
        })
        .catch(function (error) {
          show(message, error.message, "error");
        });
    });
  }

  // The sign-in page: "Sign in with a passkey", offered only where the browser can.
  var signIn = document.querySelector("[data-passkey-sign-in]");
  if (signIn && supported) {
    signIn.hidden = false;
    var failure = signIn.querySelector("#passkey-message");
    signIn.querySelector("#passkey-button").addEventListener("click", function () {
      failure.hidden = true;
      var next = document.querySelector('input[name="next"]');
      var query = next && next.value ? "?next=" + encodeURIComponent(next.value) : "";
      ceremony("/login/passkey", undefined, get, query)
        .then(function (done) {
          window.location.assign(done.redirect);
        })
        .catch(function (error) {
          show(failure, error.message, "error");
        });
    });
  }

  // Confirming a sensitive action: a passkey instead of the password. Its check marks the
  // session as just proved; the form is then sent as it was, without the proof fields.
  var sudo = document.querySelector("[data-passkey-sudo]");
  if (sudo && supported) {
    var sudoFailure = sudo.querySelector("#passkey-message");
    var sudoButton = sudo.querySelector("#passkey-button");
    sudoButton.disabled = false;
    sudoButton.addEventListener("click", function () {
      sudoFailure.hidden = true;
      ceremony("/account/security/passkeys/check", undefined, get)
        .then(function () {
          var form = document.querySelector("#sudo-form");
          form.querySelectorAll("[name=sudo_password], [name=sudo_code]").forEach(function (field) {
            field.closest(".field").remove();
          });
          form.submit();
        })
        .catch(function (error) {
          show(sudoFailure, error.message, "error");
        });
    });
  }

  // The second step of signing in: "Use a passkey", enabled only where the browser can.
  var secondStep = document.querySelector("[data-passkey-second-step]");
  if (secondStep && supported) {
    var stepFailure = secondStep.querySelector("#passkey-message");
    var stepButton = secondStep.querySelector("#passkey-button");
    var stepSupport = secondStep.querySelector("[data-passkey-support]");
    stepButton.disabled = false;
    if (stepSupport) {
      stepSupport.hidden = true;
    }
    stepButton.addEventListener("click", function () {
      stepFailure.hidden = true;
      ceremony("/login/2fa/passkey", undefined, get)
        .then(function (done) {
          window.location.assign(done.redirect);
        })
        .catch(function (error) {
          if (error.redirect) {
            window.location.assign(error.redirect);
          } else {
            show(stepFailure, error.message, "error");
          }
        });
    });
  }
})();
