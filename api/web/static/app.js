// The investigator workbench: log in, the queue, a case, a ring, rings and dealers, configuration.
// Routes live in the fragment (#/queue, #/case/<id>, #/ring/<id>, #/rings, #/dealers, #/dealer/<id>,
// #/analysts): ids of cases, rings and dealers only, never a personal value.
// Everything is built with DOM calls and textContent: no HTML is made from data.

import { api, ApiError, get, post, query, setCsrf } from "./api.js";
import { draw, legend } from "./graph.js";
import { errorText, getLang, loadCatalogue, reasonTitle, setLang, t, term, TYPOLOGIES } from "./i18n.js";

const TARGET_SECONDS = 24 * 3600;
let me = null;

// -- small DOM helpers ----------------------------------------------------------------------------
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const main = () => document.getElementById("main");

function fill(el, ...children) {
  el.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false && c !== ""));
  return el;
}

function show(...children) { fill(main(), ...children); }

function flash(message, kind = "ok") {
  const box = document.getElementById("flash");
  box.className = `flash ${kind}`;
  box.textContent = message;
  box.hidden = false;
  clearTimeout(flash.timer);
  flash.timer = setTimeout(() => { box.hidden = true; }, kind === "error" ? 8000 : 3000);
}

function failed(error) {
  if (error instanceof ApiError && error.status === 401) {
    me = null;
    location.hash = "#/login";
    return;
  }
  flash(error instanceof ApiError ? errorText(error.error) : String(error), "error");
}

function age(seconds) {
  if (seconds < 3600) return `${Math.round(seconds / 60)} ${t("minutes")}`;
  if (seconds < 48 * 3600) return `${(seconds / 3600).toFixed(1)} ${t("hours")}`;
  return `${(seconds / 86400).toFixed(1)} ${t("days")}`;
}

function meter(value, max, cls = "") {
  const share = Math.max(0, Math.min(1, value / max));
  const bar = h("span", { class: `meter ${cls}` }, h("span", { class: "meter-fill" }));
  bar.firstChild.style.width = `${(share * 100).toFixed(1)}%`;
  return bar;
}

function chip(text, cls) { return h("span", { class: `chip ${cls || ""}` }, text); }
function band(b) { return b ? chip(t(`band_${b}`), `band-${b}`) : ""; }
function section(title, ...body) { return h("section", { class: "panel" }, h("h2", {}, title), ...body); }
function kv(rows) {
  return h("dl", { class: "kv" }, rows.filter((r) => r && r[1] !== undefined && r[1] !== null && r[1] !== "")
    .map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]).flat());
}
function table(headers, rows, { id } = {}) {
  return h("table", { class: "grid", id }, h("thead", {}, h("tr", {}, headers.map((x) => h("th", {}, x)))),
    h("tbody", {}, rows));
}
function day(iso) { return iso ? new Date(iso).toLocaleString(getLang() === "zh" ? "zh-CN" : "en-GB") : ""; }

// -- header, language, session ----------------------------------------------------------------------
function can(...roles) { return !!me && (me.roles.includes("admin") || roles.some((r) => me.roles.includes(r))); }
function home() { return can("investigator") ? "#/queue" : "#/analysts"; }

function header() {
  const nav = h("nav", {},
    can("investigator") ? h("a", { href: "#/queue", id: "nav-queue" }, t("nav_queue")) : null,
    can("investigator", "analyst") ? h("a", { href: "#/rings", id: "nav-rings" }, t("nav_rings")) : null,
    can("investigator", "analyst") ? h("a", { href: "#/dealers", id: "nav-dealers" }, t("nav_dealers")) : null,
    can("analyst", "approver") ? h("a", { href: "#/analysts", id: "nav-analysts" }, t("nav_analysts")) : null);
  const switcher = h("select", { id: "lang", "aria-label": t("language"), onchange: (e) => {
    setLang(e.target.value);
    route();
  } }, h("option", { value: "zh" }, "中文"), h("option", { value: "en" }, "English"));
  switcher.value = getLang();
  const user = me ? h("span", { class: "user" }, me.name,
    h("button", { id: "logout", class: "link", onclick: logout }, t("logout"))) : null;
  fill(document.getElementById("top"),
    h("a", { class: "brand", href: home() }, h("strong", {}, t("brand")), h("span", {}, t("tagline"))),
    me ? nav : h("span"), h("span", { class: "spacer" }), switcher, user);
  document.title = `${t("brand")} · ${t("tagline")}`;
}

