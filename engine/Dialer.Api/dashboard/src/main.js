// The supervisor dashboard: one state read from the server's memory (/dashboard/state), then the /events stream.
// Nothing here polls: every figure on the page moves when a `stats`, `campaign`, `offer`, `report` or `alert` event arrives.
import uPlot from "uplot";

const $ = (sel, root = document) => root.querySelector(sel);
const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
  }
  for (const kid of kids) e.append(kid);
  return e;
};
const pct = (x) => (x * 100).toFixed(2) + "%";
const num = (x) => String(x);
const since = (s) => (s < 60 ? `${Math.floor(s)} s` : s < 3600 ? `${Math.floor(s / 60)} min` : `${(s / 3600).toFixed(1)} h`);
const HISTORY = 3600;
const ms = (x) => (x == null ? "–" : x.toFixed(0) + " ms");
const lossPct = (x) => (x == null ? "–" : (x * 100).toFixed(1) + "%");

// Figures shown per campaign: key in the stats event, label, format.
const FIGURES = [
  ["calls_up", "calls up", num], ["ringing", "ringing", num], ["waiting", "waiting for agent", num], ["connected", "with agent", num],
  ["calls_placed", "calls placed", num], ["answer_rate", "answer rate", pct], ["dial_level", "dial ratio", (x) => x.toFixed(2)],
  ["abandon_rate_today", "abandon today", pct], ["abandon_rate_30d", "abandon 30 days", pct], ["abandon_cap", "abandon cap", pct],
  ["agents.ready", "agents ready", num], ["agents.talking", "talking", num], ["agents.wrap_up", "wrap-up", num],
  ["agents.paused", "paused", num], ["agents.logged_out", "logged out", num],
];
const pick = (o, path) => path.split(".").reduce((v, k) => (v == null ? undefined : v[k]), o);

const cards = new Map(); // campaign name → { root, charts, series }

async function api(method, path, body) {
  const init = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) { init.headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
  const r = await fetch(path, init);
  if (!r.ok) {
    let detail = r.statusText;
    try { const p = await r.json(); detail = p.detail || p.title || detail; } catch { /* not JSON */ }
    throw new Error(`${method} ${path}: ${r.status} ${detail}`);
  }
  return r.status === 204 || r.status === 202 ? null : r.json().catch(() => null);
}

function notice(text) { addAlert({ campaign: "", message: text, severity: "warning", state: "raised", at: new Date().toISOString() }); }

