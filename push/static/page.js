// The live diagnosis page: start a diagnosis, watch it over DiagnosisClient, show the report or
// the friendly error. State is on the root element (data-state, data-transport) for people and
// tests alike; `window.diagPage.client` is the client of the current run.
import { DiagnosisClient } from "./diag-client.js";

const TEXTS = {
  zh: {
    title: "品牌诊断", token: "令牌", brand: "品牌", platforms: "平台（逗号分隔，可留空）", start: "开始诊断",
    retry: "重试", transport: "连接", reconnects: "重连",
    stage_queued: "排队中", stage_ai_fetching: "获取 AI 数据", stage_analyzing: "分析",
    stage_generating_report: "生成报告",
    t_connecting: "连接中", t_live: "实时", t_polling: "轮询", t_closed: "已结束",
    report: "诊断报告", score: "可见度得分", platform: "平台", mentions: "提及", sentiment: "情感", rank: "排名",
    need_token: "请填写令牌（或在地址中加上 ?token=）。", start_failed: "无法开始诊断：",
  },
  en: {
    title: "Brand diagnosis", token: "Token", brand: "Brand", platforms: "Platforms (comma-separated, optional)",
    start: "Start diagnosis", retry: "Retry", transport: "Connection", reconnects: "reconnects",
    stage_queued: "Queued", stage_ai_fetching: "Fetching AI answers", stage_analyzing: "Analysing",
    stage_generating_report: "Writing the report",
    t_connecting: "connecting", t_live: "live", t_polling: "polling", t_closed: "finished",
    report: "Report", score: "Visibility score", platform: "Platform", mentions: "Mentions", sentiment: "Sentiment",
    rank: "Rank", need_token: "Enter a token (or add ?token= to the address).", start_failed: "Could not start: ",
  },
};

const root = document.documentElement;
const $ = (id) => document.getElementById(id);
const page = { client: null, lang: "zh", runs: 0, lastRequest: null, lastError: null, report: null, transports: [] };
window.diagPage = page;

function numberMeta(name, fallback) {
  const value = Number(document.querySelector(`meta[name="${name}"]`)?.content);
  return Number.isFinite(value) && value > 0 ? value : fallback;
}

/** The `lang` claim of a JWT, read without checking it (the service checks it). */
function tokenLang(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const claims = JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), "=")));
    return claims.lang === "en" || claims.lang === "zh" ? claims.lang : null;
  } catch {
    return null;
  }
}

function t(key) {
  return TEXTS[page.lang][key] ?? key;
}

function setLang(lang) {
  page.lang = lang === "en" ? "en" : "zh";
  root.lang = page.lang;
  for (const el of document.querySelectorAll("[data-text]")) el.textContent = t(el.dataset.text);
  for (const button of document.querySelectorAll(".langs button")) {
    button.setAttribute("aria-pressed", String(button.dataset.lang === page.lang));
  }
  showTransport();
  if (page.report) renderReport(page.report);
  if (page.lastError) showError(page.lastError);
}

function showTransport() {
  const transport = page.client ? page.client.transport : "closed";
  root.dataset.transport = transport;
  $("transport").textContent = t(`t_${transport}`);
  $("reconnects").textContent = String(page.client ? page.client.reconnects : 0);
}

function showProgress({ progress, stage, statusText }) {
  if (Number.isFinite(progress)) $("progress").value = progress;
  if (stage) {
    $("stage").textContent = t(`stage_${stage}`);
    root.dataset.stage = stage;
    document.querySelector(`#stages li[data-stage="${stage}"]`)?.classList.add("reached");
  }
  if (typeof statusText === "string") $("status-text").textContent = statusText;
}

function cell(row, text, tag = "td") {
  const el = document.createElement(tag);
  el.textContent = String(text);
  row.append(el);
}