async function logout() {
  try { await api("DELETE", "/v1/auth/session"); } catch (_) { /* the cookie may be gone already */ }
  me = null;
  setCsrf(null);
  location.hash = "#/login";
}

async function resume() {
  try {
    const session = await get("/v1/auth/session");
    me = session.user;
    setCsrf(session.user ? session.csrf_token : null);
  } catch (_) {
    me = null;
  }
}

function loginView() {
  const error = h("p", { class: "error", id: "login-error", hidden: true });
  const form = h("form", { id: "login-form", class: "login", onsubmit: async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    try {
      const session = await post("/v1/auth/session", { username: data.get("username"), password: data.get("password") });
      me = session.user;
      setCsrf(session.csrf_token);
      location.hash = home();
    } catch (e) {
      error.textContent = e instanceof ApiError && e.status === 401
        ? (getLang() === "zh" ? "用户名或密码错误。" : "Wrong username or password.") : errorText(e.error);
      error.hidden = false;
    }
  } },
  h("h1", {}, t("login_title")),
  h("label", {}, t("username"), h("input", { name: "username", id: "username", autocomplete: "username", required: true })),
  h("label", {}, t("password"), h("input", { name: "password", id: "password", type: "password",
    autocomplete: "current-password", required: true })),
  error,
  h("button", { type: "submit", id: "login-submit", class: "primary" }, t("login")));
  show(form);
  document.getElementById("username").focus();
}

// -- the queue -------------------------------------------------------------------------------------------
async function queueView(params) {
  const tab = params.get("tab") || "mine";
  const tabs = h("div", { class: "tabs" }, ["mine", "unassigned", "all"].map((name) =>
    h("a", { href: `#/queue?tab=${name}`, id: `tab-${name}`, class: name === tab ? "active" : "" }, t(`tab_${name}`))));
  const take = h("button", { id: "take-next", class: "primary", onclick: async () => {
    try {
      const taken = await post("/v1/cases/next");
      if (!taken) { flash(t("nothing_to_take")); return; }
      location.hash = `#/case/${taken.case_id}`;
    } catch (e) { failed(e); }
  } }, t("take_next"));
  show(h("div", { class: "bar" }, h("h1", {}, t("queue_title")), take), tabs, h("p", {}, t("loading")));
  const assignee = { mine: "me", unassigned: "unassigned", all: undefined }[tab];
  const page = await get(`/v1/cases${query({ assignee, limit: 200 })}`);
  const cases = page.data.slice().sort((a, b) => (b.risk - a.risk) || (b.age_seconds - a.age_seconds));
  const rows = cases.map((c) => h("tr", { class: c.overdue ? "overdue" : "", "data-case": c.case_id },
    h("td", {}, h("span", { class: "risk" }, String(c.risk)), meter(c.risk, 1000, "risk-meter")),
    h("td", {}, h("a", { href: `#/case/${c.case_id}` }, c.kind === "ring" ? `${t("kind_ring")} ${c.ring_id}`
      : c.application_id)),
    h("td", {}, t(`kind_${c.kind}`)),
    h("td", {}, h("span", {}, `${age(c.age_seconds)} / 24 ${t("hours")}`), meter(c.age_seconds, TARGET_SECONDS,
      c.overdue ? "late" : ""), c.overdue ? chip(t("overdue"), "late") : ""),
    h("td", {}, c.assignee || h("em", {}, t("unassigned"))),
    h("td", {}, t(`status_${c.status}`))));
  show(h("div", { class: "bar" }, h("h1", {}, t("queue_title")), take), tabs,
    rows.length ? table([t("col_risk"), t("col_case"), t("col_kind"), t("col_age"), t("col_assignee"), t("col_status")],
      rows, { id: "queue" }) : h("p", { class: "empty" }, t("no_cases")));
}