function card(name) {
  if (cards.has(name)) return cards.get(name);
  const figs = el("div", { class: "figs" });
  for (const [k, label] of FIGURES)
    figs.append(el("div", { class: "fig", "data-k": k }, el("div", { class: "v" }, "–"), el("div", { class: "l" }, label)));
  const act = (verb) => () => api("POST", `/campaigns/${encodeURIComponent(name)}/${verb}`).catch((e) => notice(e.message));
  const root = el("article", { class: "campaign", "data-campaign": name },
    el("div", { class: "head" },
      el("h2", {}, name),
      el("span", { class: "badge status" }, "…"),
      el("span", { class: "badge engine", hidden: "" }, ""),
      el("span", { class: "pacer sub" }, ""),
      el("div", { class: "controls" },
        el("button", { class: "start", "data-action": "start", onclick: act("start") }, "start"),
        el("button", { class: "pause", "data-action": "pause", onclick: act("pause") }, "pause"),
        el("button", { class: "stop", "data-action": "stop", onclick: act("stop") }, "stop"))),
    el("div", { class: "cap", title: "abandon rate today against the cap" }, el("div", {})),
    figs,
    el("div", { class: "charts" }, el("div", { class: "chart abandon" }), el("div", { class: "chart calls" })),
    el("h3", {}, "Today, by hour"),
    el("div", { class: "charts" }, el("div", { class: "chart day-abandon" }), el("div", { class: "chart day-answer" })),
    el("h3", {}, "Trunks"),
    el("table", { class: "trunks" }, el("thead", {}, el("tr", {}, ...["trunk", "in use", "channels", "state", "placed", "live", "abandoned", "RTT", "loss"].map((h) => el("th", {}, h)))), el("tbody")),
    el("h3", {}, "Agents"),
    el("div", { class: "seats" }, el("table", {}, el("thead", {}, el("tr", {}, ...["agent", "state", "for", "reason", "offer", ""].map((h) => el("th", {}, h)))), el("tbody"))));
  $("#campaigns").append(root);
  const series = { t: [], today: [], d30: [], cap: [], ringing: [], waiting: [], connected: [] };
  const width = () => Math.max(360, Math.floor(root.clientWidth / 2) - 24);
  const charts = {
    abandon: new uPlot({
      title: "Abandon rate against the cap", width: width(), height: 180,
      scales: { y: { range: (u, lo, hi) => [0, Math.max(hi, 0.04)] } },
      axes: [{ stroke: "#8a98a6" }, { stroke: "#8a98a6", values: (u, v) => v.map((x) => (x * 100).toFixed(1) + "%") }],
      series: [{}, { label: "today", stroke: "#58a6ff", value: (u, v) => (v == null ? "–" : pct(v)) },
        { label: "30 days", stroke: "#a371f7", value: (u, v) => (v == null ? "–" : pct(v)) },
        { label: "cap", stroke: "#f85149", dash: [6, 4], value: (u, v) => (v == null ? "–" : pct(v)) }],
    }, [[], [], [], []], $(".chart.abandon", root)),
    calls: new uPlot({
      title: "Calls by phase", width: width(), height: 180,
      axes: [{ stroke: "#8a98a6" }, { stroke: "#8a98a6" }],
      series: [{}, { label: "ringing", stroke: "#d29922" }, { label: "waiting", stroke: "#f85149" }, { label: "with agent", stroke: "#3fb950" }],
    }, [[], [], [], []], $(".chart.calls", root)),
  };
  // The day's report (the `calls` report by hour, read by the server once a minute): x is the campaign-local hour.
  const hours = { axes: [{ stroke: "#8a98a6", values: (u, v) => v.map((h) => `${h}h`) }], scales: { x: { time: false, range: [-0.5, 23.5] } } };
  const bars = uPlot.paths.bars({ size: [0.6, 40] });
  charts.dayAbandon = new uPlot({
    ...hours, title: "Abandon rate over the day against the cap", width: width(), height: 180,
    scales: { ...hours.scales, y: { range: (u, lo, hi) => [0, Math.max(hi, 0.04)] } },
    axes: [hours.axes[0], { stroke: "#8a98a6", values: (u, v) => v.map((x) => (x * 100).toFixed(1) + "%") }],
    series: [{ value: (u, v) => (v == null ? "–" : `${v}h`) },
      { label: "that hour", stroke: "#d29922", fill: "#d2992244", paths: bars, points: { show: false }, value: (u, v) => (v == null ? "–" : pct(v)) },
      { label: "day so far", stroke: "#58a6ff", value: (u, v) => (v == null ? "–" : pct(v)) },
      { label: "cap", stroke: "#f85149", dash: [6, 4], value: (u, v) => (v == null ? "–" : pct(v)) }],
  }, [[], [], [], []], $(".chart.day-abandon", root));
  charts.dayAnswer = new uPlot({
    ...hours, title: "Answer rate by hour", width: width(), height: 180,
    axes: [hours.axes[0], { stroke: "#8a98a6", values: (u, v) => v.map((x) => (x * 100).toFixed(0) + "%") }],
    scales: { ...hours.scales, y: { range: (u, lo, hi) => [0, Math.max(hi, 0.1)] } },
    series: [{ value: (u, v) => (v == null ? "–" : `${v}h`) },
      { label: "live answers per call", stroke: "#3fb950", fill: "#3fb95044", paths: bars, points: { show: false }, value: (u, v) => (v == null ? "–" : pct(v)) }],
  }, [[], []], $(".chart.day-answer", root));
  const c = { root, charts, series, status: "stopped", offers: new Map() };
  cards.set(name, c);
  return c;
}

function setStatus(name, status) {
  const c = card(name);
  c.status = status;
  const b = $(".badge.status", c.root);
  b.textContent = status;
  b.className = `badge status ${status}`;
}

function push(c, t, f) {
  const s = c.series;
  s.t.push(t / 1000); s.today.push(f.abandon_rate_today); s.d30.push(f.abandon_rate_30d); s.cap.push(f.abandon_cap);
  s.ringing.push(f.ringing); s.waiting.push(f.waiting); s.connected.push(f.connected);
  if (s.t.length > HISTORY) for (const k of Object.keys(s)) s[k].shift();
}

function redraw(c) {
  const s = c.series;
  c.charts.abandon.setData([s.t, s.today, s.d30, s.cap]);
  c.charts.calls.setData([s.t, s.ringing, s.waiting, s.connected]);
}

