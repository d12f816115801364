// Tandem ISMG console: polls /status every 2 s and renders it; the route
// look-up and trace boxes call /route and /trace. No framework, no build.
"use strict";

const POLL_MS = 2000;
let token = sessionStorage.getItem("ismg-token") || "";

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k instanceof Node ? k : String(k ?? ""));
  return e;
}
const $ = (id) => document.getElementById(id);

async function api(path) {
  const headers = token ? { Authorization: "Bearer " + token } : {};
  const r = await fetch(path, { headers, cache: "no-store" });
  if (r.status === 401) { $("auth").hidden = false; throw new Error("this node wants its HTTP token"); }
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}

$("auth").addEventListener("submit", (ev) => {
  ev.preventDefault();
  token = $("auth-token").value;
  sessionStorage.setItem("ismg-token", token);
  $("auth").hidden = true;
  poll();
});

function fmtTime(t) { return t ? new Date(t).toLocaleString() : "–"; }
function fmtNum(x, d) { return typeof x === "number" ? x.toFixed(d ?? 0) : "–"; }
function dl(id, pairs) {
  const d = $(id); d.replaceChildren();
  for (const [k, v] of pairs) d.append(el("dt", {}, k), el("dd", {}, v));
}
function rows(id, list, cells) {
  const tb = document.querySelector("#" + id + " tbody");
  tb.replaceChildren(...list.map((x) => {
    const tr = el("tr", { "data-key": cells.key ? cells.key(x) : "" });
    for (const c of cells.cols(x)) tr.append(c instanceof Node && c.tagName === "TD" ? c : el("td", {}, c));
    return tr;
  }));
  if (list.length === 0) tb.append(el("tr", {}, el("td", { colspan: "9", class: "muted" }, "none")));
}
function state(up, text) { return el("td", { class: up ? "up" : "down" }, text ?? (up ? "up" : "down")); }

function render(s) {
  $("node-gateway").textContent = s.node.gateway;
  $("node-name").textContent = [s.node.name, s.node.region].filter(Boolean).join(" · ");
  $("node-version").textContent = s.node.version + (s.node.revision ? " (" + s.node.revision.slice(0, 12) + ")" : "");
  const h = $("health");
  h.textContent = s.health.ok ? "healthy" : "unhealthy: " + s.health.problems.join("; ");
  h.className = "badge " + (s.health.ok ? "ok" : "bad");
  $("updated").textContent = new Date(s.node.now).toLocaleTimeString();

  dl("routes", [["source", s.routes.source], ["revision", s.routes.revision],
    ["connected GNS", s.routes.connected_gns || "–"],
    ["since last event", s.routes.source === "gns" ? fmtNum(s.routes.seconds_since_event, 1) + " s" : "–"],
    ["gateways", s.routes.gateways], ["segments", s.routes.segments], ["SPs", s.routes.sps]]);
  const r = s.rates;
  dl("rates", [["SP submits", fmtNum(r.submits_per_second, 1)], ["SMSC submits", fmtNum(r.smsc_submits_per_second, 1)],
    ["SMSC receipts/MO", fmtNum(r.smsc_delivers_per_second, 1)], ["FWD sent", fmtNum(r.fwd_sent_per_second, 1)],
    ["SP delivers", fmtNum(r.sp_delivers_per_second, 1)], ["window", fmtNum(r.window_seconds, 1) + " s"]]);
  const g = s.gns;
  dl("gns-summary", g ? [["leader", g.leader_id || "none"], ["revision", g.revision], ["asked", g.asked_node || "–"],
    ["members", g.members.length], ["error", g.error || "–"]] : [["routes", "from a file: no GNS"]]);
  rows("gns-members", g ? g.members : [], { key: (m) => m.id, cols: (m) => {
    const digests = new Set((g.members || []).filter((x) => x.table_digest_revision === m.table_digest_revision).map((x) => x.table_digest));
    return [m.id, m.grpc_addr, m.state, m.leader ? "★ leader" : "", m.applied_index,
      el("td", { class: digests.size > 1 ? "bad" : "", title: m.table_digest }, (m.table_digest || "").slice(0, 16)),
      m.table_digest_revision, m.error];
  } });
  rows("gateways", s.gateways, { key: (x) => x.code, cols: (x) => [x.code, x.name, x.region, x.fwd_addr,
    x.self ? el("td", { class: "self" }, "this node") : x.link ? state(x.link === "up", x.link) : "–",
    (x.nodes || []).join(", ") || "–"] });
  rows("peers", s.peers, { key: (p) => p.gateway, cols: (p) => [p.gateway, state(p.up),
    p.ready + "/" + p.sessions.length, p.sent, p.ok, p.errors, p.queue_depth, p.last_error] });
  rows("smsc", s.smsc_links, { key: (l) => l.name, cols: (l) => {
    const up = l.binds.filter((b) => b.state === "bound").length;
    const lastErr = l.binds.map((b) => b.last_error).filter(Boolean).pop() || "";
    return [l.name, l.address, state(up > 0, up + "/" + l.binds.length), l.submit_ok, l.throttled, l.queue_depth, lastErr];
  } });
  rows("sps", s.sps, { key: (x) => x.sp_id, cols: (x) => [x.sp_id, x.name, x.sessions, x.remotes.join(", "), x.queue_depth] });
  rows("queues", s.queues, { key: (q) => q.name, cols: (q) => [q.name, el("td", { class: "num" }, q.depth)] });
  rows("stores", s.stores || [], { key: (x) => x.store_id, cols: (x) => [x.store_id, x.role, x.state, x.holder, x.token,
    x.expires_unix_nano ? new Date(x.expires_unix_nano / 1e6).toLocaleTimeString() : "", x.pending, x.drained] });
  $("errors").replaceChildren(...s.recent_errors.map((e) => el("li", { class: "lvl-" + e.level },
    el("time", {}, new Date(e.time).toLocaleTimeString()), " ", e.level, " ", e.message, " ",
    el("code", {}, Object.entries(e.attrs).map(([k, v]) => k + "=" + v).join(" ")))));
  if (s.recent_errors.length === 0) $("errors").append(el("li", { class: "muted" }, "none"));
}