// -- a case ------------------------------------------------------------------------------------------------
function reasonsPanel(decision) {
  const items = (decision.reasons || []).map((r) => h("li", { class: "reason", "data-code": r.code },
    h("div", { class: "reason-head" }, h("strong", {}, reasonTitle(r.code)), " ",
      h("span", { class: "muted" }, `${term(r.detector)} · ${t("strength")} ${r.strength}`)),
    getLang() === "en" && r.text ? h("div", { class: "reason-text" }, r.text) : null,
    (r.evidence || []).length ? h("ul", { class: "evidence" }, r.evidence.map((e) => h("li", {},
      h("code", {}, e.field), " ", h("span", {}, e.value ?? ""), e.detail ? h("span", { class: "muted" }, ` (${e.detail})`) : "",
      e.neighbour ? h("span", { class: "muted" }, ` → ${e.neighbour}`) : ""))) : null));
  return section(t("reasons"), items.length ? h("ol", { id: "reasons" }, items) : h("p", {}, t("no_reasons")));
}

function votesPanel(decision) {
  const rows = (decision.votes || []).filter((v) => v.vote).map((v) => h("div", { class: "vote", "data-detector": v.detector },
    h("span", { class: "vote-name" }, term(v.detector)), meter(v.vote.score, 1, v.voting ? "voting" : "quiet"),
    h("span", { class: "vote-score" }, v.vote.score.toFixed(3))));
  const out = (decision.left_out || []).map((o) => h("li", {}, `${term(o.detector)}: ${o.status}`,
    o.why ? h("span", { class: "muted" }, ` — ${o.why}`) : ""));
  const degraded = decision.degraded ? h("p", { class: "warning", id: "degraded" }, t("degraded_graph"),
    decision.degraded.band_raised ? ` ${t("degraded_raised")}` : "") : null;
  return section(t("votes"), degraded, h("div", { id: "votes" }, rows),
    out.length ? [h("h3", {}, t("left_out")), h("ul", {}, out)] : []);
}

function decisionPanel(c) {
  const d = c.decision;
  const action = (d && d.action) || {};
  const tasks = c.verification_tasks || [];
  return section(t("decision"), kv([
    [t("fraud_score"), d ? h("span", { class: "score" }, String(d.fraud_score)) : String(c.risk)],
    [t("band"), d ? band(d.band) : ""],
    [t("action"), action.type ? t(`action_${action.type}`) : ""],
    [t("hold_funding"), c.hold_funding ? chip(t("hold_funding"), "late") : "—"],
    [t("verification_tasks"), tasks.length ? h("ul", { id: "tasks" }, tasks.map((x) => h("li", {}, t(`task_${x.task}`)))) : "—"],
    [t("submitted_at"), d ? day(d.submitted_at) : ""],
  ]));
}

const DETAIL_FIELDS = {
  applicant: ["name", "id_number", "phone", "address", "occupation", "monthly_income", "face_match_score",
    "liveness_passed", "bank_account", "device_id"],
  loan: ["amount", "vehicle_price", "down_payment", "term_months", "annual_rate", "product"],
  vehicle: ["brand", "model", "is_new", "vin"],
  credit: ["bureau_score", "inquiries_3m", "open_loans", "monthly_debt_payments", "worst_delinquency_days"],
};

//: applicant fields kept masked, whose raw value the vault keeps (POST /v1/cases/{id}/reveal)
const VAULT_FIELDS = ["name", "id_number", "phone", "address", "bank_account"];

// A masked value with a "show" button for the investigator an open case is assigned to: the raw value replaces
// it on the page only (never in the URL or storage); the service audits each reveal.
function maskedValue(c, applicationId, group, name, value) {
  if (group !== "applicant" || !VAULT_FIELDS.includes(name)) return value;
  const field = `${group}.${name}`;
  const shown = h("span", { class: "masked", "data-field": field }, value);
  if (!c || c.status === "closed" || !me || c.assignee !== me.name) return shown;
  const reveal = async () => {
    try {
      const found = await post(`/v1/cases/${c.case_id}/reveal`, { application_id: applicationId, field });
      shown.textContent = found.value;
      shown.classList.remove("masked");
      button.remove();
    } catch (e) { failed(e); }
  };
  const button = h("button", { type: "button", class: "reveal", "data-reveal": field, title: t("show_value_hint"),
    onclick: reveal }, t("show_value"));
  return h("span", {}, shown, " ", button);
}

