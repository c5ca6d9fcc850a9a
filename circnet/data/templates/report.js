(function () {
  var c = window.circnet;
  if (c && c.overlay && c.overlay.values) { c.setFrame(c.overlay.values.length - 1); }
})();