function showFigures(name, f) {
  const c = card(name);
  const engine = $(".badge.engine", c.root);
  engine.hidden = false;
  engine.textContent = `engine ${f.engine}`;
  engine.className = `badge engine ${f.engine}`;
  if (f.engine !== "running") { engine.title = f.error || ""; return; }
  $(".pacer", c.root).textContent = f.pacer;
  for (const [k, , fmt] of FIGURES) {
    const box = $(`.fig[data-k="${k}"]`, c.root);
    const v = pick(f, k);
    box.dataset.v = String(v);
    $(".v", box).textContent = v == null ? "–" : fmt(v);
  }
  const share = f.abandon_cap > 0 ? Math.max(f.abandon_rate_today, f.abandon_rate_30d) / f.abandon_cap : 0;
  const level = share >= 1 ? "bad" : share >= 0.8 ? "warn" : "";
  const cap = $(".cap", c.root);
  cap.className = `cap ${level}`;
  $("div", cap).style.width = `${Math.min(100, share * 100).toFixed(1)}%`;
  for (const k of ["abandon_rate_today", "abandon_rate_30d"]) {
    const r = f.abandon_cap > 0 ? f[k] / f.abandon_cap : 0;
    $(`.fig[data-k="${k}"]`, c.root).className = `fig ${r >= 1 ? "bad" : r >= 0.8 ? "warn" : ""}`;
  }
  const trunks = $("table.trunks tbody", c.root);
  trunks.replaceChildren(...f.trunks.map((t) => el("tr", { "data-trunk": t.name },
    el("td", {}, t.name), el("td", {}, num(t.in_use)), el("td", {}, num(t.channels)),
    el("td", { class: t.available ? "up" : "down" }, t.available ? "up" : "down"),
    el("td", {}, num(t.placed)), el("td", {}, num(t.live)), el("td", {}, num(t.abandoned)),
    el("td", { class: "rtt", "data-v": String(t.rtt_ms) }, ms(t.rtt_ms)), el("td", { class: "loss", "data-v": String(t.loss) }, lossPct(t.loss)))));
  const seats = $(".seats tbody", c.root);
  const agentAct = (agent, verb) => () => api("POST", `/campaigns/${encodeURIComponent(name)}/agents/${encodeURIComponent(agent)}/${verb}`,
    verb === "pause" ? { reason: "supervisor" } : undefined).catch((e) => notice(e.message));
  seats.replaceChildren(...f.seats.map((a) => el("tr", { "data-agent": a.id },
    el("td", {}, a.id), el("td", { class: "state" }, a.state.replace("_", "-")), el("td", {}, since(a.seconds)), el("td", {}, a.pause_reason || ""),
    el("td", { class: "offer" }, offerText(a.offer)),
    el("td", {}, a.state === "paused" ? el("button", { onclick: agentAct(a.id, "ready") }, "ready")
      : a.state === "logged_out" ? "" : el("button", { onclick: agentAct(a.id, "pause") }, "pause")))));
  c.offers.clear(); // the engine's own list of open offers is newer than the events before it
}

// A preview offer as the agent's row shows it: the lead and the time left to decide (the number is never on the page).
function offerText(o) {
  if (!o) return "";
  const left = Math.max(0, (Date.parse(o.deadline) - Date.now()) / 1000);
  return `lead ${o.lead_id}, ${Math.round(left)} s left`;
}

// An `offer` event: the agent's row shows it at once, before the next `stats` (which carries the open offers too).
function showOffer(d) {
  const c = card(d.campaign);
  if (d.change === "offered") c.offers.set(d.agent, { offer_id: d.offer_id, lead_id: d.lead_id, deadline: d.offer.deadline });
  else if (c.offers.get(d.agent)?.offer_id === d.offer_id) c.offers.delete(d.agent);
  const cell = $(`.seats tr[data-agent="${CSS.escape(d.agent)}"] .offer`, c.root);
  if (cell) cell.textContent = offerText(c.offers.get(d.agent));
}

// The day's `calls` report by hour: the abandon rate of each hour and of the day so far against the cap, and the answer rate.
function showDay(r) {
  const c = card(r.campaign);
  // All 24 hours on the axis, the cap across them; the day so far carries on through hours without calls.
  const x = [...Array(24).keys()], hour = Array(24).fill(null), day = Array(24).fill(null), cap = Array(24).fill(r.abandon_cap), answer = Array(24).fill(null);
  for (const row of r.rows) {
    const h = Number(row.key.slice(11, 13));
    hour[h] = row.live_answers > 0 ? row.abandoned / row.live_answers : null;
    answer[h] = row.calls > 0 ? row.live_answers / row.calls : null;
  }
  let live = 0, abandoned = 0, seen = false;
  for (const row of r.rows) { live += row.live_answers; abandoned += row.abandoned; day[Number(row.key.slice(11, 13))] = live > 0 ? abandoned / live : null; }
  const last = Math.max(-1, ...r.rows.map((row) => Number(row.key.slice(11, 13)))); // the campaign's hour now, or the last with calls
  for (let h = 0; h <= last; h++) { if (day[h] != null) seen = true; else if (seen) day[h] = day[h - 1]; }
  c.charts.dayAbandon.setData([x, hour, day, cap]);
  c.charts.dayAnswer.setData([x, answer]);
  c.root.querySelector(".chart.day-answer").dataset.hours = String(r.rows.length);
}

