// MetaCRM's small helpers: number inputs with thousands separators, lookup type-ahead,
// select-all, kanban drag and drop. Every screen also works without this file.
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  var lang = document.documentElement.lang || "en";
  var locale = lang === "vi" ? "vi-VN" : "en-US";
  var group = lang === "vi" ? "." : ",";
  var decimal = lang === "vi" ? "," : ".";

  function formatNumber(input) {
    var raw = input.value.trim();
    if (!raw) return;
    var cleaned = raw.split(group).join("").replace(decimal, ".").replace(/\s/g, "");
    if (!/^-?\d+(\.\d+)?$/.test(cleaned)) return; // leave it: the server will say what is wrong
    var scale = parseInt(input.dataset.scale || "0", 10);
    var fraction = cleaned.indexOf(".") >= 0 ? Math.min(cleaned.split(".")[1].length, scale) : 0;
    input.value = Number(cleaned).toLocaleString(locale, {minimumFractionDigits: fraction, maximumFractionDigits: fraction});
  }

  document.addEventListener("focusout", function (e) {
    if (e.target.matches && e.target.matches("input[data-number]")) formatNumber(e.target);
  });

  document.addEventListener("click", function (e) {
    var option = e.target.closest && e.target.closest(".lookup-options li[data-id]");
    if (option) {
      var box = option.closest("[data-lookup]");
      box.querySelector("[data-lookup-id]").value = option.dataset.id;
      box.querySelector("[data-lookup-text]").value = option.dataset.title;
      option.parentNode.innerHTML = "";
      return;
    }
    if (e.target.matches && e.target.matches(".select-all")) {
      var table = e.target.closest("table");
      table.querySelectorAll("input[name=ids]").forEach(function (box) { box.checked = e.target.checked; });
    }
    if (!e.target.closest || !e.target.closest("[data-lookup]")) {
      document.querySelectorAll(".lookup-options").forEach(function (list) { list.innerHTML = ""; });
    }
  });

  // a select that applies its choice at once (no inline handlers: the pages' CSP forbids them)
  document.addEventListener("change", function (e) {
    if (e.target.matches && e.target.matches("select[data-autosubmit]")) e.target.form.submit();
  });

  // a form with a live preview (the report builder) asks for it when an input changes; the
  // object select reloads the whole form instead. Done here, not in an hx-trigger filter:
  // htmx evaluates those as JavaScript strings, which the CSP forbids.
  function livePreview(e, name) {
    var form = e.target.closest && e.target.closest("form[data-live-preview]");
    if (form) form.dispatchEvent(new CustomEvent(name));
  }
  document.addEventListener("change", function (e) {
    if (e.target.name !== "object") livePreview(e, "preview-change");
  });
  document.addEventListener("input", function (e) {
    if (e.target.tagName === "INPUT") livePreview(e, "preview-input");
  });

  document.addEventListener("input", function (e) {
    // typing again in a lookup forgets the record chosen before
    if (e.target.matches && e.target.matches("[data-lookup-text]")) {
      e.target.closest("[data-lookup]").querySelector("[data-lookup-id]").value = "";
    }
  });

  function setupKanban(root) {
    if (!window.Sortable) return;
    root.querySelectorAll(".kanban .cards").forEach(function (list) {
      if (list.dataset.sortable) return;
      list.dataset.sortable = "1";
      new Sortable(list, {
        group: "kanban", animation: 120, draggable: ".kcard",
        onAdd: function (evt) {
          var card = evt.item;
          var form = card.querySelector("form.move");
          form.querySelector("select").value = evt.to.dataset.value;
          htmx.ajax("POST", form.getAttribute("action"), {source: form, target: card, swap: "outerHTML"});
        }
      });
    });
  }
  // Setup's field form: show the options of the chosen type only
  function showTypeOptions() {
    var type = document.getElementById("f-type");
    if (!type) return;
    document.querySelectorAll(".type-options").forEach(function (box) {
      box.hidden = box.dataset.for.split(" ").indexOf(type.value) < 0;
    });
  }
  document.addEventListener("change", function (e) {
    if (e.target.id === "f-type") showTypeOptions();
  });
  document.addEventListener("DOMContentLoaded", showTypeOptions);
  // a record form with conditional fields (visible_if, required_if): when a field they read
  // changes, the server says again which fields show and which are asked for
  function askConditions(form) {
    fetch(form.dataset.conditions, {method: "POST", body: new FormData(form),
                                    headers: {"Accept": "application/json"}})
      .then(function (answer) { return answer.ok ? answer.json() : null; })
      .then(function (states) {
        if (!states) return;
        Object.keys(states).forEach(function (name) {
          var box = form.querySelector('[data-field="' + name + '"]');
          if (!box) return;
          box.hidden = states[name].hidden;
          var star = box.querySelector("label .required");
          if (star) star.hidden = !states[name].required;
        });
      });
  }
  document.addEventListener("change", function (e) {
    var form = e.target.form;
    if (!form || !form.dataset.conditions || !e.target.name) return;
    var name = e.target.name.replace(/__(id|present)$/, "");
    if (form.dataset.watch.split(" ").indexOf(name) >= 0) askConditions(form);
  });
  // Setup's rule and action forms: a select[data-shows] shows, in its [data-choice] box, the
  // parts whose data-for names the chosen value (a step's kind, a kind of schedule); the
  // boxes nested in it decide their own parts
  function showChosen(select) {
    var scope = select.closest("[data-choice]");
    if (!scope) return;
    scope.querySelectorAll("[data-for]").forEach(function (part) {
      if (part.parentElement.closest("[data-choice]") === scope) {
        part.hidden = part.dataset.for.split(" ").indexOf(select.value) < 0;
      }
    });
  }
  document.addEventListener("change", function (e) {
    if (e.target.matches && e.target.matches("select[data-shows]")) showChosen(e.target);
    // a new rule's object: its fields fill the form's choices, so the form is drawn again
    if (e.target.matches && e.target.matches("select[data-reload]")) {
      var url = new URL(window.location.href);
      url.searchParams.set(e.target.name, e.target.value);
      window.location.href = url.toString();
    }
  });
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("select[data-shows]").forEach(showChosen);
  });
  document.addEventListener("DOMContentLoaded", function () { setupKanban(document); });
  document.addEventListener("htmx:afterSwap", function (e) { setupKanban(document); });
})();