function renderReport(report) {
  const box = $("result");
  box.replaceChildren();
  const title = document.createElement("h2");
  title.textContent = `${t("report")}: ${report.brand ?? ""}`;
  const score = document.createElement("p");
  const label = document.createElement("span");
  label.textContent = `${t("score")} `;
  const value = document.createElement("span");
  value.className = "score";
  value.id = "score";
  value.textContent = String(report.score ?? "-");
  score.append(label, value);
  const summary = document.createElement("p");
  summary.id = "summary";
  summary.textContent = report.summary ?? "";
  const table = document.createElement("table");
  const head = table.createTHead().insertRow();
  for (const key of ["platform", "mentions", "sentiment", "rank"]) cell(head, t(key), "th");
  const body = table.createTBody();
  for (const p of Array.isArray(report.platforms) ? report.platforms : []) {
    const row = body.insertRow();
    row.dataset.platform = String(p.platform);
    for (const key of ["platform", "mentions", "sentiment", "rank"]) cell(row, p[key] ?? "");
  }
  box.append(title, score, summary, table);
  box.hidden = false;
}

function showError(error) {
  $("error-message").textContent = error.message;
  $("retry").hidden = !error.retryable;
  $("error").hidden = false;
}

function reset() {
  if (page.client) page.client.stop();
  page.report = null;
  page.lastError = null;
  $("result").hidden = true;
  $("error").hidden = true;
  $("progress").value = 0;
  $("stage").textContent = "";
  $("status-text").textContent = "";
  for (const li of document.querySelectorAll("#stages li")) li.classList.remove("reached");
  delete root.dataset.stage;
}

async function run(request) {
  const token = $("token").value.trim();
  if (!token) {
    page.lastError = { message: t("need_token"), retryable: false };
    showError(page.lastError);
    root.dataset.state = "error";
    return;
  }
  reset();
  page.runs += 1;
  page.transports = [];
  page.lastRequest = request;
  const client = new DiagnosisClient({
    baseUrl: location.origin, token,
    pingIntervalMs: numberMeta("diagops-heartbeat-ms", 25000),
    pongTimeoutMs: numberMeta("diagops-heartbeat-timeout-ms", 8000),
  });
  page.client = client;
  const mine = (fn) => (arg) => { if (page.client === client) fn(arg); };
  client.on("progress", mine(showProgress));
  client.on("transport", mine(({ transport }) => {
    page.transports.push({ transport, at: Math.round(performance.now()) });
    showTransport();
  }));
  client.on("complete", mine(({ report }) => {
    page.report = report || {};
    renderReport(page.report);
    root.dataset.state = "complete";
  }));
  client.on("error", mine((error) => {
    page.lastError = { message: error.message, retryable: error.retryable, code: error.code };
    showError(page.lastError);
    root.dataset.state = "error";
  }));
  root.dataset.state = "running";
  $("start").disabled = true;
  try {
    const started = await client.start(request);
    root.dataset.execution = started.execution_id;
  } catch {
    // shown by the "error" handler
  } finally {
    $("start").disabled = false;
  }
}

function requestFromForm() {
  const platforms = $("platforms").value.split(",").map((s) => s.trim()).filter(Boolean);
  const request = { brand: $("brand").value.trim(), lang: page.lang };
  if (platforms.length) request.platforms = platforms;
  return request;
}

const params = new URLSearchParams(location.search);
if (params.get("token")) $("token").value = params.get("token");
if (params.get("brand")) $("brand").value = params.get("brand");
if (params.get("platforms")) $("platforms").value = params.get("platforms");
setLang(params.get("lang") || tokenLang($("token").value) || (navigator.language.startsWith("zh") ? "zh" : "en"));

$("start-form").addEventListener("submit", (e) => { e.preventDefault(); run(requestFromForm()); });
$("retry").addEventListener("click", () => run(page.lastRequest || requestFromForm()));
$("token").addEventListener("change", () => { const lang = tokenLang($("token").value); if (lang) setLang(lang); });
for (const button of document.querySelectorAll(".langs button")) {
  button.addEventListener("click", () => setLang(button.dataset.lang));
}
root.dataset.ready = "true";