let timer;
async function poll() {
  clearTimeout(timer);
  try {
    render(await api("/status"));
    document.body.dataset.live = "1";
  } catch (e) {
    $("health").textContent = "no answer: " + e.message;
    $("health").className = "badge bad";
  }
  timer = setTimeout(poll, POLL_MS);
}

function showError(box, e) { box.replaceChildren(el("p", { class: "error" }, e.message)); }

$("route-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const box = $("route-result");
  const kind = $("route-kind").value, q = $("route-input").value.trim();
  try {
    const a = await api("/route?" + new URLSearchParams({ [kind]: q }));
    const pairs = [["gateway", a.gateway.code + " " + a.gateway.name + " (" + a.gateway.region + ")"],
      ["rule", a.rule], ["matched", a.prefix], ["route id", a.route_id], ["queue here", a.queue], ["revision", a.revision]];
    if (a.kind === "mo") pairs.push(["SP", a.sp_id + " " + a.sp_name], ["partition", a.partition || "–"]);
    const d = el("dl", { id: "route-answer", "data-gateway": a.gateway.code, "data-rule": a.rule });
    for (const [k, v] of pairs) d.append(el("dt", {}, k), el("dd", {}, v));
    box.replaceChildren(el("p", {}, a.description), d);
  } catch (e) { showError(box, e); }
});

function stepsTable(steps) {
  const t = el("table", { id: "trace-steps" }, el("thead", {}, el("tr", {}, ...["time", "gateway", "step", "where", "status", "detail"].map((h) => el("th", {}, h)))));
  const tb = el("tbody");
  for (const s of steps) {
    tb.append(el("tr", { class: "step" + (s.pending ? " pending" : ""), "data-stage": s.stage, "data-gateway": s.gateway },
      el("td", {}, s.pending ? "pending" : fmtTime(s.time)), el("td", {}, s.gateway), el("td", {}, s.stage.replace(/_/g, " ")),
      el("td", {}, [s.peer && "peer " + s.peer, s.link && "link " + s.link, s.queue && "queue " + s.queue].filter(Boolean).join(", ")),
      el("td", {}, s.status), el("td", {}, s.detail)));
  }
  t.append(tb);
  return t;
}

async function trace(id) {
  const box = $("trace-result");
  box.replaceChildren(el("p", {}, "tracing…"));
  try {
    const tr = await api("/trace?" + new URLSearchParams({ msg_id: id }));
    const hops = tr.hops.map((h) => h.gateway + (h.error ? " (no answer: " + h.error + ")" : h.found ? "" : " (not found)")).join(" → ");
    box.replaceChildren(
      el("p", { id: "trace-summary", "data-complete": String(tr.complete) },
        "Msg_Id " + tr.msg_id + " from gateway " + tr.origin + ": " + hops + (tr.complete ? " — complete" : " — in flight or incomplete")),
      stepsTable(tr.steps));
  } catch (e) { showError(box, e); }
}

$("trace-form").addEventListener("submit", (ev) => { ev.preventDefault(); trace($("trace-input").value.trim()); });

$("search-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const box = $("trace-result");
  const q = { dest: $("search-dest").value.trim() };
  if ($("search-from").value) q.from = new Date($("search-from").value).toISOString().replace(/\.\d+Z$/, "Z");
  if ($("search-to").value) q.to = new Date($("search-to").value).toISOString().replace(/\.\d+Z$/, "Z");
  try {
    const r = await api("/trace?" + new URLSearchParams(q));
    const t = el("table", { id: "search-matches" }, el("thead", {}, el("tr", {}, ...["Msg_Id", "kind", "direction", "submitted", "done", "status", "prev", "next"].map((h) => el("th", {}, h)))));
    const tb = el("tbody");
    for (const m of r.matches) {
      const a = el("a", { href: "#" }, m.msg_id);
      a.addEventListener("click", (e) => { e.preventDefault(); $("trace-input").value = m.msg_id; trace(m.msg_id); });
      tb.append(el("tr", {}, el("td", {}, a), el("td", {}, m.kind), el("td", {}, m.direction), el("td", {}, fmtTime(m.submit_time)),
        el("td", {}, fmtTime(m.done_time)), el("td", {}, m.final_status), el("td", {}, m.prev_gateway), el("td", {}, m.next_gateway)));
    }
    t.append(tb);
    box.replaceChildren(el("p", {}, r.matches.length + " records at " + r.gateway + (r.truncated ? " (truncated)" : "")), t);
  } catch (e) { showError(box, e); }
});

poll();
