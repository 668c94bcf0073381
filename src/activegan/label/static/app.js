// activegan label: the page. Plain JS, no build step. The server is the source of truth;
// the page labels optimistically and polls, so the person never waits on a frozen page.
"use strict";

const TOKEN = new URLSearchParams(location.search).get("token") || "";
const POLL_FAST_MS = 700;   // while retraining: the next batch should show as soon as it exists
const POLL_SLOW_MS = 2500;  // otherwise: picks up labels made in another tab

const S = {
  status: null,       // last /api/batch answer
  round: 0,
  order: [],          // the round's items by position: {id, image, label}
  focus: 0,           // index into order
  pending: new Set(), // ids with a label request in flight
  undo: [],           // [{id, prev}] labels made in this tab, newest last
  sending: new Map(), // id → the label request still on its way
  keyToClass: {},
  view: "label",
  modalItem: null,    // {id, image, label, round} being corrected
  galleryFilter: null,
  lastAccuracy: null,
  pollTimer: null,
};

const $ = (id) => document.getElementById(id);
const el = (tag, cls, text) => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
};
const withToken = (url) => url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(TOKEN);
const labelName = (label) => (label === S.status?.skip_label ? "skip" : label);

async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: { Authorization: "Bearer " + TOKEN, ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
    cache: "no-store",
  });
  let data = null;
  try { data = await res.json(); } catch (_) { /* not JSON */ }
  if (!res.ok) {
    const err = new Error((data && data.error) || `${res.status} ${res.statusText}`);
    err.status = res.status;
    throw err;
  }
  return data;
}

// -- polling ---------------------------------------------------------------------------------

async function poll() {
  clearTimeout(S.pollTimer);
  try {
    const st = await api("GET", "/api/batch");
    apply(st);
    const waiting = st.training || (!st.finished && S.order.every((i) => i.label));
    S.pollTimer = setTimeout(poll, waiting ? POLL_FAST_MS : POLL_SLOW_MS);
  } catch (e) {
    setPill(e.status === 401 ? "wrong token: open the URL the server printed" : "offline, retrying…", "error");
    S.pollTimer = setTimeout(poll, e.status === 401 ? 10000 : 1500);
  }
}

function apply(st) {
  const first = !S.status;
  S.status = st;
  if (first) setupClasses(st);
  const items = [...st.done, ...st.items.map((i) => ({ ...i, label: null }))].sort((a, b) => a.position - b.position);
  if (st.round !== S.round) {
    const announce = S.round !== 0;
    S.round = st.round;
    S.order = items.map((i) => ({ id: i.id, image: i.image, label: i.label }));
    S.focus = Math.max(0, S.order.findIndex((i) => !i.label));
    if (announce) announceRound(st);
  } else {
    // Merge: the server wins, except for labels this tab has in flight.
    const server = new Map(items.map((i) => [i.id, i.label]));
    for (const it of S.order) if (!S.pending.has(it.id) && server.has(it.id)) it.label = server.get(it.id);
    if (S.order[S.focus]?.label && !S.userMoved) S.focus = nextOpen(S.focus);
  }
  preload();
  render();
}

function announceRound(st) {
  const test = st.curve.filter((p) => p.accuracy !== null);
  const pts = test.length ? test.map((p) => p.accuracy) : (st.estimate_curve || []).map((p) => p.estimate);
  const last = pts[pts.length - 1];
  if (last === undefined) { toast(`Round ${st.round}: a new batch`); return; }
  const prev = pts[pts.length - 2];
  const delta = prev !== undefined ? ` (${last >= prev ? "+" : ""}${((last - prev) * 100).toFixed(1)} pts)` : "";
  toast(`Round ${st.round}: ${test.length ? "test" : "estimated"} accuracy ${pct(last)}${delta}` +
    (st.stop_signal?.stop ? " · another batch is unlikely to help" : ""));
}

function preload() {
  for (const it of S.order) { const img = new Image(); img.src = withToken(it.image); }
}

// -- actions ---------------------------------------------------------------------------------

function nextOpen(from) {
  const n = S.order.length;
  for (let k = 1; k <= n; k++) {
    const i = (from + k) % n;
    if (!S.order[i].label) return i;
  }
  return from;
}

