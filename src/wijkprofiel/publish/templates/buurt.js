/* Buurt profiles of one gemeente: renders the buurt named in the address (…html#BU05990325)
   from the page's JSON (<script id="bp-data">, see wijkprofiel.publish._buurt_payload).
   Every text from data goes through textContent; numbers are formatted as on the wijk
   profiles (Dutch, half-to-even like numpy). Without JavaScript the table of all buurten
   remains. */
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("bp-data").textContent);
  var SVG = "http://www.w3.org/2000/svg";
  var A = D.alphabet, W = D.width, S = D.series, byCode = {};
  D.buurten.forEach(function (b, k) { byCode[b.c] = k; });
  var h1 = document.getElementById("bp-h1"), box = document.getElementById("bp-profile");
  var howto = document.getElementById("bp-howto"), baseH1 = h1.textContent, baseTitle = document.title;
  var SUPPRESSED_TITLE = box.getAttribute("data-suppressed-title");

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }
  function svg(tag, attrs) {
    var e = document.createElementNS(SVG, tag);
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    return e;
  }
  function rint(x) {  // numpy's round half to even
    var r = Math.round(x);
    if (Math.abs(x % 1) === 0.5 && r % 2 !== 0) r -= 1;
    return r;
  }
  function fmt(v, d, signed) {
    if (v === null || v === undefined) return "–";
    var scaled = rint(v * Math.pow(10, d));
    var parts = (Math.abs(scaled) / Math.pow(10, d)).toFixed(d).split(".");
    var text = parts[0].replace(/\B(?=(\d{3})+(?!\d))/g, ".") + (parts.length > 1 ? "," + parts[1] : "");
    if (signed) return (scaled > 0 ? "+" : scaled < 0 ? "\u2212" : "\u00b1") + text;
    return (scaled < 0 ? "\u2212" : "") + text;
  }
  function diff(a, b) { return a === null || b === null ? null : Math.round((a - b) * 1e6) / 1e6; }
  function coord(v) { return (Math.min(1299, Math.max(0, Math.round((isFinite(v) ? v : 0) * 10))) / 10).toFixed(1); }

  function cells(codeString, width, alphabet, values) {  // per series: [index, value]
    var out = [], vi = 0;
    for (var s = 0; s < S.length; s++) {
      var x = 0;
      for (var j = 0; j < width; j++) x = x * alphabet.length + alphabet.indexOf(codeString.charAt(s * width + j));
      out.push([x, x ? values[vi++] : null]);
    }
    return out;
  }

  function classCell(klass, star) {
    var td = el("td", {"class": "l k-" + klass[0]});
    td.appendChild(el("span", {"class": "mk"}, klass[1]));
    td.appendChild(document.createTextNode(" " + klass[2] + (star ? "*" : "")));
    return td;
  }
  function suppressedCell() {
    var td = el("td", {"class": "l k-not_compared", "title": SUPPRESSED_TITLE});
    td.appendChild(el("span", {"class": "mk"}, D.not_compared[1]));
    td.appendChild(document.createTextNode(" geen vergelijking (onderdrukt)"));
    return td;
  }

  function spine(stats, v, gm, nl, color, d) {
    var lo = stats[0], q1 = stats[1], med = stats[2], q3 = stats[3], hi = stats[4], span = hi - lo > 0 ? hi - lo : 1;
    function x(a) { return coord(3 + 114 * (Math.min(hi, Math.max(lo, a)) - lo) / span); }
    var w = coord(Math.min(114, Math.max(0, 114 * (q3 - q1) / span)));
    var s = svg("svg", {"class": "sp", "viewBox": "0 0 120 14", "role": "img"});
    var t = svg("title", {});
    t.textContent = "Buurten in Nederland: " + fmt(lo, d) + " tot " + fmt(hi, d) + ", middelste helft " + fmt(q1, d) +
      " tot " + fmt(q3, d) + "; buurt " + fmt(v, d) + ", gemeente " + fmt(gm, d) + ", Nederland " + fmt(nl, d);
    s.appendChild(t);
    s.appendChild(svg("path", {"class": "r", "d": "M3 4h114v6H3z"}));
    s.appendChild(svg("path", {"class": "q", "d": "M" + x(q1) + " 4h" + w + "v6h-" + w + "z"}));
    s.appendChild(svg("path", {"class": "m", "d": "M" + x(med) + " 4v6"}));
    if (nl !== null) s.appendChild(svg("path", {"class": "n", "d": "M" + x(nl) + " 1v12"}));
    if (gm !== null) s.appendChild(svg("path", {"class": "g", "d": "M" + x(gm) + " 2v10"}));
    if (v !== null) s.appendChild(svg("circle", {"cx": x(v), "cy": "7", "r": "3.6", "fill": color}));
    return s;
  }

  function trend(waves, d) {  // waves: [[period, value]] with values, by period
    var frag = document.createDocumentFragment();
    if (!waves.length) return frag;
    if (waves.length >= 2) {
      var ps = waves.map(function (w) { return w[0]; }), vs = waves.map(function (w) { return w[1]; });
      var pmin = Math.min.apply(null, ps), pmax = Math.max.apply(null, ps);
      var vmin = Math.min.apply(null, vs), vmax = Math.max.apply(null, vs);
      var points = waves.map(function (w) {
        return coord(2 + 40 * (w[0] - pmin) / (pmax > pmin ? pmax - pmin : 1)) + "," +
          coord(12 - 10 * (w[1] - vmin) / (vmax > vmin ? vmax - vmin : 1));
      }).join(" ");
      var s = svg("svg", {"class": "sl", "viewBox": "0 0 44 14", "aria-hidden": "true"});
      s.appendChild(svg("polyline", {"points": points}));
      frag.appendChild(s);
      frag.appendChild(document.createTextNode(" "));
    }
    frag.appendChild(el("span", {"class": "tr"}, waves.map(function (w) {
      return "\u2019" + String(w[0] % 100).padStart(2, "0") + " " + fmt(w[1], d);
    }).join(" \u00b7 ")));
    return frag;
  }

  function headRow() {
    var tr = el("tr");
    [["Indicator", "l"], ["Buurt"], ["Wijk"], ["Gemeente"], ["Nederland"], ["Verschil gemeente"], ["Verschil NL"],
     ["Klasse t.o.v. gemeente", "l"], ["Klasse t.o.v. NL", "l"], ["Spreiding buurten NL", "c"], ["Trend", "l"]]
      .forEach(function (h) { tr.appendChild(el("th", h[1] ? {"scope": "col", "class": h[1]} : {"scope": "col"}, h[0])); });
    var thead = el("thead");
    thead.appendChild(tr);
    return thead;
  }

  function render(b) {
    var own = cells(b.k, W, A, b.v), wijk = D.wijken[b.w];
    var wcells = wijk ? cells(wijk.k, 1, ".vs", wijk.v) : null;
    var ci = {};
    (b.i || []).forEach(function (c) { ci[c[0]] = [c[1], c[2]]; });
    var latest = {}, waves = {};
    S.forEach(function (s, k) {
      if (!own[k][0]) return;
      latest[s[0]] = Math.max(latest[s[0]] || 0, s[1]);
      var combo = D.combos[own[k][0] - 1];
      if (own[k][1] !== null && !combo.s) (waves[s[0] + "|" + s[2]] = waves[s[0] + "|" + s[2]] || []).push([s[1], own[k][1]]);
    });
    var body = document.getElementById("bp-body");
    body.textContent = "";
    var table = null, tbody = null, theme = -1, gmo = 0;
    S.forEach(function (s, k) {
      var isGmo = s[3] === 1;
      if (!isGmo && !(own[k][0] && s[1] === latest[s[0]])) return;
      var ind = D.indicators[s[0]], d = ind[3];
      if (ind[4] !== theme) {
        theme = ind[4];
        body.appendChild(el("h2", {}, D.themes[theme]));
        table = el("table"); table.appendChild(headRow()); tbody = el("tbody"); table.appendChild(tbody);
        body.appendChild(table);
      }
      var combo = isGmo ? null : D.combos[own[k][0] - 1], v = isGmo || combo.s ? null : own[k][1];
      var tr = el("tr"), th = el("th", {"scope": "row", "class": "l"}, ind[1]);
      th.appendChild(el("br"));
      th.appendChild(el("span", {"class": "grp"}, D.groups[s[2]][1] + ", " + s[1]));
      tr.appendChild(th);
      var value = el("td");
      if (isGmo) { value.appendChild(el("span", {"class": "gmo"}, "alleen per gemeente")); gmo += 1; }
      else if (combo.s) value.appendChild(el("span", {"class": "sup", "title": SUPPRESSED_TITLE}, "onderdrukt"));
      else {
        value.textContent = fmt(v, d);
        if (ci[k]) { value.appendChild(el("br")); value.appendChild(el("span", {"class": "ci"}, fmt(ci[k][0], d) + "–" + fmt(ci[k][1], d))); }
      }
      tr.appendChild(value);
      var wv = wcells && wcells[k][0] ? wcells[k] : null;
      var wtd = el("td");
      if (wv && wv[0] === 2) wtd.appendChild(el("span", {"class": "sup", "title": SUPPRESSED_TITLE}, "onderdrukt"));
      else wtd.textContent = fmt(wv ? wv[1] : null, d);
      tr.appendChild(wtd);
      tr.appendChild(el("td", {}, fmt(s[4], d)));
      tr.appendChild(el("td", {}, fmt(s[5], d)));
      tr.appendChild(el("td", {}, fmt(diff(v, s[4]), d, true)));
      tr.appendChild(el("td", {}, fmt(diff(v, s[5]), d, true)));
      if (combo && combo.s) { tr.appendChild(suppressedCell()); tr.appendChild(suppressedCell()); }
      else if (combo) { tr.appendChild(classCell(combo.g, combo.star)); tr.appendChild(classCell(combo.n, combo.star)); }
      else { tr.appendChild(classCell(D.not_compared, false)); tr.appendChild(classCell(D.not_compared, false)); }
      var sp = el("td", {"class": "c"});
      if (s[6] && !isGmo) sp.appendChild(spine(s[6], v, s[4], s[5], combo ? combo.col : "#d9d9d9", d));
      tr.appendChild(sp);
      var tc = el("td", {"class": "l"});
      if (!isGmo) tc.appendChild(trend((waves[s[0] + "|" + s[2]] || []).sort(function (a, c) { return a[0] - c[0]; }), d));
      tr.appendChild(tc);
      tbody.appendChild(tr);
    });
    var prio = document.getElementById("bp-prio"), list = document.getElementById("bp-prio-list");
    list.textContent = "";
    b.p.forEach(function (p) {
      var s = S[p[0]], ind = D.indicators[s[0]], combo = D.combos[own[p[0]][0] - 1], vsGm = p[1] === 1;
      list.appendChild(el("li", {}, ind[1] + " (" + D.groups[s[2]][1] + ", " + s[1] + "): " + fmt(own[p[0]][1], ind[3]) +
        " tegen " + fmt(vsGm ? s[4] : s[5], ind[3]) + " (" + (vsGm ? "gemeente" : "Nederland") + ") \u2014 " +
        (vsGm ? combo.pg : combo.pn)));
    });
    prio.hidden = !b.p.length;
    var stars = D.combos.some(function (c) { return c.star; });
    document.getElementById("bp-star").hidden = !stars;
    var meta = document.getElementById("bp-meta");
    meta.textContent = "Buurt " + b.c + " in wijk " + (wijk ? wijk.n : b.w) + " (" + b.w + "), gemeente " + D.gemeente[1] +
      " (" + D.gemeente[0] + ") \u00b7 indeling " + D.indeling;
    var wlink = document.getElementById("bp-wijk");
    wlink.textContent = "wijkprofiel " + (wijk ? wijk.n : b.w);
    wlink.setAttribute("href", encodeURIComponent(b.w) + ".html");
  }

  function current() {
    try { return decodeURIComponent(window.location.hash.slice(1)); } catch (e) { return ""; }
  }
  function show(code, focus) {
    var has = Object.prototype.hasOwnProperty.call(byCode, code);
    Array.prototype.forEach.call(document.querySelectorAll("#bp-table tbody a[aria-current]"), function (a) {
      a.removeAttribute("aria-current");
    });
    if (!has) {
      box.hidden = true; howto.hidden = false; h1.textContent = baseH1; document.title = baseTitle;
      return;
    }
    var b = D.buurten[byCode[code]];
    render(b);
    Array.prototype.forEach.call(document.querySelectorAll("#bp-table tbody tr"), function (tr) {
      var a = tr.querySelector("a");
      if (a && tr.getAttribute("data-code") === code) a.setAttribute("aria-current", "page");
    });
    box.hidden = false; howto.hidden = true;
    h1.textContent = "Buurtprofiel " + b.n;
    document.title = "Buurtprofiel " + b.n + " (" + b.c + ")";
    if (focus) { h1.focus(); window.scrollTo(0, 0); }
  }
  window.addEventListener("hashchange", function () { show(current(), true); });
  show(current(), false);
  // the browser scrolls to the buurt's row of the table (the address' target) after loading:
  // then lead to the profile instead
  window.addEventListener("load", function () {
    if (!box.hidden) window.setTimeout(function () { h1.focus(); window.scrollTo(0, 0); }, 0);
  });
  window.buurtprofiel = {ready: true, data: D, show: show};
})();