function addAlert(a) {
  const text = a.message || (a.rule_id ? `QA: ${a.rule_id} (${a.severity}) on attempt ${a.attempt_id}` : JSON.stringify(a));
  const li = el("li", { class: `${a.severity || "warning"} ${a.state || "raised"}`, "data-rule": a.rule || a.rule_id || "" },
    el("div", { class: "when" }, `${new Date(a.at || Date.now()).toLocaleTimeString()} ${a.campaign || ""} ${a.state === "cleared" ? "cleared" : ""}`),
    el("div", {}, text), a.actions_taken?.length ? el("div", { class: "when action" }, `action: ${a.actions_taken.join(", ")}`) : "");
  $("#alerts").prepend(li);
  while ($("#alerts").children.length > 100) $("#alerts").lastElementChild.remove();
}

function load(state) {
  for (const c of state.campaigns) setStatus(c.name, c.status);
  for (const [name, points] of Object.entries(state.history || {})) {
    const c = card(name);
    for (const k of Object.keys(c.series)) c.series[k].length = 0;
    for (const p of points)
      push(c, p.t, { abandon_rate_today: p.abandon_today, abandon_rate_30d: p.abandon30, abandon_cap: state.live[name]?.abandon_cap ?? 0.03,
        ringing: p.ringing, waiting: p.waiting, connected: p.connected });
    redraw(c);
  }
  for (const [name, f] of Object.entries(state.live || {})) showFigures(name, f);
  for (const r of Object.values(state.reports || {})) showDay(r);
  for (const a of state.alerts || []) addAlert(a);
}

let source = null;
function listen() {
  source?.close();
  source = new EventSource("/events");
  const link = $("#link");
  source.onopen = () => { link.textContent = "live"; link.className = "badge on"; };
  source.onerror = () => { link.textContent = "reconnecting"; link.className = "badge off"; }; // EventSource resumes with Last-Event-ID
  source.addEventListener("stats", (e) => {
    const d = JSON.parse(e.data);
    const t = Date.parse(d.at);
    for (const [name, f] of Object.entries(d.campaigns)) {
      showFigures(name, f);
      if (f.engine === "running") { const c = card(name); push(c, t, f); redraw(c); }
    }
  });
  source.addEventListener("campaign", (e) => {
    const d = JSON.parse(e.data);
    if (d.deleted) { cards.get(d.campaign)?.root.remove(); cards.delete(d.campaign); return; }
    if (d.status) setStatus(d.campaign, d.status);
    if (d.engine && d.engine !== "running") showFigures(d.campaign, { engine: d.engine, error: d.error });
  });
  source.addEventListener("alert", (e) => addAlert(JSON.parse(e.data)));
  source.addEventListener("offer", (e) => showOffer(JSON.parse(e.data)));
  source.addEventListener("report", (e) => showDay(JSON.parse(e.data)));
  source.addEventListener("reset", () => start()); // events were lost: read the state again
}

async function start() {
  const r = await fetch("/dashboard/state", { credentials: "same-origin" });
  if (r.status === 401) { $("#login").hidden = false; $("#app").hidden = true; return; }
  if (!r.ok) { $("#link").textContent = `error ${r.status}`; return; }
  $("#login").hidden = true; $("#app").hidden = false; $("#signout").hidden = false;
  $("#alerts").replaceChildren();
  load(await r.json());
  listen();
}

$("#login").addEventListener("submit", async (e) => {
  e.preventDefault();
  const r = await fetch("/login", { method: "POST", credentials: "same-origin", body: new URLSearchParams(new FormData(e.target)) });
  if (!r.ok) { $("#login-error").textContent = r.status === 401 ? "that key is not accepted" : `sign-in failed (${r.status})`; return; }
  $("#login-error").textContent = "";
  start();
});
$("#signout").addEventListener("click", async () => { await fetch("/logout", { method: "POST", credentials: "same-origin" }); source?.close(); location.reload(); });
window.addEventListener("resize", () => { for (const c of cards.values()) for (const u of Object.values(c.charts)) u.setSize({ width: Math.max(360, Math.floor(c.root.clientWidth / 2) - 24), height: 180 }); });
start();