async function labelFocused(label) {
  const it = S.order[S.focus];
  if (!it || S.status?.finished) return;
  const prev = it.label;
  it.label = label;
  S.pending.add(it.id);
  S.undo.push({ id: it.id, prev });
  flash(label);
  S.userMoved = false;
  S.focus = nextOpen(S.focus);
  render();
  const sent = api("POST", "/api/label", { id: it.id, label });
  S.sending.set(it.id, sent);  // an undo of this label waits for it to reach the server first
  try {
    const r = await sent;
    if (r.replaced && prev === null) toast(`That image was labeled in another tab too; kept yours (${labelName(label)})`);
    if (r.batch_complete) { clearTimeout(S.pollTimer); S.pollTimer = setTimeout(poll, 150); }
  } catch (e) {
    it.label = prev;
    S.undo.pop();
    toast(e.message, true);
  } finally {
    S.pending.delete(it.id);
    if (S.sending.get(it.id) === sent) S.sending.delete(it.id);
    render();
  }
}

async function undo() {
  const newest = S.undo[S.undo.length - 1];
  if (!newest) { toast("Nothing to undo in this batch"); return; }
  await S.sending.get(newest.id)?.catch(() => {});  // a DELETE sent before its POST would leave the label in place
  if (S.undo[S.undo.length - 1] !== newest) return;  // that label failed and was taken back already
  const last = S.undo.pop();
  const idx = S.order.findIndex((i) => i.id === last.id);
  try {
    if (last.prev !== null) {
      await api("POST", "/api/label", { id: last.id, label: last.prev });
      if (idx >= 0) S.order[idx].label = last.prev;
    } else {
      await api("DELETE", "/api/label/" + encodeURIComponent(last.id));
      if (idx >= 0) S.order[idx].label = null;
    }
    if (idx >= 0) { S.focus = idx; S.userMoved = true; }
    toast("Undone");
  } catch (e) {
    if (e.status === 409) {
      const it = S.order[idx] || { id: last.id, image: `/api/image/${last.id}.png`, label: null };
      toast("That batch is already retraining: pick the right label");
      openModal({ ...it, round: S.round });
    } else toast(e.message, true);
  }
  render();
}

function move(step) {
  if (!S.order.length) return;
  S.focus = (S.focus + step + S.order.length) % S.order.length;
  S.userMoved = true;
  render();
}

async function correct(item, label) {
  try {
    await api("POST", "/api/label", { id: item.id, label });
    const mine = S.order.find((i) => i.id === item.id);
    if (mine) mine.label = label;
    closeModal();
    toast(`Corrected to ${labelName(label)}`);
    if (S.view === "gallery") await loadGallery(item.id);
    render();
  } catch (e) {
    toast(e.message, true);
  }
}

// -- rendering -------------------------------------------------------------------------------

function setupClasses(st) {
  S.keyToClass = {};
  for (const [cls, key] of Object.entries(st.keys)) S.keyToClass[key] = cls;
  $("job").textContent = `${st.dataset} · ${st.strategy}`;
  const csv = $("export-csv"), json = $("export-json");
  csv.href = withToken("/api/export?format=csv");
  json.href = withToken("/api/export?format=json");
  const box = $("buttons");
  box.replaceChildren(...st.classes.map((cls) => classButton(cls, st.keys[cls], () => labelFocused(cls))));
  $("skip-btn").querySelector("kbd").textContent = st.skip_key;
  const keys = $("keys");
  const keyRow = (ks, text) => {
    const li = el("li");
    const span = el("span", "k");
    for (const k of ks) span.append(el("kbd", null, k));
    li.append(span, el("span", null, text));
    return li;
  };
  const classKeys = st.classes.map((c) => st.keys[c]).filter(Boolean);
  const range = classKeys.length > 3 ? [classKeys[0], "…", classKeys[classKeys.length - 1]] : classKeys;
  keys.replaceChildren(
    keyRow(range, "label the image"),
    keyRow([st.skip_key], "skip / unrecognisable"),
    keyRow(["←", "→"], "previous / next image"),
    keyRow(["⌫", "z"], "undo the last label"),
  );
}

function classButton(cls, key, onClick) {
  const b = el("button", "cls");
  b.type = "button";
  b.dataset.label = cls;
  b.title = key ? `${cls} (key ${key})` : cls;
  b.append(el("span", "name", cls));
  if (key) b.append(el("kbd", null, key));
  b.addEventListener("click", onClick);
  return b;
}