async function applicationPanel(applicationId, c) {
  const panel = section(t("application"), h("p", {}, t("loading")));
  get(`/v1/applications/${encodeURIComponent(applicationId)}`).then((found) => {
    const a = found.application;
    const groups = Object.entries(DETAIL_FIELDS).map(([group, fields]) => {
      const part = a[group] || {};
      const rows = fields.filter((f) => part[f] !== undefined && part[f] !== null).map((f) => [term(f),
        found.personal_fields === "masked" ? maskedValue(c, applicationId, group, f, String(part[f])) : String(part[f])]);
      if (group === "applicant" && part.employer) rows.push([term("employer"), part.employer.name || ""]);
      return h("div", { class: "detail-group" }, h("h3", {}, t(group)), kv(rows));
    });
    fill(panel, h("h2", {}, t("application")),
      kv([[t("dealer"), a.dealer_id], [t("submitted_at"), day(a.submitted_at)]]),
      found.personal_fields === "hidden" ? h("p", { class: "muted" }, t("personal_hidden")) : null,
      h("div", { class: "detail-groups" }, groups));
  }).catch((e) => fill(panel, h("h2", {}, t("application")), h("p", { class: "error" }, errorText(e.error))));
  return panel;
}

function similarPanel(c) {
  const similar = c.similar_fraud;
  if (!Array.isArray(similar)) return null;
  const rows = similar.map((s) => h("tr", {}, h("td", {}, s.application_id),
    h("td", {}, s.distance === null || s.distance === undefined ? "" : Number(s.distance).toFixed(2)),
    h("td", {}, s.typology ? term(s.typology) : ""),
    h("td", {}, (s.matched || []).map((m) => chip(`${term(m.kind)} ${m.value}`, "shared")))));
  return section(t("similar_fraud"), rows.length ? table([t("application"), t("distance"), t("typology"), t("matched")],
    rows, { id: "similar" }) : h("p", { class: "muted" }, t("no_similar")));
}

function graphPanel(title, load) {
  const box = h("div", { class: "graph", id: "graph" });
  const panel = section(title, h("p", { class: "muted" }, t("graph_hint")), box);
  load().then(({ nodes, edges }) => {
    const types = [...new Set(nodes.map((n) => n.type))].sort();
    panel.insertBefore(legend(types), box);
    draw(box, nodes, edges, { onExpand: async (id, near) => {
      try { return await get(`/v1/nodes/${encodeURIComponent(id)}/neighbours${query({ near, limit: 40 })}`); }
      catch (e) { flash(t("expand_failed"), "error"); return null; }
    } });
    box.dataset.ready = "true";
  }).catch(failed);
  return panel;
}

