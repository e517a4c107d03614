/* wijkprofiel map controller.
   Decodes the compact payload (shared-arc geometry, fixed-width series strings), draws one
   polygon per area and restyles them when the user picks an indicator, year, age group or
   comparator. Every string from data reaches the page through esc() or textContent. */
(function () {
  "use strict";
  var ARC = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  var ARC_LUT = new Int16Array(128), VAL_LUT = new Int16Array(128), VAL_BASE = 0;
  (function () {
    var i;
    for (i = 0; i < ARC.length; i++) ARC_LUT[ARC.charCodeAt(i)] = i;
    for (i = 32; i < 127; i++) {
      var c = String.fromCharCode(i);
      if ('"\\<>&'.indexOf(c) < 0) VAL_LUT[i] = VAL_BASE++;
    }
  })();
  var HATCH = {missing: "url(#wp-hatch-missing)", suppressed: "url(#wp-hatch-suppressed)", nogeo: "url(#wp-hatch-nogeo)"};

  function esc(s) {
    return String(s).replace(/[&<>"'`=\/]/g, function (c) { return "&#" + c.charCodeAt(0) + ";"; });
  }
  function varints(str) {
    var out = [], shift = 0, res = 0;
    for (var i = 0; i < str.length; i++) {
      var d = ARC_LUT[str.charCodeAt(i)];
      res += (d & 31) * Math.pow(2, shift);
      if (d & 32) { shift += 5; continue; }
      out.push(res % 2 ? -(res + 1) / 2 : res / 2);
      shift = 0; res = 0;
    }
    return out;
  }
  function fixed(str, w) {
    var n = str.length / w, out = new Int32Array(n);
    for (var i = 0, p = 0; i < n; i++) {
      var v = 0;
      for (var j = 0; j < w; j++) v = v * VAL_BASE + VAL_LUT[str.charCodeAt(p++)];
      out[i] = v;
    }
    return out;
  }
  function decodeValues(spec) {
    var codes = fixed(spec[3], spec[2]), f = Math.pow(10, spec[0]), n = codes.length;
    var v = new Array(n), sup = new Uint8Array(n);
    for (var i = 0; i < n; i++) {
      var c = codes[i];
      if (c === 0) v[i] = null;
      else if (c === 1) { v[i] = null; sup[i] = 1; }
      else v[i] = (c - 2 + spec[1]) / f;
    }
    return {v: v, sup: sup};
  }
  function decodeGeo(geo) {
    var f = Math.pow(10, geo.q), x = geo.o[0], y = geo.o[1];
    var arcs = geo.arcs ? geo.arcs.split(";").map(function (s) {
      var d = varints(s), pts = new Array(d.length / 2);
      for (var i = 0; i < d.length; i += 2) { x += d[i]; y += d[i + 1]; pts[i / 2] = [y / f, x / f]; }
      return pts;
    }) : [];
    var prev = 0;
    function polygons(text) {
      return text.split(";").map(function (poly) {
        return poly.split(",").map(function (ring) {
          var pts = [];
          varints(ring).forEach(function (v) {
            var rev = ((v % 2) + 2) % 2, i = prev + (v - rev) / 2;
            prev = i;
            var seg = rev ? arcs[i].slice().reverse() : arcs[i];
            pts = pts.length ? pts.concat(seg.slice(1)) : seg.slice();
          });
          return pts;
        });
      });
    }
    var areas = geo.areas.map(polygons);
    var bases = (geo.bases || []).map(polygons);
    var outlines = geo.outlines.map(function (text) {
      var i = 0;
      return varints(text).map(function (d) { i += d; return i; });
    });
    return {areas: areas, bases: bases, outlines: outlines, arcs: arcs};
  }
  function fmt(v, ind) {
    if (v === null || v === undefined || Number.isNaN(v)) return "geen gegevens";
    var s = Number(v).toLocaleString("nl-NL", {minimumFractionDigits: ind.digits, maximumFractionDigits: ind.digits});
    if (ind.unit === "%") return s + "%";
    if (ind.unit.indexOf("euro") === 0) return "€ " + s;
    return s;
  }
  function fmtDiff(v, ind) {
    var sign = v > 0 ? "+" : (v < 0 ? "−" : "±");
    var s = Math.abs(v).toLocaleString("nl-NL", {minimumFractionDigits: ind.digits, maximumFractionDigits: ind.digits});
    return sign + (ind.unit.indexOf("euro") === 0 ? "€ " : "") + s + (ind.unit === "%" ? " procentpunt" : "");
  }

  function WijkprofielMap(map, P) {
    var state = {series: P.default_series, comparator: P.comparators[0], sort: {col: 0, dir: 1}};
    var el = function (id) { return document.getElementById(id); };
    var indSel = el("wp-indicator"), perSel = el("wp-period"), grpSel = el("wp-group");
    var legend = el("wp-legend-body"), title = el("wp-map-title"), box = el("wp-table-box");
    var C = P.classes, cache = {}, nF = P.codes.length, multiParent = P.parents && P.parents.length > 1;
    var basemap = null;  // optional OpenStreetMap tiles (off by default: offline)
    // the page works without script (static table); with it, the controls show and the table folds away
    showControls();
    box.hidden = true;
    el("wp-table-close").hidden = false;
    var linkedSet = null;
    if (P.linked) { linkedSet = {}; P.linked.forEach(function (k) { linkedSet[k] = true; }); }
    function hrefOf(k) {  // the area's profile page (P.href with {} for the code), or null
      return P.href && (!linkedSet || linkedSet[k]) ? P.href.replace("{}", encodeURIComponent(P.codes[k])) : null;
    }

    function S(s) {
      if (cache[s]) return cache[s];
      var d = decodeValues(P.val[s]), cls = P.cls[s], pal = cls[0], n = pal.length;
      var codes = fixed(cls[2], cls[1]), cnl = new Int8Array(nF), cgm = new Int8Array(nF);
      for (var i = 0; i < nF; i++) {
        if (P.parents) { cnl[i] = pal[Math.floor(codes[i] / n)]; cgm[i] = pal[codes[i] % n]; }
        else { cnl[i] = pal[codes[i]]; cgm[i] = cnl[i]; }
      }
      d.cnl = cnl; d.cgm = cgm;
      var m = P.mth[s];
      d.method = typeof m === "number" ? function () { return m; } : (function (a) { return function (k) { return a[k]; }; })(fixed(m[1], m[0]));
      if (P.ci && P.ci[s]) { d.lo = decodeValues(P.ci[s][0]).v; d.hi = decodeValues(P.ci[s][1]).v; }
      if (P.pval) d.pv = decodeValues(P.pval[s]).v;
      cache[s] = d;
      return d;
    }
    function info(k, s) {
      s = s === undefined ? state.series : s;
      var d = S(s), x = P.series[s], ind = P.indicators[x[0]], gmc = state.comparator === "gemeente";
      var pv = d.pv ? d.pv[P.parent[k]] : null, nl = P.nl[s], v = d.v[k];
      var comp = gmc ? pv : nl, c = gmc ? d.cgm[k] : d.cnl[k], method = P.methods[d.method(k)];
      return {k: k, name: P.names[k], code: P.codes[k], ind: ind, period: x[1], group: P.groups[x[2]],
              value: v, suppressed: !!d.sup[k], lo: d.lo ? d.lo[k] : null, hi: d.hi ? d.hi[k] : null,
              gemeente: pv, gemeente_name: P.parents ? P.parents[P.parent[k]][1] : null, nl: nl,
              diff: (v !== null && comp !== null && comp !== undefined) ? Math.round((v - comp) * 1e6) / 1e6 : null,
              cls: c, class_id: C.ids[c], method: method[0], phrase: phrase(c, method[1], gmc)};
    }
    function phrase(c, kind, gmc) {
      var target = gmc ? "de gemeente" : "Nederland", id = C.ids[c], label = C.labels[c];
      if (id === "not_compared") return "geen vergelijking mogelijk";
      var core = id === "similar" ? "vergelijkbaar met " + target : label + " dan " + target;
      if (kind === "significance") return id === "similar" ? "niet significant verschillend van " + target : "significant " + core;
      return "beschrijvend: " + core;
    }
    function valueText(r) {
      if (r.value === null) return r.suppressed ? "onderdrukt (te kleine aantallen)" : "geen gegevens";
      return fmt(r.value, r.ind);
    }
    function ciText(r) {
      return (r.lo !== null && r.hi !== null) ? fmt(r.lo, r.ind) + " – " + fmt(r.hi, r.ind) : "";
    }
    function style(k) {
      var d = S(state.series);
      if (d.v[k] === null) {
        return {fillColor: d.sup[k] ? HATCH.suppressed : HATCH.missing, fillOpacity: 1, color: "#666666", weight: 0.6};
      }
      var c = state.comparator === "gemeente" ? d.cgm[k] : d.cnl[k];
      return {fillColor: C.colors[c], fillOpacity: basemap ? 0.75 : 1, color: "#555555", weight: 0.5};
    }
    function tooltip(k) {
      var r = info(k), gmc = state.comparator === "gemeente", ci = ciText(r);
      var lines = [
        "<strong data-f='name'>" + esc(r.name) + "</strong> <span class='wp-code' data-f='code'>" + esc(r.code) + "</span>" +
          (multiParent ? " <span class='wp-code'>· " + esc(r.gemeente_name) + "</span>" : ""),
        esc(r.ind.label) + " (" + esc(r.group) + ", " + esc(r.period) + ")",
        "Waarde: <strong data-f='value'>" + esc(valueText(r)) + "</strong>" +
          (ci ? " <span data-f='ci'>(95%-interval " + esc(ci) + ")</span>" : "")
      ];
      if (P.pval) lines.push("Gemeente" + (r.gemeente_name ? " " + esc(r.gemeente_name) : "") + ": <span data-f='gemeente'>" + esc(fmt(r.gemeente, r.ind)) + "</span>");
      lines.push("Nederland: <span data-f='nl'>" + esc(fmt(r.nl, r.ind)) + "</span>");
      if (r.diff !== null) {
        lines.push("Verschil met " + (gmc ? "gemeente" : "Nederland") + ": <span data-f='diff'>" + esc(fmtDiff(r.diff, r.ind)) + "</span>");
      }
      lines.push("Klasse: <strong data-f='class'>" + esc(r.phrase) + "</strong> (" + esc(C.marks[r.cls]) + ")");
      lines.push("<span class='wp-source'>Bron: " + esc(r.ind.source) + ", " + esc(r.period) + "</span>");
      if (hrefOf(k)) lines.push("<span class='wp-source'>Klik of Enter: " + esc(P.link_label || "profiel") + " openen</span>");
      return lines.join("<br>");
    }

    // ---------------------------------------------------------------- layers
    var geo = decodeGeo(P.geo), layers = new Array(nF), group = L.featureGroup();
    // parts of gemeenten whose wijken have no map geometry: dotted, under the areas
    geo.bases.forEach(function (rings) {
      L.polygon(rings.length === 1 ? rings[0] : rings, {interactive: false, stroke: false, fillColor: HATCH.nogeo,
                                                        fillOpacity: 1, className: "wp-nogeo"}).addTo(map);
    });
    for (var k = 0; k < nF; k++) {
      var rings = geo.areas[k];
      var l = L.polygon(rings.length === 1 ? rings[0] : rings, {className: "wp-area", bubblingMouseEvents: false});
      l.wpK = k;
      layers[k] = l;
      group.addLayer(l);
    }
    group.addTo(map);
    map.createPane("wp-outlines").style.zIndex = 450;
    map.getPane("wp-outlines").style.pointerEvents = "none";
    var outlineRenderer = L.svg({pane: "wp-outlines"});
    var roles = P.outline_roles || [];
    [0, 2, 1].forEach(function (role) {
      var seen = {}, lines = [];  // a border shared by two gemeenten is drawn once
      geo.outlines.forEach(function (o, i) {
        if ((roles[i] || 0) !== role) return;
        o.forEach(function (a) { if (!seen[a]) { seen[a] = true; lines.push(geo.arcs[a]); } });
      });
      if (lines.length) {
        L.polyline(lines, {renderer: outlineRenderer, interactive: false, className: "wp-outline wp-outline-" + role,
                           color: ["#555555", "#111111", "#222222"][role], weight: [1, 2.2, 1.2][role],
                           opacity: [0.7, 0.9, 0.8][role]}).addTo(map);
      }
    });
    // highlight drawn in the (non-interactive) outline pane: no DOM reordering under the cursor
    var highlight = L.polygon([], {renderer: outlineRenderer, interactive: false, fill: false, color: "#000000",
                                   weight: 3, className: "wp-highlight"}).addTo(map);
    function hilite(l) { highlight.setLatLngs(l ? l.getLatLngs() : []); }
    layers.forEach(function (l) {
      l.bindTooltip(function () { return tooltip(l.wpK); }, {sticky: true});
      l.on("mouseover", function () { hilite(l); });
      l.on("mouseout", function () { hilite(null); });
    });
    // an area with a profile is a link: click (a first tap on a touch screen only shows the
    // tooltip), or Tab to it and Enter
    var lastPointer = "mouse", tapped = -1;
    map.getContainer().addEventListener("pointerdown", function (e) { lastPointer = e.pointerType; }, true);
    function openArea(k) { var h = hrefOf(k); if (h) window.location.href = h; }
    layers.forEach(function (l) {
      l.on("click", function () {
        if (!hrefOf(l.wpK)) return;
        if (lastPointer === "touch" && tapped !== l.wpK) { tapped = l.wpK; return; }
        openArea(l.wpK);
      });
    });
    // every area a tab stop on gemeente and buurt maps; on national maps the table is the
    // keyboard route (thousands of tab stops would trap the user)
    var focusable = nF <= 200;
    if (focusable) {
      var pad = function () { return [Math.min(350, map.getSize().x / 3), 20]; };
      layers.forEach(function (l) {
        var p = l.getElement();
        if (!p) return;
        p.setAttribute("tabindex", "0");
        p.setAttribute("role", hrefOf(l.wpK) ? "link" : "img");
        p.addEventListener("focus", function () {
          var c = l.getBounds().getCenter();
          map.panInside(c, {paddingTopLeft: [20, 20], paddingBottomRight: pad(), animate: false});
          l.openTooltip(c); hilite(l);
        });
        p.addEventListener("blur", function () { l.closeTooltip(); hilite(null); });
        p.addEventListener("keydown", function (e) { if (e.key === "Enter") { e.preventDefault(); openArea(l.wpK); } });
      });
    }
    el("wp-keys").textContent = (focusable ? "Toetsenbord: Tab gaat langs de " + (P.level_label === "Buurt" ? "buurten" : "gebieden") +
      " op de kaart" + (P.href ? ", Enter opent het " + (P.link_label || "profiel") : "") + "; " : "Toetsenbord: de tabel (knop ‘Toon tabel’) " +
      "bevat alle gebieden" + (P.href ? " met een link naar het " + (P.link_label || "profiel") : "") + "; ") +
      "pijltjestoetsen verschuiven de kaart, + en − zoomen.";
    (function dutchZoom() {
      [["in", "Inzoomen"], ["out", "Uitzoomen"]].forEach(function (z) {
        var a = map.getContainer().querySelector(".leaflet-control-zoom-" + z[0]);
        if (a) { a.title = z[1]; a.setAttribute("aria-label", z[1]); }
      });
    })();

    // -------------------------------------------------------------- controls
    function seriesFor(ind, period, grp) {
      for (var s = 0; s < P.series.length; s++) {
        var x = P.series[s];
        if (x[0] === ind && x[1] === period && x[2] === grp) return s;
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
    (function buildIndicatorSelect() {
      var byTheme = {}, used = {};
      P.series.forEach(function (x) { used[x[0]] = true; });
      P.indicators.forEach(function (ind, i) { if (used[i]) (byTheme[ind.theme] = byTheme[ind.theme] || []).push(i); });
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
    })();
    function syncSelectors() {
      var cur = P.series[state.series], periods = [], groups = [];
      indSel.value = String(cur[0]);
      P.series.forEach(function (x) {
        if (x[0] !== cur[0]) return;
        if (periods.indexOf(x[1]) < 0) periods.push(x[1]);
        if (x[1] === cur[1] && groups.indexOf(x[2]) < 0) groups.push(x[2]);
      });
      periods.sort();
      fillSelect(perSel, periods.map(function (p) { return [p, String(p)]; }), cur[1]);
      fillSelect(grpSel, groups.map(function (g) { return [g, P.groups[g]]; }), cur[2]);
    }
    function swatch(fill, text, count) {
      var row = document.createElement("li"), ns = "http://www.w3.org/2000/svg";
      var svg = document.createElementNS(ns, "svg"), rect = document.createElementNS(ns, "rect");
      svg.setAttribute("width", "16"); svg.setAttribute("height", "14"); svg.setAttribute("class", "wp-swatch");
      svg.setAttribute("aria-hidden", "true");
      rect.setAttribute("x", "0.5"); rect.setAttribute("y", "0.5"); rect.setAttribute("width", "15"); rect.setAttribute("height", "13");
      rect.setAttribute("fill", fill); rect.setAttribute("stroke", "#555555");
      svg.appendChild(rect); row.appendChild(svg);
      var t = document.createElement("span");
      t.textContent = text + (count !== undefined ? " (" + count + ")" : "");
      row.appendChild(t);
      legend.lastChild.appendChild(row);
    }
    function drawLegend() {
      var x = P.series[state.series], ind = P.indicators[x[0]], d = S(state.series), gmc = state.comparator === "gemeente";
      var counts = {}, missing = 0, suppressed = 0, significance = false;
      for (var k = 0; k < nF; k++) {
        if (d.v[k] === null) { if (d.sup[k]) suppressed++; else missing++; continue; }
        var c = gmc ? d.cgm[k] : d.cnl[k];
        counts[c] = (counts[c] || 0) + 1;
        if (P.methods[d.method(k)][1] === "significance") significance = true;
      }
      while (legend.firstChild) legend.removeChild(legend.firstChild);
      var h = document.createElement("p");
      h.className = "wp-legend-title";
      h.textContent = (gmc ? "Vergeleken met de gemeente" : "Vergeleken met Nederland") +
        (significance ? " — getoetst (95%-betrouwbaarheidsinterval)" : " — beschrijvende klassen, geen significantietoets");
      legend.appendChild(h);
      legend.appendChild(document.createElement("ul"));
      (ind.polarity === "neutral" ? P.legend_neutral : P.legend_polar).forEach(function (c) {
        swatch(C.colors[c], C.labels[c] + " (" + C.marks[c] + ")", counts[c] || 0);
      });
      if (counts[0]) swatch(P.missing_color, "geen vergelijking mogelijk (" + C.marks[0] + ")", counts[0]);
      swatch(HATCH.missing, "geen gegevens (gearceerd)", missing);
      swatch(HATCH.suppressed, "onderdrukt: te kleine aantallen (kruisarcering)", suppressed);
      if (geo.bases.length) swatch(HATCH.nogeo, (P.level_label === "Buurt" ? "buurt" : "wijk") + " niet op de kaart (geen kaartgeometrie; gestippeld)");
      if (!significance) {
        var note = document.createElement("p");
        note.className = "wp-note";
        note.textContent = P.descriptive_note;
        legend.appendChild(note);
      }
      var src = document.createElement("p");
      src.className = "wp-source";
      src.textContent = "Bron: " + ind.source + " (" + x[1] + ")" + (P.geometry_note ? ". " + P.geometry_note : "");
      legend.appendChild(src);
      title.textContent = ind.label + " · " + P.groups[x[2]] + " · " + x[1];
    }

    // ----------------------------------------------------------------- table
    function columns() {
      var gmc = state.comparator === "gemeente", cols = [
        {h: P.level_label, f: function (r) { return r.name; }},
        {h: "Code", f: function (r) { return r.code; }}];
      if (multiParent) cols.push({h: "Gemeente", f: function (r) { return r.gemeente_name; }});
      cols.push({h: "Waarde", f: valueText, n: function (r) { return r.value; }});
      if (P.ci && P.ci[state.series]) cols.push({h: "95%-interval", f: ciText});
      if (P.pval) cols.push({h: "Waarde gemeente", f: function (r) { return fmt(r.gemeente, r.ind); }, n: function (r) { return r.gemeente; }});
      cols.push({h: "Nederland", f: function (r) { return fmt(r.nl, r.ind); }, n: function (r) { return r.nl; }});
      cols.push({h: "Verschil met " + (gmc ? "gemeente" : "Nederland"), f: function (r) { return r.diff === null ? "–" : fmtDiff(r.diff, r.ind); }, n: function (r) { return r.diff; }});
      cols.push({h: "Klasse (" + (gmc ? "t.o.v. gemeente" : "t.o.v. Nederland") + ")", f: function (r) { return C.marks[r.cls] + " " + r.phrase; }});
      return cols;
    }
    function buildTable() {
      if (box.hidden) return;
      var cols = columns(), rows = [], k, tbl = el("wp-table");
      tbl.hidden = false;  // large maps ship the table empty (hidden) and build it here
      for (k = 0; k < nF; k++) rows.push(info(k));
      var sc = cols[Math.min(state.sort.col, cols.length - 1)], dir = state.sort.dir;
      rows.sort(function (a, b) {
        var x = sc.n ? sc.n(a) : sc.f(a), y = sc.n ? sc.n(b) : sc.f(b);
        if (x === null || x === undefined) return 1;
        if (y === null || y === undefined) return -1;
        return (typeof x === "number" ? x - y : String(x).localeCompare(String(y), "nl")) * dir;
      });
      var cur = P.series[state.series], ind = P.indicators[cur[0]];
      el("wp-table-caption").textContent = ind.label + " · " + P.groups[cur[2]] + " · " + cur[1] + " — " + nF + " gebieden";
      var thead = tbl.tHead, tbody = tbl.tBodies[0];
      while (thead.firstChild) thead.removeChild(thead.firstChild);
      while (tbody.firstChild) tbody.removeChild(tbody.firstChild);
      var tr = document.createElement("tr");
      cols.forEach(function (c, i) {
        var th = document.createElement("th"), b = document.createElement("button");
        th.scope = "col";
        if (i === state.sort.col) th.setAttribute("aria-sort", dir > 0 ? "ascending" : "descending");
        b.type = "button";
        b.textContent = c.h + (i === state.sort.col ? (dir > 0 ? " ▲" : " ▼") : "");
        b.addEventListener("click", function () {
          state.sort = {col: i, dir: state.sort.col === i ? -state.sort.dir : 1};
          buildTable();
        });
        th.appendChild(b); tr.appendChild(th);
      });
      thead.appendChild(tr);
      var frag = document.createDocumentFragment();
      rows.forEach(function (r) {
        var row = document.createElement("tr");
        row.setAttribute("data-code", r.code);
        cols.forEach(function (c, i) {
          var td = document.createElement(i === 0 ? "th" : "td"), h = i === 0 ? hrefOf(r.k) : null;
          if (i === 0) td.scope = "row";
          if (h) {  // the row's link highlights its area on the map
            var a = document.createElement("a"), l = layers[r.k];
            a.href = h; a.textContent = c.f(r);
            a.addEventListener("focus", function () { hilite(l); });
            a.addEventListener("mouseenter", function () { hilite(l); });
            a.addEventListener("blur", function () { hilite(null); });
            a.addEventListener("mouseleave", function () { hilite(null); });
            td.appendChild(a);
          } else td.textContent = c.f(r);
          row.appendChild(td);
        });
        frag.appendChild(row);
      });
      tbody.appendChild(frag);
    }
    function toggleTable(show, focus) {
      box.hidden = !show;
      el("wp-table-toggle").setAttribute("aria-expanded", show ? "true" : "false");
      el("wp-table-toggle").textContent = show ? "Verberg tabel" : "Toon tabel";
      buildTable();
      if (show && focus) el("wp-table-h").focus();
    }

    function redraw() {
      layers.forEach(function (l) {
        l.setStyle(style(l.wpK));
        if (l.isTooltipOpen()) l.setTooltipContent(tooltip(l.wpK));
      });
      if (focusable) {
        layers.forEach(function (l) {
          var p = l.getElement(), r = info(l.wpK);
          if (p) {  // what the tooltip says, for screen readers
            p.setAttribute("aria-label", r.name + ": " + valueText(r) + " (" + (P.pval ? "gemeente " + fmt(r.gemeente, r.ind) + ", " : "") +
                           "Nederland " + fmt(r.nl, r.ind) + "); " + r.phrase);
          }
        });
      }
      drawLegend();
      buildTable();
      document.body.setAttribute("data-wp-series", String(state.series));
      document.body.setAttribute("data-wp-comparator", state.comparator);
    }
    indSel.addEventListener("change", function () {
      var i = Number(indSel.value), cur = P.series[state.series], s = seriesFor(i, cur[1], cur[2]);
      if (s < 0) { for (var k = P.series.length - 1; k >= 0; k--) { if (P.series[k][0] === i) { s = k; break; } } }
      state.series = s; syncSelectors(); redraw();
    });
    perSel.addEventListener("change", function () {
      var cur = P.series[state.series], p = Number(perSel.value), s = seriesFor(cur[0], p, cur[2]);
      if (s < 0) { for (var k = 0; k < P.series.length; k++) { if (P.series[k][0] === cur[0] && P.series[k][1] === p) { s = k; break; } } }
      state.series = s; syncSelectors(); redraw();
    });
    grpSel.addEventListener("change", function () {
      var cur = P.series[state.series];
      state.series = seriesFor(cur[0], cur[1], grpSel.value); syncSelectors(); redraw();
    });
    Array.prototype.forEach.call(document.querySelectorAll("input[name=wp-comparator]"), function (r) {
      r.addEventListener("change", function () { if (r.checked) { state.comparator = r.value; redraw(); } });
    });
    el("wp-table-toggle").addEventListener("click", function () { toggleTable(box.hidden, true); });
    el("wp-skip").addEventListener("click", function (e) { e.preventDefault(); toggleTable(true, true); });
    el("wp-table-close").addEventListener("click", function () { toggleTable(false); el("wp-table-toggle").focus(); });
    el("wp-basemap").addEventListener("change", function (e) {
      if (e.target.checked) {
        basemap = L.tileLayer("https://tile.openstreetmap.org/{z}/{x}/{y}.png",
          {maxZoom: 19, attribution: "&copy; OpenStreetMap-bijdragers"}).addTo(map);
      } else if (basemap) { map.removeLayer(basemap); basemap = null; }
      redraw();
    });

    map.options.zoomSnap = 0.25;
    map.fitBounds(P.bounds, {paddingTopLeft: [10, 10], paddingBottomRight: [Math.min(350, map.getSize().x / 3), 10], animate: false});
    syncSelectors();
    redraw();
    var api = {state: state, payload: P, map: map, layers: layers, info: info, redraw: redraw, ready: false,
      phrase: function (classId, method, comparator) {
        var m = P.methods.filter(function (x) { return x[0] === method; })[0];
        return phrase(C.ids.indexOf(classId), m ? m[1] : "descriptive", comparator === "gemeente");
      },
      select: function (i, period, grp, comparator) {
        var s = seriesFor(i, period, grp);
        if (s >= 0) state.series = s;
        if (comparator) {
          state.comparator = comparator;
          Array.prototype.forEach.call(document.querySelectorAll("input[name=wp-comparator]"), function (r) { r.checked = r.value === comparator; });
        }
        syncSelectors(); redraw(); return s;
      },
      showTable: toggleTable};
    window.wijkprofiel = api;
    el("wp-panel").setAttribute("data-ready", "1");
    requestAnimationFrame(function () { api.drawnAt = performance.now(); api.ready = true; });
  }
  function showControls() { document.getElementById("wp-controls").hidden = false; }
  WijkprofielMap.boot = function (map, P) {
    if (!P.gz) { new WijkprofielMap(map, P); return; }
    showControls();
    if (!window.DecompressionStream) {
      var t = document.getElementById("wp-map-title");
      t.textContent = "Deze kaart vraagt een recentere browser (Edge of Chrome 80+, Firefox 113+, Safari 16.4+).";
      return;
    }
    var bin = atob(P.gz), bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    new Response(new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"))).text()
      .then(function (text) { new WijkprofielMap(map, JSON.parse(text)); })
      .catch(function (e) { document.getElementById("wp-map-title").textContent = "Kaartgegevens konden niet worden gelezen."; throw e; });
  };
  window.WijkprofielMap = WijkprofielMap;
})();