function render() {
  const st = S.status;
  if (!st) return;
  const labeledHere = S.order.filter((i) => i.label).length;
  const open = S.order.length - labeledHere;
  // progress
  $("round-text").textContent = `Round ${st.round}`;
  const counted = st.labeled - st.done.length + labeledHere;
  $("count-text").textContent = `· ${counted} of ${st.budget} labeled` + (st.skipped ? ` (${st.skipped} skipped)` : "");
  $("bar-fill").style.width = `${Math.min(100, (100 * counted) / Math.max(1, st.budget))}%`;
  if (st.training_error) setPill("retraining failed: " + st.training_error, "error");
  else if (st.finished) setPill("all done", "done");
  else if (st.training || (open === 0 && S.order.length)) setPill("retraining…", "training");
  else setPill(`${open} left in this batch` + (st.behind ? " · the model retrains on the last one meanwhile" : ""), "");

  // stage
  const waiting = st.finished || open === 0;
  $("focus").hidden = waiting;
  $("waiting").hidden = !waiting;
  $("waiting").classList.toggle("finished", !!st.finished);
  for (const b of $("buttons").children) b.disabled = waiting && !S.modalItem;
  $("skip-btn").disabled = waiting;
  if (st.finished) {
    $("waiting-title").textContent = "All done: the budget is spent";
    $("waiting-text").textContent = "Thank you! Export the labels above, or correct any of them in the gallery.";
    $("item-text").textContent = `${st.labeled} images labeled`;
    $("item-id").textContent = "";
  } else if (waiting) {
    $("waiting-title").textContent = `Batch ${st.round} complete`;
    $("waiting-text").textContent = "Retraining on your labels… the next batch appears here by itself.";
    $("item-text").textContent = "Retraining";
    $("item-id").textContent = "";
  } else if (S.order[S.focus]) {
    const it = S.order[S.focus];
    $("focus-img").src = withToken(it.image);
    $("current-label").textContent = it.label ? labelName(it.label) : "";
    $("item-text").textContent = `Image ${S.focus + 1} of ${S.order.length}` + (it.label ? " · labeled" : "");
    $("item-id").textContent = it.id;
    for (const b of $("buttons").children) b.classList.toggle("chosen", b.dataset.label === it.label);
  }

  // the batch strip
  const strip = $("strip");
  strip.replaceChildren(...S.order.map((it, i) => {
    const t = el("button", "thumb" + (i === S.focus && !waiting ? " focused" : "") + (it.label ? " labeled" : ""));
    t.type = "button";
    t.title = it.label ? `${it.id}: ${labelName(it.label)}` : it.id;
    const img = el("img");
    img.src = withToken(it.image);
    img.alt = it.id;
    t.append(img);
    if (it.label) t.append(el("span", "badge" + (it.label === st.skip_label ? " skipped" : ""), it.label === st.skip_label ? "–" : it.label));
    t.addEventListener("click", () => {
      if (waiting) openModal({ ...it, round: S.round });
      else { S.focus = i; S.userMoved = true; render(); }
    });
    return t;
  }));

  drawCurve(st);
}

function setPill(text, kind) {
  const p = $("status-pill");
  p.textContent = text;
  p.className = "pill" + (kind ? " " + kind : "");
}

function flash(label) {
  const b = [...$("buttons").children].find((x) => x.dataset.label === label);
  if (!b) return;
  b.classList.add("flash");
  setTimeout(() => b.classList.remove("flash"), 140);
}

let toastTimer = null;
function toast(text, isError) {
  const t = $("toast");
  t.textContent = text;
  t.className = "toast" + (isError ? " error" : "");
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.hidden = true; }, isError ? 5000 : 2600);
}

// -- the learning curve, as inline SVG -----------------------------------------------------------

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

const pct = (a) => `${(a * 100).toFixed(1)}%`;

