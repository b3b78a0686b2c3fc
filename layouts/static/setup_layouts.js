// Layout editor: drag fields between the form's sections and the palette (SortableJS).
// The form works without this script: each section's text input holds its field names
// separated by commas; dragging only keeps those inputs up to date (and typing in an input
// redraws its chips), then fires "change" so the htmx preview refreshes.
(function () {
  "use strict";

  function chip(name, labels) {
    var li = document.createElement("li");
    li.dataset.field = name;
    li.appendChild(document.createTextNode(labels[name] || name));
    var code = document.createElement("code");
    code.textContent = name;
    li.appendChild(code);
    return li;
  }

  function names(list) {
    return Array.prototype.map.call(list.querySelectorAll("li[data-field]"),
      function (li) { return li.dataset.field; });
  }

  function start() {
    var form = document.getElementById("layout-form");
    var palette = document.getElementById("field-palette");
    if (!form || !palette || typeof Sortable === "undefined") return;
    var labels = JSON.parse(palette.dataset.labels || "{}");
    var lists = Array.prototype.slice.call(form.querySelectorAll("ul.section-fields"));

    function syncInputs() {
      lists.forEach(function (list) {
        var input = document.getElementById(list.dataset.input);
        if (input) input.value = names(list).join(", ");
      });
      form.dispatchEvent(new Event("change", { bubbles: true }));
    }

    function redraw(list) {
      var input = document.getElementById(list.dataset.input);
      var wanted = input.value.split(",").map(function (s) { return s.trim(); })
        .filter(function (s) { return s; });
      list.innerHTML = "";
      wanted.forEach(function (name) {
        var inPalette = palette.querySelector('li[data-field="' + CSS.escape(name) + '"]');
        if (inPalette) inPalette.remove();
        list.appendChild(chip(name, labels));
      });
      // fields taken out of every section go back to the palette
      var placed = {};
      lists.forEach(function (l) { names(l).forEach(function (n) { placed[n] = true; }); });
      names(palette).forEach(function (n) { placed[n] = true; });
      Object.keys(labels).forEach(function (n) {
        if (!placed[n]) palette.appendChild(chip(n, labels));
      });
    }

    var options = { group: "fields", animation: 150, onSort: syncInputs };
    Sortable.create(palette, options);
    lists.forEach(function (list) {
      Sortable.create(list, options);
      var input = document.getElementById(list.dataset.input);
      if (input) input.addEventListener("change", function () { redraw(list); });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