function actionsPanel(c) {
  if (c.status === "closed") {
    return section(t("actions"), kv([[t("closed_as"), t(`outcome_${c.outcome}`)], [t("typology"), c.typology ? term(c.typology) : ""],
      [t("status_closed"), day(c.closed_at)]]));
  }
  const area = h("div", { id: "action-form" });
  const closeForm = (outcome) => {
    const typology = h("select", { id: "typology", name: "typology" }, TYPOLOGIES.map((x) => h("option", { value: x }, term(x))));
    const suggested = c.ring_id ? "cash_out_ring" : null;
    if (suggested) typology.value = suggested;
    const note = h("textarea", { id: "close-note", rows: 2, placeholder: t("note") });
    area.replaceChildren(h("form", { class: "inline-form", onsubmit: async (event) => {
      event.preventDefault();
      try {
        await post(`/v1/cases/${c.case_id}/close`, { outcome, typology: outcome === "confirmed_fraud" ? typology.value : null,
          note: note.value || null });
        flash(t("closed_ok"));
        route();
      } catch (e) { failed(e); }
    } }, h("strong", {}, t(`outcome_${outcome}`)), outcome === "confirmed_fraud" ? h("label", {}, t("typology"), typology) : null,
    note, h("button", { type: "submit", class: "primary", id: "close-submit" }, t("close_case")),
    h("button", { type: "button", onclick: () => area.replaceChildren() }, t("cancel"))));
  };
  const verification = () => {
    const task = h("select", { id: "task" }, ["proof_of_income", "employment_check", "identity_check"]
      .map((x) => h("option", { value: x }, t(`task_${x}`))));
    area.replaceChildren(h("form", { class: "inline-form", onsubmit: async (event) => {
      event.preventDefault();
      try { await post(`/v1/cases/${c.case_id}/verification`, { task: task.value }); flash(t("requested")); route(); }
      catch (e) { failed(e); }
    } }, h("label", {}, t("ask_verification"), task), h("button", { type: "submit", class: "primary", id: "verification-submit" },
      t("request"))));
  };
  const hold = async () => {
    try { await post(`/v1/cases/${c.case_id}/hold`, { hold: !c.hold_funding }); flash(t("saved")); route(); }
    catch (e) { failed(e); }
  };
  const assign = async () => {
    try { await post(`/v1/cases/${c.case_id}/assign`, { assignee: me.name }); route(); } catch (e) { failed(e); }
  };
  return section(t("actions"), h("div", { class: "actions" },
    c.assignee !== (me && me.name) ? h("button", { id: "assign-me", onclick: assign }, t("assign_me")) : null,
    h("button", { id: "act-fraud", class: "danger", onclick: () => closeForm("confirmed_fraud") }, t("confirm_fraud")),
    h("button", { id: "act-false-positive", onclick: () => closeForm("false_positive") }, t("false_positive")),
    h("button", { id: "act-legitimate", onclick: () => closeForm("verified_legitimate") }, t("verified_legitimate")),
    c.kind === "application" ? h("button", { id: "act-verify", onclick: verification }, t("ask_verification")) : null,
    c.kind === "application" ? h("button", { id: "act-hold", onclick: hold }, c.hold_funding ? t("release") : t("hold")) : null),
  area);
}

function notesPanel(c) {
  const text = h("textarea", { id: "note-text", rows: 2, placeholder: t("note") });
  const form = c.status === "closed" ? null : h("form", { class: "inline-form", onsubmit: async (event) => {
    event.preventDefault();
    if (!text.value.trim()) return;
    try { await post(`/v1/cases/${c.case_id}/notes`, { text: text.value }); route(); } catch (e) { failed(e); }
  } }, text, h("button", { type: "submit", id: "note-submit" }, t("add_note")));
  const events = (c.timeline || []).slice().reverse().map((e) => h("li", {}, h("span", { class: "muted" }, day(e.at)), " ",
    h("strong", {}, term(`event_${e.kind}`)), " ", h("span", {}, e.actor), e.detail && e.detail.text ? h("div", { class: "note" }, e.detail.text) : ""));
  return section(t("timeline"), form, h("ul", { class: "timeline", id: "timeline" }, events));
}

function ringMembersPanel(ring) {
  const rows = (ring.members || []).map((m) => h("tr", { class: m.joined_since_last_review ? "joined" : "" },
    h("td", {}, m.applicant), h("td", {}, m.applications.join(", ")),
    h("td", {}, m.joined_since_last_review ? chip(t("joined_since"), "late") : "")));
  return section(`${t("members")} (${rows.length})`, table([t("applicant"), t("applications"), ""], rows, { id: "members" }),
    h("h3", {}, t("joined_since")), ring.joined_since_last_review.length
      ? h("ul", {}, ring.joined_since_last_review.map((m) => h("li", {}, `${m.applicant}: ${m.applications.join(", ")}`)))
      : h("p", { class: "muted" }, t("none")));
}

async function caseView(caseId) {
  show(h("p", {}, t("loading")));
  const c = await get(`/v1/cases/${encodeURIComponent(caseId)}`);
  const title = c.kind === "ring" ? `${t("kind_ring")} ${c.ring_id}` : c.application_id;
  const head = h("div", { class: "bar" }, h("h1", { id: "case-title" }, `${t("case_title")} · ${title}`),
    chip(t(`status_${c.status}`), `status-${c.status}`), h("span", { class: "muted" },
      `${age(c.age_seconds)} / 24 ${t("hours")}`), c.overdue ? chip(t("overdue"), "late") : "",
    h("span", { class: "muted" }, c.assignee || t("unassigned")));
  const parts = [head, h("div", { class: "columns" },
    h("div", { class: "column" }, decisionPanel(c), c.decision ? reasonsPanel(c.decision) : null,
      c.decision ? votesPanel(c.decision) : null, similarPanel(c)),
    h("div", { class: "column" }, actionsPanel(c),
      c.kind === "ring" ? graphPanel(`${t("ring")} ${c.ring_id}`, () => get(`/v1/rings/${encodeURIComponent(c.ring_id)}`))
        : graphPanel(t("network"), () => get(`/v1/applications/${encodeURIComponent(c.application_id)}/network${query({ hops: 2, max_neighbours: 25 })}`)),
      c.ring ? ringMembersPanel(c.ring) : null,
      notesPanel(c)))];
  if (c.kind === "application") parts[1].firstChild.append(await applicationPanel(c.application_id, c));
  show(parts);
}

