// The bundled callback form: posts the form as JSON to the public API on
// the same origin and shows the answer's code in the page's language.
(function () {
  "use strict";
  var s = JSON.parse(document.getElementById("strings").textContent);
  var form = document.getElementById("callback");
  var result = document.getElementById("result");
  function show(cls, text, code) {
    result.className = cls;
    result.textContent = text;
    if (code) { result.setAttribute("data-code", String(code)); } else { result.removeAttribute("data-code"); }
  }
  function message(code) { return s.codes[String(code)] || s.codes["1000"]; }
  function iso(v) { return v ? new Date(v).toISOString() : ""; }
  form.addEventListener("reset", function () { show("", "", 0); });
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var body = {
      queue: form.getAttribute("data-queue"),
      customer_name: document.getElementById("customer_name").value,
      phone: document.getElementById("phone").value,
      description: document.getElementById("description").value
    };
    var start = iso(document.getElementById("start").value), end = iso(document.getElementById("end").value);
    if (start || end) { body.schedule = [{ start: start, end: end }]; }
    show("", s.strings.sending, 0);
    fetch("../../api/v1/callbacks", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body)
    }).then(function (resp) {
      return resp.json().then(function (data) {
        if (resp.status === 201) {
          show("ok", s.strings.accepted, 0);
          result.setAttribute("data-id", data.id);
        } else {
          show("error", message(data.code), data.code || 1000);
        }
      }, function () { show("error", message(1003), 1003); });
    }, function () { show("error", message(1002), 1002); });
  });
})();