// Test accuracy where the dataset has a test split; beside it (or, without one, instead of it) the accuracy
// estimated from the person's labels alone, with its 90 % interval as a band; under it the stop signal in words.
function drawCurve(st) {
  const W = 320, H = 210, L = 38, R = 14, T = 14, B = 30;
  const pts = st.curve.filter((p) => p.accuracy !== null);
  const est = st.estimate_curve || [];
  const key = JSON.stringify([pts, est, st.budget, st.stop_signal]);
  if (drawCurve.key === key) return;
  drawCurve.key = key;
  const xmax = Math.max(st.budget, ...pts.map((p) => p.n_labeled), ...est.map((p) => p.n_labeled), 1);
  const x = (n) => L + ((W - L - R) * n) / xmax;
  const y = (a) => T + (H - T - B) * (1 - a);
  const xy = (n, a) => `${x(n).toFixed(1)},${y(a).toFixed(1)}`;
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img",
    "aria-label": (st.test_size ? "test accuracy and " : "") + "estimated accuracy against labels" });
  for (const a of [0, 0.25, 0.5, 0.75, 1]) {
    root.append(svg("line", { class: a === 0 ? "axis" : "grid", x1: L, x2: W - R, y1: y(a), y2: y(a) }));
    root.append(svg("text", { class: "tick", x: L - 6, y: y(a) + 3, "text-anchor": "end" }, `${Math.round(a * 100)}%`));
  }
  const ticks = niceTicks(xmax);
  for (const n of ticks) root.append(svg("text", { class: "tick", x: x(n), y: H - B + 16, "text-anchor": "middle" }, String(n)));
  root.append(svg("text", { class: "tick", x: W - R, y: H - 2, "text-anchor": "end" }, "labeled images"));
  if (!pts.length && !est.length) {
    root.append(svg("text", { class: "empty", x: (L + W - R) / 2, y: (T + H - B) / 2, "text-anchor": "middle" },
      "appears after the first batch"));
  }
  if (est.length) {
    const band = [...est.map((p) => xy(p.n_labeled, p.high)), ...est.map((p) => xy(p.n_labeled, p.low)).reverse()];
    root.append(svg("polygon", { class: "band", points: band.join(" ") }));
    root.append(svg("polyline", { class: "est-line", points: est.map((p) => xy(p.n_labeled, p.estimate)).join(" ") }));
    for (const p of est) {
      root.append(svg("line", { class: "whisker", x1: x(p.n_labeled), x2: x(p.n_labeled), y1: y(p.low), y2: y(p.high) }));
      const m = svg("rect", { class: "est-dot", x: x(p.n_labeled) - 3.5, y: y(p.estimate) - 3.5, width: 7, height: 7 });
      m.append(svg("title", {}, `round ${p.round}: ${p.n_labeled} labels, estimated ${pct(p.estimate)} ` +
        `(90% interval ${pct(p.low)}–${pct(p.high)})`));
      root.append(m);
    }
  }
  if (pts.length) {
    const line = pts.map((p) => xy(p.n_labeled, p.accuracy)).join(" ");
    root.append(svg("polyline", { class: "line", points: line }));
    for (const p of pts) {
      const c = svg("circle", { class: "dot", cx: x(p.n_labeled), cy: y(p.accuracy), r: 4 });
      c.append(svg("title", {}, `round ${p.round}: ${p.n_labeled} labels, ${pct(p.accuracy)} test accuracy`));
      root.append(c);
    }
  }
  const shown = pts.length ? pts[pts.length - 1] : est[est.length - 1];
  if (shown) {
    const value = pts.length ? shown.accuracy : shown.estimate;
    root.append(svg("text", { class: "value", x: Math.min(x(shown.n_labeled), W - R - 18), y: y(value) - 10,
      "text-anchor": "middle" }, pct(value)));
  }
  $("curve").replaceChildren(root);
  $("curve-title").textContent = st.test_size ? "Accuracy" : "Estimated accuracy";
  const legend = [...(st.test_size ? [el("span", "test", "test split")] : []), el("span", "est", "estimate, 90% interval")];
  $("curve-legend").replaceChildren(...legend);
  $("curve-note").textContent = curveNote(st, pts, est);
  const signal = $("stop-signal");
  signal.textContent = st.stop_signal ? st.stop_signal.advice : "";
  signal.classList.toggle("stop", !!st.stop_signal?.stop);
}

function curveNote(st, pts, est) {
  const e = est[est.length - 1];
  const estimate = !e ? "" : `estimated ${pct(e.estimate)} (90% interval ${pct(e.low)}–${pct(e.high)}) from your labels` +
    (e.residuals < 2 ? ": the model's own confidence until two labels it predicted before you gave them" :
      ` (${e.residuals} of them checked)`);
  if (!st.test_size) {
    return e ? `No test split. After round ${e.round}: ${estimate}.`
      : "No test split: the accuracy is estimated from your labels after each batch.";
  }
  if (!pts.length) return `Measured on ${st.test_size} held-out test images after each batch, and estimated from your labels.`;
  const last = pts[pts.length - 1];
  return `After round ${last.round}: ${pct(last.accuracy)} on ${st.test_size} held-out test images` +
    (estimate ? `; ${estimate}` : "") + `; trained on ${last.n_labeled} labels in ${last.train_s.toFixed(1)} s.`;
}

function niceTicks(max) {
  const step = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000].find((s) => max / s <= 5) || Math.ceil(max / 5);
  const out = [];
  for (let n = 0; n <= max; n += step) out.push(n);
  return out;
}

// -- gallery and corrections -------------------------------------------------------------------