// -- rings ------------------------------------------------------------------------------------------------------
async function ringsView(params) {
  const form = h("form", { class: "filters", onsubmit: (event) => {
    event.preventDefault();
    const data = new FormData(form);
    location.hash = `#/rings${query(Object.fromEntries(data.entries()))}`;
  } },
  h("label", {}, t("min_risk"), h("input", { name: "min_risk", type: "number", step: "0.05", min: 0, max: 1, value: params.get("min_risk") || "" })),
  h("label", {}, t("min_size"), h("input", { name: "min_size", type: "number", min: 1, value: params.get("min_size") || "" })),
  h("label", {}, t("dealer"), h("input", { name: "dealer_id", value: params.get("dealer_id") || "" })),
  h("button", { type: "submit" }, t("filter")));
  const body = h("tbody");
  const more = h("button", { id: "rings-more", hidden: true }, t("more"));
  const load = async (cursor) => {
    const page = await get(`/v1/rings${query({ min_risk: params.get("min_risk"), min_size: params.get("min_size"),
      dealer_id: params.get("dealer_id"), cursor, limit: 50 })}`);
    body.append(...page.data.map((r) => h("tr", {}, h("td", {}, h("a", { href: `#/ring/${r.ring_id}` }, r.ring_id)),
      h("td", {}, meter(r.risk, 1, "risk-meter"), ` ${r.risk.toFixed(2)}`), h("td", {}, String(r.size)),
      h("td", {}, String(r.applications)), h("td", {}, String(r.confirmed_fraud)),
      h("td", {}, r.shared_labels.map((x) => chip(term(x), "shared"))),
      h("td", {}, r.dealers.map((d) => h("a", { href: `#/dealer/${encodeURIComponent(d)}`, class: "dealer" }, d))),
      h("td", {}, day(r.last_at)))));
    more.hidden = !page.pagination.has_more;
    more.onclick = () => load(page.pagination.next).catch(failed);
  };
  show(h("h1", {}, t("rings_title")), form, h("table", { class: "grid", id: "rings" }, h("thead", {}, h("tr", {},
    [t("ring"), t("risk"), t("size"), t("applications"), t("confirmed"), t("shared"), t("dealers"), t("last_activity")]
      .map((x) => h("th", {}, x)))), body), more);
  await load(null);
}

