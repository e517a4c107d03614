/* wijkprofiel map controller: restyles one GeoJSON layer from a compact payload.
   Every string from data reaches the page through esc() or textContent. */
(function () {
  "use strict";
  function esc(s) {
    return String(s).replace(/[&<>"'`=\/]/g, function (c) {
      return "&#" + c.charCodeAt(0) + ";";
    });
  }
  function fmt(v, unit) {
    if (v === null || v === undefined || Number.isNaN(v)) return "geen gegevens";
    var digits = unit === "%" ? 1 : 0;
    var s = Number(v).toLocaleString("nl-NL", {minimumFractionDigits: digits, maximumFractionDigits: digits});
    if (unit === "%") return s + "%";
    if (unit && unit.indexOf("euro") === 0) return "€ " + s;
    return s;
  }
  function fmtDiff(v, unit) {
    if (v === null || v === undefined || Number.isNaN(v)) return "–";
    var sign = v > 0 ? "+" : (v < 0 ? "−" : "±");
    var abs = Math.abs(v);
    var digits = unit === "%" ? 1 : 0;
    var s = abs.toLocaleString("nl-NL", {minimumFractionDigits: digits, maximumFractionDigits: digits});
    return sign + (unit && unit.indexOf("euro") === 0 ? "€ " : "") + s + (unit === "%" ? " procentpunt" : "");
  }

  function WijkprofielMap(map, layer, P) {
    var state = {series: P.default_series, comparator: P.comparators[0]};
    var panel = document.getElementById("wp-panel");
    var indSel = document.getElementById("wp-indicator");
    var perSel = document.getElementById("wp-period");
    var grpSel = document.getElementById("wp-group");
    var legend = document.getElementById("wp-legend");
    var title = document.getElementById("wp-map-title");

    function seriesFor(ind, period, group) {
      for (var s = 0; s < P.series.length; s++) {
        var x = P.series[s];
        if (x[0] === ind && x[1] === period && x[2] === group) return s;
      }
      return -1;
    }
    function fillSelect(sel, items, current) {
      while (sel.firstChild) sel.removeChild(sel.firstChild);
      items.forEach(function (it) {
        var o = document.createElement("option");
        o.value = String(it[0]);
        o.textContent = it[1];
        if (String(it[0]) === String(current)) o.selected = true;
        sel.appendChild(o);
      });
    }
    function buildIndicatorSelect() {
      var byTheme = {};
      var used = {};
      P.series.forEach(function (x) { used[x[0]] = true; });
      P.indicators.forEach(function (ind, i) {
        if (!used[i]) return;
        (byTheme[ind.theme] = byTheme[ind.theme] || []).push(i);
      });
      P.themes.forEach(function (th) {
        if (!byTheme[th[0]]) return;
        var g = document.createElement("optgroup");
        g.label = th[1];
        byTheme[th[0]].forEach(function (i) {
          var o = document.createElement("option");
          o.value = String(i);
          o.textContent = P.indicators[i].label;
          g.appendChild(o);
        });
        indSel.appendChild(g);
      });
    }
    function syncSelectors() {
      var cur = P.series[state.series];
      indSel.value = String(cur[0]);
      var periods = [], groups = [];
      P.series.forEach(function (x) {
        if (x[0] !== cur[0]) return;
        if (periods.indexOf(x[1]) < 0) periods.push(x[1]);
        if (x[1] === cur[1] && groups.indexOf(x[2]) < 0) groups.push(x[2]);
      });
      periods.sort();
      fillSelect(perSel, periods.map(function (p) { return [p, String(p)]; }), cur[1]);
      fillSelect(grpSel, groups.map(function (g) { return [g, P.groups[g]]; }), cur[2]);
    }
    function classOf(s, f) {
      var arr = state.comparator === "gemeente" ? P.class_gm[s] : P.class_nl[s];
      return arr[f];
    }
    function style(feature) {
      var f = feature.properties.k;
      var c = classOf(state.series, f);
      var missing = P.values[state.series][f] === null;
      return {
        fillColor: P.class_colors[c], fillOpacity: missing ? 0.35 : 0.8,
        color: missing ? "#777777" : "#444444", weight: missing ? 1 : 0.7,
        dashArray: missing ? "3 3" : null
      };
    }
    function tooltip(f) {
      var s = state.series, x = P.series[s], ind = P.indicators[x[0]];
      var v = P.values[s][f], gm = P.gm_values ? P.gm_values[s][f] : null, nl = P.nl_values[s];
      var c = classOf(s, f);
      var comp = state.comparator === "gemeente" ? gm : nl;
      var lines = [
        "<strong>" + esc(P.names[f]) + "</strong> <span class='wp-code'>" + esc(P.codes[f]) + "</span>",
        esc(ind.label) + " (" + esc(P.groups[x[2]]) + ", " + esc(x[1]) + ")",
        "Waarde: <strong>" + esc(fmt(v, ind.unit)) + "</strong>" +
          (P.suppressed && P.suppressed[s][f] ? " (onderdrukt: te kleine aantallen)" : ""),
      ];
      if (P.gm_values) lines.push("Gemeente: " + esc(fmt(gm, ind.unit)));
      lines.push("Nederland: " + esc(fmt(nl, ind.unit)));
      if (v !== null && comp !== null) {
        lines.push("Verschil met " + (state.comparator === "gemeente" ? "gemeente" : "Nederland") + ": " +
          esc(fmtDiff(v - comp, ind.unit)));
      }
      lines.push("Klasse: <strong>" + esc(P.class_labels[c]) + "</strong>" +
        (c !== 0 && P.descriptive ? " <em>(beschrijvend, geen significantietoets)</em>" : ""));
      lines.push("<span class='wp-source'>Bron: " + esc(ind.source) + "</span>");
      return lines.join("<br>");
    }
    function drawLegend() {
      var x = P.series[state.series], ind = P.indicators[x[0]];
      while (legend.firstChild) legend.removeChild(legend.firstChild);
      var h = document.createElement("div");
      h.className = "wp-legend-title";
      h.textContent = (state.comparator === "gemeente" ? "t.o.v. gemeente" : "t.o.v. Nederland") +
        (P.descriptive ? " — beschrijvende klassen" : "");
      legend.appendChild(h);
      var keys = ind.polarity === "neutral" ? P.legend_neutral : P.legend_polar;
      keys.forEach(function (c) {
        var row = document.createElement("div");
        var sw = document.createElement("span");
        sw.className = "wp-swatch";
        sw.style.background = P.class_colors[c];
        var t = document.createElement("span");
        t.textContent = P.class_labels[c] + " (" + P.class_marks[c] + ")";
        row.appendChild(sw); row.appendChild(t);
        legend.appendChild(row);
      });
      if (P.descriptive) {
        var note = document.createElement("div");
        note.className = "wp-note";
        note.textContent = P.descriptive_note;
        legend.appendChild(note);
      }
      title.textContent = ind.label + " · " + P.groups[x[2]] + " · " + x[1];
    }
    function redraw() {
      layer.setStyle(style);
      layer.eachLayer(function (l) {
        if (l.isTooltipOpen && l.isTooltipOpen()) l.setTooltipContent(tooltip(l.feature.properties.k));
      });
      drawLegend();
      document.body.setAttribute("data-wp-series", String(state.series));
      document.body.setAttribute("data-wp-comparator", state.comparator);
    }
    layer.eachLayer(function (l) {
      l.bindTooltip(function () { return tooltip(l.feature.properties.k); }, {sticky: true});
      l.on("mouseover", function () { l.setStyle({weight: 2.5, color: "#000000"}); });
      l.on("mouseout", function () { layer.resetStyle(l); l.setStyle(style(l.feature)); });
      l.on("keypress", function () { l.openTooltip(); });
    });
    buildIndicatorSelect();
    syncSelectors();
    indSel.addEventListener("change", function () {
      var i = Number(indSel.value), cur = P.series[state.series];
      var s = seriesFor(i, cur[1], cur[2]);
      if (s < 0) { for (var k = P.series.length - 1; k >= 0; k--) { if (P.series[k][0] === i) { s = k; break; } } }
      state.series = s; syncSelectors(); redraw();
    });
    perSel.addEventListener("change", function () {
      var cur = P.series[state.series];
      var s = seriesFor(cur[0], Number(perSel.value), cur[2]);
      if (s < 0) { for (var k = 0; k < P.series.length; k++) { if (P.series[k][0] === cur[0] && P.series[k][1] === Number(perSel.value)) { s = k; break; } } }
      state.series = s; syncSelectors(); redraw();
    });
    grpSel.addEventListener("change", function () {
      var cur = P.series[state.series];
      state.series = seriesFor(cur[0], cur[1], grpSel.value); syncSelectors(); redraw();
    });
    Array.prototype.forEach.call(document.querySelectorAll("input[name=wp-comparator]"), function (r) {
      r.addEventListener("change", function () { if (r.checked) { state.comparator = r.value; redraw(); } });
    });
    if (P.bounds) map.fitBounds(P.bounds, {paddingTopRight: [350, 10], paddingBottomLeft: [10, 40]});
    redraw();
    window.wijkprofiel = {state: state, layer: layer, payload: P, redraw: redraw,
      select: function (i, period, group, comparator) {
        var s = seriesFor(i, period, group); if (s >= 0) state.series = s;
        if (comparator) state.comparator = comparator; syncSelectors(); redraw(); return s;
      }};
    panel.setAttribute("data-ready", "1");
  }
  window.WijkprofielMap = WijkprofielMap;
})();
