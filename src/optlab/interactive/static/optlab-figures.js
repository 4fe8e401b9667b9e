/* optlab interactive figures (optlab.interactive): sliders, a drop-down and a play/pause frame
 * slider that pick data precomputed in Python and redraw a plotly.js figure with Plotly.react.
 * Served by the book's own site from _static/ (no network), or inlined in a notebook output.
 *
 *   optlabFigures.mount(id, plotlySrc)
 *
 * reads the JSON in <script class="optlab-data"> inside the element `id`, loads plotly.js from
 * plotlySrc unless window.Plotly exists, builds the controls and the plot, and then hides the
 * still image. If plotly.js cannot be loaded the still image and its caption stay, with a note.
 * The element's data-optlab-state is "still", then "live" once drawn (or "failed").
 */
(function () {
  "use strict";
  if (window.optlabFigures) return;

  var loading = null;

  function loadPlotly(src) {
    if (window.Plotly) return Promise.resolve(window.Plotly);
    if (!src) return Promise.reject(new Error("plotly.js is not available"));
    if (!loading) {
      loading = new Promise(function (resolve, reject) {
        var s = document.createElement("script");
        s.src = src;
        s.onload = function () {
          if (window.Plotly) resolve(window.Plotly);
          else reject(new Error(src + " defined no Plotly"));
        };
        s.onerror = function () { reject(new Error("could not load " + src)); };
        document.head.appendChild(s);
      });
    }
    return loading;
  }

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // index of the precomputed row for the controls in `over` (row-major, first control slowest)
  function rowIndex(over, controls, state) {
    var i = 0;
    for (var j = 0; j < over.length; j++) i = i * controls[over[j]].labels.length + state[over[j]];
    return i;
  }

  function traces(spec, state) {
    var data = spec.traces.map(function (t) { return Object.assign({}, t); });
    spec.dynamic.forEach(function (d) {
      var row = d.over.length ? rowIndex(d.over, spec.controls, state) : 0;
      var x = d.x ? d.x[row] : d.x1, y = d.y ? d.y[row] : d.y1;  // x1, y1: one row for all
      if (d.reveal !== null) {
        var k = spec.controls[d.reveal].values[state[d.reveal]];
        x = d.head ? x.slice(k, k + 1) : x.slice(0, k + 1);
        y = d.head ? y.slice(k, k + 1) : y.slice(0, k + 1);
      }
      data[d.trace].x = x;
      data[d.trace].y = y;
    });
    return data;
  }

  function readout(spec, state) {
    var r = spec.readout;
    if (!r) return "";
    var row = rowIndex(r.over, spec.controls, state);
    return r.template.replace(/\{(\w+)\}/g, function (m, key) {
      return key in r.values ? r.values[key][row] : m;
    });
  }

  function render(root, spec, Plotly) {
    var live = root.querySelector(".optlab-live");
    var state = spec.controls.map(function (c) { return c.initial; });
    var form = el("div", {"class": "optlab-controls", "style":
      "display:flex;flex-wrap:wrap;gap:0.4em 1.5em;align-items:center;margin:0.3em 0;font-size:0.9em"});
    var text = el("div", {"class": "optlab-readout", "aria-live": "polite",
                          "style": "font-size:0.9em;margin:0.2em 0;min-height:1.3em"});
    var plot = el("div", {"class": "optlab-plot", "role": "img",
                          "aria-label": root.querySelector(".optlab-still").getAttribute("alt")});
    var timers = {};

    function redraw() {
      text.textContent = readout(spec, state);
      return Plotly.react(plot, traces(spec, state), spec.layout,
                          {responsive: true, displayModeBar: false});  // drag zooms, double-click resets
    }

    spec.controls.forEach(function (c, i) {
      var id = root.id + "-" + c.key;
      var box = el("span", {"class": "optlab-control"});
      var shown = el("output", {"for": id, "class": "optlab-value"}, c.labels[c.initial]);
      var input;
      box.appendChild(el("label", {"for": id, "style": "margin-right:0.4em"}, c.label));
      if (c.kind === "select") {
        input = el("select", {"id": id, "data-key": c.key});
        c.labels.forEach(function (label, j) {
          var o = el("option", {"value": String(j)}, label);
          if (j === c.initial) o.selected = true;
          input.appendChild(o);
        });
        box.appendChild(input);
      } else {
        input = el("input", {"id": id, "type": "range", "min": "0", "step": "1",
                             "max": String(c.labels.length - 1), "value": String(c.initial),
                             "data-key": c.key});
        box.appendChild(input);
        box.appendChild(document.createTextNode(" "));
        box.appendChild(shown);
      }
      function set(j) {
        state[i] = j;
        input.value = String(j);
        shown.textContent = c.labels[j];
        redraw();
      }
      input.addEventListener("input", function () { set(parseInt(input.value, 10)); });
      input.addEventListener("change", function () { set(parseInt(input.value, 10)); });
      if (c.play) {
        var button = el("button", {"type": "button", "class": "optlab-play",
                                   "aria-label": "play " + c.label,
                                   "style": "margin-right:0.6em"}, "▶ play");
        button.addEventListener("click", function () {
          if (timers[i]) {
            clearInterval(timers[i]); timers[i] = null; button.textContent = "▶ play"; return;
          }
          if (state[i] >= c.labels.length - 1) set(0);
          button.textContent = "❚❚ pause";
          timers[i] = setInterval(function () {
            if (state[i] >= c.labels.length - 1) {
              clearInterval(timers[i]); timers[i] = null; button.textContent = "▶ play"; return;
            }
            set(state[i] + 1);
          }, c.interval);
        });
        box.insertBefore(button, box.firstChild);
      }
      form.appendChild(box);
    });

    live.appendChild(form);
    live.appendChild(text);
    live.appendChild(plot);
    live.hidden = false;
    return redraw().then(function () {
      root.querySelector(".optlab-still").hidden = true;
      root.setAttribute("data-optlab-state", "live");
    });
  }

  function mount(id, plotlySrc) {
    var root = document.getElementById(id);
    if (!root || root.getAttribute("data-optlab-state") !== "still") return;
    root.setAttribute("data-optlab-state", "loading");
    var spec = JSON.parse(root.querySelector("script.optlab-data").textContent);
    loadPlotly(plotlySrc)
      .then(function (Plotly) { return render(root, spec, Plotly); })
      .catch(function (err) {
        root.setAttribute("data-optlab-state", "failed");
        root.querySelector(".optlab-live").hidden = true;
        root.querySelector(".optlab-still").hidden = false;
        root.querySelector(".optlab-note").textContent =
          "The interactive version could not be shown (" + err.message + "); the still image " +
          "shows the initial setting.";
      });
  }

  window.optlabFigures = {mount: mount, version: 1};
})();