async function ringView(ringId) {
  show(h("p", {}, t("loading")));
  const ring = await get(`/v1/rings/${encodeURIComponent(ringId)}`);
  const s = ring.statistics;
  const review = h("button", { id: "review-ring", class: "primary", onclick: async () => {
    try { const opened = await post("/v1/cases", { ring_id: ring.ring_id }); location.hash = `#/case/${opened.case_id}`; }
    catch (e) { failed(e); }
  } }, t("review_ring"));
  const members = ring.members.map((m) => h("tr", {}, h("td", { class: "nowrap" }, m.application_id),
    h("td", {}, m.band ? band(m.band) : "—"), h("td", {}, m.fraud_score ?? "—"), h("td", {}, m.confirmed_fraud ? chip(t("confirmed"), "fraud") : ""),
    h("td", { class: "nowrap" }, m.dealer_id ? h("a", { href: `#/dealer/${encodeURIComponent(m.dealer_id)}` }, m.dealer_id) : ""),
    h("td", {}, day(m.submitted_at))));
  const shared = ring.shared_attributes.map((a) => h("tr", {}, h("td", {}, term(a.kind)), h("td", {}, a.value),
    h("td", {}, String(a.members))));
  const box = h("div", { class: "graph", id: "graph" });
  show(h("div", { class: "bar" }, h("h1", { id: "ring-title" }, `${t("ring_title")} ${ring.ring_id}`), review),
    section(t("ring"), legend([...new Set(ring.nodes.map((n) => n.type))].sort()),
      h("p", { class: "muted" }, t("graph_hint")), box),
    h("div", { class: "columns" },
      h("div", { class: "column" },
        section(t("statistics"), kv([[t("size"), String(s.size)], [t("applications"), String(s.applications)],
          [t("risk"), s.risk.toFixed(2)], [t("labelled"), String(s.labelled)],
          [t("fraud_rate"), s.fraud_rate === null ? "—" : `${(s.fraud_rate * 100).toFixed(0)}%`],
          [t("time_span"), s.time_span_days === null ? "—" : `${s.time_span_days.toFixed(1)} ${t("days")}`],
          [t("dealers"), s.dealers.join(", ")]])),
        section(t("shared_attributes"), table([t("node_types"), t("shared"), t("members")], shared))),
      h("div", { class: "column" },
        section(`${t("members")} (${members.length})`, table([t("application"), t("band"), t("fraud_score"), "", t("dealer"),
          t("submitted_at")], members, { id: "ring-members" })))));
  draw(box, ring.nodes, ring.edges, { onExpand: async (id, near) => {
    try { return await get(`/v1/nodes/${encodeURIComponent(id)}/neighbours${query({ near, limit: 40 })}`); }
    catch (e) { flash(t("expand_failed"), "error"); return null; }
  } });
  box.dataset.ready = "true";
}

// -- dealers ------------------------------------------------------------------------------------------------------
async function dealersView(params) {
  const sort = params.get("sort") || "risk";
  const picker = h("select", { id: "dealer-sort", onchange: (e) => { location.hash = `#/dealers?sort=${e.target.value}`; } },
    ["risk", "applications", "dealer_id"].map((x) => h("option", { value: x }, t(`sort_${x}`))));
  picker.value = sort;
  const body = h("tbody");
  const more = h("button", { hidden: true }, t("more"));
  const pct = (x) => (x === null || x === undefined ? "—" : `${(x * 100).toFixed(1)}%`);
  const load = async (cursor) => {
    const page = await get(`/v1/dealers${query({ sort, cursor, limit: 50 })}`);
    body.append(...page.data.map((d) => h("tr", {}, h("td", {}, h("a", { href: `#/dealer/${encodeURIComponent(d.dealer_id)}` }, d.dealer_id)),
      h("td", {}, String(d.applications)), h("td", {}, pct(d.fraud_rate)), h("td", {}, String(d.confirmed_fraud ?? "")),
      h("td", {}, String(d.inflated_deals ?? "")), h("td", {}, String(d.rings_touching ?? "")), h("td", {}, pct(d.ring_share)))));
    more.hidden = !page.pagination.has_more;
    more.onclick = () => load(page.pagination.next).catch(failed);
  };
  show(h("div", { class: "bar" }, h("h1", {}, t("dealers_title")), h("label", {}, t("sort"), picker)),
    h("table", { class: "grid", id: "dealers" }, h("thead", {}, h("tr", {}, [t("dealer"), t("applications"), t("fraud_rate"),
      t("confirmed"), t("inflated_deals"), t("rings_touching"), t("ring_share")].map((x) => h("th", {}, x)))), body), more);
  await load(null);
}