async function loadGallery(highlight) {
  const { labels } = await api("GET", "/api/labels");
  const st = S.status;
  const filters = $("filters");
  const options = [null, ...st.classes, st.skip_label];
  filters.replaceChildren(...options.map((f) => {
    const count = f === null ? labels.length : labels.filter((l) => l.label === f).length;
    const b = el("button", "filter" + (S.galleryFilter === f ? " active" : ""), f === null ? "all" : labelName(f));
    b.type = "button";
    b.append(el("span", "count", String(count)));
    b.addEventListener("click", () => { S.galleryFilter = f; loadGallery(); });
    return b;
  }));
  const shown = labels.filter((l) => S.galleryFilter === null || l.label === S.galleryFilter);
  const byRound = new Map();
  for (const l of shown) {
    if (!byRound.has(l.round)) byRound.set(l.round, []);
    byRound.get(l.round).push(l);
  }
  const rounds = [...byRound.keys()].sort((a, b) => b - a);
  const box = $("gallery");
  if (!rounds.length) { box.replaceChildren(el("p", "muted", "Nothing labeled here yet.")); return; }
  box.replaceChildren(...rounds.flatMap((r) => {
    const tiles = el("div", "tiles");
    tiles.append(...byRound.get(r).map((l) => {
      const t = el("button", "tile" + (l.id === highlight ? " updated" : ""));
      t.type = "button";
      t.title = `${l.id}, labeled ${l.time}`;
      const img = el("img");
      img.src = withToken(l.image);
      img.alt = l.id;
      img.loading = "lazy";
      t.append(img, el("span", "lab" + (l.label === st.skip_label ? " skipped" : ""), labelName(l.label)));
      t.addEventListener("click", () => openModal(l));
      return t;
    }));
    return [el("div", "round-title", `Round ${r} · ${byRound.get(r).length} images`), tiles];
  }));
}

function openModal(item) {
  const st = S.status;
  S.modalItem = item;
  $("modal-img").src = withToken(item.image);
  $("modal-text").textContent = `${item.id}, round ${item.round}. Now: ${item.label ? labelName(item.label) : "unlabeled"}. ` +
    "Press a key or click the right label.";
  const buttons = st.classes.map((cls) => classButton(cls, st.keys[cls], () => correct(item, cls)));
  const skip = classButton("skip", st.skip_key, () => correct(item, st.skip_label));
  skip.dataset.label = st.skip_label;
  for (const b of [...buttons, skip]) b.classList.toggle("chosen", b.dataset.label === item.label);
  $("modal-buttons").replaceChildren(...buttons, skip);
  $("modal").hidden = false;
}

function closeModal() {
  S.modalItem = null;
  $("modal").hidden = true;
}

function showView(view) {
  S.view = view;
  $("view-label").hidden = view !== "label";
  $("view-gallery").hidden = view !== "gallery";
  $("tab-label").classList.toggle("active", view === "label");
  $("tab-gallery").classList.toggle("active", view === "gallery");
  if (view === "gallery") loadGallery().catch((e) => toast(e.message, true));
}

// -- keyboard ----------------------------------------------------------------------------------

function onKey(e) {
  if (e.ctrlKey || e.metaKey || e.altKey || !S.status) return;
  if (e.target instanceof HTMLInputElement || e.target instanceof HTMLTextAreaElement) return;
  const k = e.key.length === 1 ? e.key.toLowerCase() : e.key;
  const st = S.status;
  if (S.modalItem) {
    if (k === "Escape") closeModal();
    else if (k === st.skip_key) correct(S.modalItem, st.skip_label);
    else if (S.keyToClass[k] !== undefined) correct(S.modalItem, S.keyToClass[k]);
    else return;
    e.preventDefault();
    return;
  }
  if (S.view !== "label") return;
  if (k === "ArrowRight") move(+1);
  else if (k === "ArrowLeft") move(-1);
  else if (k === "Backspace" || k === "z") undo();
  else if (!$("focus").hidden && k === st.skip_key) labelFocused(st.skip_label);
  else if (!$("focus").hidden && S.keyToClass[k] !== undefined) labelFocused(S.keyToClass[k]);
  else return;
  e.preventDefault();
}

document.addEventListener("DOMContentLoaded", () => {
  document.addEventListener("keydown", onKey);
  $("prev").addEventListener("click", () => move(-1));
  $("next").addEventListener("click", () => move(+1));
  $("skip-btn").addEventListener("click", () => labelFocused(S.status.skip_label));
  $("undo-btn").addEventListener("click", undo);
  $("tab-label").addEventListener("click", () => showView("label"));
  $("tab-gallery").addEventListener("click", () => showView("gallery"));
  $("modal-close").addEventListener("click", closeModal);
  $("modal").addEventListener("click", (e) => { if (e.target === $("modal")) closeModal(); });
  poll();
});
