(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("circnet-data").textContent);
  var CMAP = data.cmap;
  var R = data.scale.radius, R0 = data.scale.zero_radius;  // circnet._view_layout
  var nodes = new vis.DataSet(data.nodes);
  var edges = new vis.DataSet(data.edges);
  var base = {};
  data.nodes.forEach(function (n) {
    base[n.id] = { size: n.size, color: n.color, title: n.title };
  });
  var ov = data.overlay;
  var current = 0;

  function fmt(v) {  // the rule of circnet._format.fmt_number
    if (v === 0) { return "0"; }
    var a = Math.abs(v);
    if (a >= 1e6 || a < 1e-3) {  // two exponent digits, as Python's "{:.3e}"
      return v.toExponential(3).replace(/e([+-])(\d)$/, function (m, s, d) { return "e" + s + "0" + d; });
    }
    if (a >= 1000) { return Math.round(v).toLocaleString("en-US"); }
    return String(parseFloat(v.toPrecision(4)));
  }
  function hex(c) { return [1, 3, 5].map(function (i) { return parseInt(c.substr(i, 2), 16); }); }
  function colour(t) {
    t = Math.max(0, Math.min(1, t));
    var x = t * (CMAP.length - 1), i = Math.min(Math.floor(x), CMAP.length - 2), f = x - i;
    var a = hex(CMAP[i]), b = hex(CMAP[i + 1]);
    var c = a.map(function (ai, k) { return Math.round(ai + (b[k] - ai) * f); });
    return "rgb(" + c.join(",") + ")";
  }
  function setFrame(i) {
    if (!ov) { return; }
    i = Math.max(0, Math.min(ov.values.length - 1, i | 0));
    current = i;
    var row = ov.values[i], upd = [];
    ov.nodes.forEach(function (id, j) {
      var v = row[j], b = base[id];
      var t = ov.vmax > 0 ? Math.sqrt(v / ov.vmax) : 0;
      var lines = [b.title, "", ov.name + ": " + fmt(v)];
      var from = ov.labels[j];
      if (from.length > 1 || from[0] !== id) { lines.push("  (from " + from.join(" + ") + ")"); }
      if (ov.times) { lines.push(ov.time_label + ": " + ov.times[i]); }
      var fill = v > 0 ? colour(0.15 + 0.85 * t) : "#eeeeee";
      upd.push({
        id: id,
        size: v > 0 ? R[0] + (R[1] - R[0]) * t : R0,
        color: {
          background: fill, border: v > 0 ? "#2d004b" : "#9e9e9e",
          highlight: { background: fill, border: "#000000" },
          hover: { background: fill, border: "#000000" }
        },
        title: lines.join("\n")
      });
    });
    nodes.update(upd);
    var dead = document.getElementById("circnet-dead");
    dead.textContent = ov.dead ? "dead: " + fmt(ov.dead[i]) : "";
    if (ov.times) {
      document.getElementById("circnet-slider").value = String(i);
      document.getElementById("circnet-readout").textContent =
        ov.time_label + ": " + ov.times[i];
    }
  }

  if (ov) { setFrame(0); }
  var container = document.getElementById("circnet-network");
  var network = new vis.Network(container, { nodes: nodes, edges: edges }, data.options);
  network.once("afterDrawing", function () { network.fit({ animation: false }); });

  var timer = null;
  if (ov && ov.times) {
    var slider = document.getElementById("circnet-slider");
    var play = document.getElementById("circnet-play");
    var n = ov.values.length;
    var step = Math.max(1, Math.ceil(n / 150));
    slider.max = String(n - 1);
    slider.addEventListener("input", function () { stop(); setFrame(Number(slider.value)); });
    function stop() {
      if (timer !== null) { clearInterval(timer); timer = null; }
      play.textContent = "Play";
    }
    play.addEventListener("click", function () {
      if (timer !== null) { stop(); return; }
      if (current >= n - 1) { setFrame(0); }
      play.textContent = "Pause";
      timer = setInterval(function () {
        if (current >= n - 1) { stop(); return; }
        setFrame(Math.min(n - 1, current + step));
      }, 100);
    });
  }
  window.network = network;
  window.circnet = {
    network: network, nodes: nodes, edges: edges, setFrame: setFrame,
    frame: function () { return current; }, overlay: ov
  };
})();