async function dealerView(dealerId) {
  show(h("p", {}, t("loading")));
  const card = await get(`/v1/dealers/${encodeURIComponent(dealerId)}/scorecard`);
  const pct = (x) => (x === null || x === undefined ? "—" : `${(x * 100).toFixed(1)}%`);
  const total = Math.max(1, card.decided);
  const bands = ["approve", "review", "reject"].map((b) => h("div", { class: "vote" }, band(b),
    meter(card.decisions_by_band[b] || 0, total, `band-${b}`), h("span", {}, String(card.decisions_by_band[b] || 0))));
  const rings = card.rings.map((r) => h("tr", {}, h("td", {}, h("a", { href: `#/ring/${r.ring_id}` }, r.ring_id)),
    h("td", {}, meter(r.risk, 1, "risk-meter"), ` ${r.risk.toFixed(2)}`), h("td", {}, String(r.applications_here))));
  show(h("h1", { id: "dealer-title" }, `${t("scorecard")} · ${dealerId}`),
    h("div", { class: "columns" },
      h("div", { class: "column" },
        section(t("scorecard"), kv([[t("applications"), String(card.applications)], [t("decided"), String(card.decided)],
          [t("fraud_rate"), `${pct(card.fraud_rate)} (${card.confirmed_fraud} / ${card.labelled})`],
          [t("ring_share"), `${pct(card.ring_share)} (${card.in_risky_rings})`],
          [t("inflated_deals"), String(card.inflated_deals)]])),
        section(t("by_band"), h("div", {}, bands))),
      h("div", { class: "column" }, section(`${t("rings_touching")} (${rings.length})`, rings.length
        ? table([t("ring"), t("risk"), t("applications_here")], rings, { id: "dealer-rings" })
        : h("p", { class: "muted" }, t("none"))))));
}

// -- analysts: proposals with their backtest beside the active version -------------------------------------------
function backtestTable(backtest) {
  if (!backtest) return h("p", { class: "muted" }, t("backtest_running"));
  const proposal = backtest.proposal || {};
  const active = backtest.active || {};
  const keys = [...new Set([...Object.keys(proposal), ...Object.keys(active)])]
    .filter((k) => typeof (proposal[k] ?? active[k]) !== "object");
  return table([t("metric"), t("proposal"), `${t("active")} (v${backtest.active_version ?? "?"})`], keys.map((k) =>
    h("tr", {}, h("td", {}, k), h("td", {}, fmt(proposal[k])), h("td", {}, fmt(active[k])))));
}
function fmt(v) { return v === undefined || v === null ? "—" : typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toFixed(4)) : String(v); }

async function analystsView() {
  show(h("p", {}, t("loading")));
  const [config, proposed] = await Promise.all([get("/v1/config"), get(`/v1/config/versions${query({ status: "proposed" })}`)]);
  const cards = proposed.data.map((v) => {
    const comment = h("input", { placeholder: t("comment"), class: "comment" });
    const decide = (verb) => async () => {
      try { await post(`/v1/config/proposals/${v.version}/${verb}`, { comment: comment.value || null }); flash(t("saved")); route(); }
      catch (e) { failed(e); }
    };
    return h("article", { class: "panel proposal", "data-version": v.version },
      h("h2", {}, `${t("version")} ${v.version}: ${v.summary}`),
      kv([[t("proposed_by"), v.proposed_by], [t("submitted_at"), day(v.proposed_at)]]),
      h("h3", {}, t("backtest")), backtestTable(v.backtest),
      h("details", {}, h("summary", {}, "YAML"), h("pre", {}, v.body)),
      h("div", { class: "actions" }, comment, h("button", { class: "primary", onclick: decide("approve") }, t("approve")),
        h("button", { class: "danger", onclick: decide("reject") }, t("reject"))));
  });
  const active = config.version ?? config.active_version ?? "";
  show(h("h1", {}, t("analysts_title")), section(t("active_version"), kv([[t("version"), String(active)],
    [t("summary"), config.summary || ""]])), h("h2", {}, t("proposals")),
  cards.length ? cards : h("p", { class: "muted" }, t("no_proposals")));
}

// -- routing --------------------------------------------------------------------------------------------------------
async function route() {
  const [path, search] = (location.hash.slice(1) || "/queue").split("?");
  const params = new URLSearchParams(search || "");
  const parts = path.split("/").filter(Boolean);
  if (!me && parts[0] !== "login") await resume();
  header();
  if (!me) { loginView(); return; }
  try {
    switch (parts[0]) {
      case "case": await caseView(parts[1]); break;
      case "ring": await ringView(parts[1]); break;
      case "rings": await ringsView(params); break;
      case "dealers": await dealersView(params); break;
      case "dealer": await dealerView(decodeURIComponent(parts[1] || "")); break;
      case "analysts": await analystsView(); break;
      case "login": location.hash = home(); break;
      case "queue": await queueView(params); break;
      default: if (home() === "#/queue") await queueView(params); else location.hash = home();
    }
  } catch (e) { failed(e); }
}

window.addEventListener("hashchange", route);
loadCatalogue().then(route);
