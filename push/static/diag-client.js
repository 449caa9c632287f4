// DiagnosisClient: watch one diagnosis of `diagops serve` live, with no dependency.
//
// The contract is docs/protocol.md. The client subscribes over the WebSocket with `last_seq`,
// keeps the socket honest with its own pings (a browser answers the server's pings by itself and
// never shows them to a script, so only frames prove the socket alive), reconnects with full
// jitter, and falls back to polling `GET /api/v1/executions/{id}` plus `.../events?after=N` when
// the socket cannot be opened, stays silent or keeps dropping. While it polls it probes the
// socket in the background and switches back once a probe is answered. Every update passes one
// seq merge, so an update is shown once and in order whichever path brought it.
//
// Everything platform-specific (socket, HTTP, timers, the `online` signal, randomness) sits
// behind one small adapter; `browserAdapter()` is the default, and a mini program passes one
// built on wx.connectSocket / wx.request (README: "The JavaScript client").

export const DEFAULTS = Object.freeze({
  minDelayMs: 500, // first reconnect delay (centrifuge-js's default)
  maxDelayMs: 20000, // cap on any reconnect delay
  pingIntervalMs: 25000, // quiet this long: send a ping (the service's heartbeat.interval_s)
  pongTimeoutMs: 8000, // then quiet this much longer: the socket is dead (heartbeat.timeout_s)
  pollIntervalMs: 1000, // polling period while the socket is unavailable
  maxDrops: 3, // drops in a row without an update before polling takes over
  maxStartAttempts: 5, // tries of a start refused with a retryable status
  refreshMarginMs: 60000, // ask `refreshToken` for a new token this long before the token's exp
});

const FINAL = new Set(["complete", "error"]);
const FATAL_FRAME_CODES = new Set(["not_found", "forbidden", "invalid_field", "missing_field"]);
const AUTH_CLOSE = 4001;

/** Reconnect delay for `attempt` (0-based): full jitter over a range that doubles and is capped.
 * The delay is uniform in [min, min(max, min * 2^(attempt+1))]: 0.5-1 s first, then 0.5-2 s,
 * ... up to 0.5-20 s. The cap bounds the range the draw is made over, not the drawn value: a
 * delay clamped to the cap would be the same for every client that lost the service at once
 * and would bring them back together, a reconnection storm. */
export function backoffDelay(attempt, { minDelayMs = DEFAULTS.minDelayMs, maxDelayMs = DEFAULTS.maxDelayMs,
  random = Math.random } = {}) {
  const step = Math.min(Math.max(0, attempt), 31);
  const upper = Math.max(minDelayMs, Math.min(maxDelayMs, minDelayMs * 2 ** (step + 1)));
  return minDelayMs + random() * (upper - minDelayMs);
}

/** A server's Retry-After (seconds) as a delay with jitter added, or null when absent or bad. */
export function retryAfterDelay(header, { minDelayMs = DEFAULTS.minDelayMs, random = Math.random } = {}) {
  if (header == null || !/^\d{1,6}$/.test(String(header).trim())) return null;
  return Number(String(header).trim()) * 1000 + random() * minDelayMs;
}

/** The `exp` (seconds since 1970) a JWT claims, or null. The client reads it only to know when to
 * ask for a new token; the service, not this, decides whether a token is valid. Decoded by hand
 * because a mini program has no `atob`. */
export function tokenExpiry(token) {
  const part = typeof token === "string" ? token.split(".")[1] : undefined;
  if (!part) return null;
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  let bits = 0, value = 0, text = "";
  for (const ch of part.replace(/=+$/, "")) {
    const digit = alphabet.indexOf(ch === "+" ? "-" : ch === "/" ? "_" : ch);
    if (digit < 0) return null;
    value = (value << 6) | digit;
    bits += 6;
    if (bits >= 8) { bits -= 8; text += String.fromCharCode((value >> bits) & 0xff); }
  }
  try {
    const exp = JSON.parse(text).exp; // bytes as Latin-1: a non-ASCII `sub` reads garbled, `exp` does not
    return typeof exp === "number" && Number.isFinite(exp) ? exp : null;
  } catch {
    return null;
  }
}

/** The seq merge: updates of one execution, from any path, applied once each and in order.
 * An update at or below the last applied seq is a duplicate; one above the next is held until
 * the ones between arrive (`gap` says which seq is awaited, so the caller can fetch it). */
export class SeqMerger {
  constructor(lastSeq = 0, epoch = null) {
    this.lastSeq = lastSeq;
    this.epoch = epoch; // the stored stream the seqs count in (from `subscribed`), once known
    this.received = []; // the seqs applied, in order: tests check it has no repeat and no hole
    this.duplicates = 0;
    this.resets = 0;
    this._held = new Map();
  }

  /** Take the service's stream name; true when it is not the one counted so far (the service
   * lost the stream and it started over at seq 1), after which counting starts from 0 again. */
  follow(epoch, reset = false) {
    if (typeof epoch !== "string" || !epoch) return false;
    const restarted = reset || (this.epoch !== null && epoch !== this.epoch);
    this.epoch = epoch;
    if (!restarted) return false;
    this.lastSeq = 0;
    this.received = [];
    this._held.clear();
    this.resets += 1;
    return true;
  }

  /** Offer updates; returns the ones now applicable, in seq order. */
  offer(updates) {
    const ready = [];
    for (const update of updates) {
      const seq = update && update.seq;
      if (!Number.isInteger(seq) || seq < 1) continue;
      if (seq <= this.lastSeq || this._held.has(seq)) { this.duplicates += 1; continue; }
      this._held.set(seq, update);
    }
    while (this._held.has(this.lastSeq + 1)) {
      const next = this._held.get(this.lastSeq + 1);
      this._held.delete(this.lastSeq + 1);
      this.lastSeq += 1;
      this.received.push(this.lastSeq);
      ready.push(next);
    }
    return ready;
  }

  /** The seq awaited while later ones are held, else null. */
  get gap() {
    return this._held.size ? this.lastSeq + 1 : null;
  }
}

/** The browser's socket, fetch, timers and `online` event behind the adapter interface. */
export function browserAdapter(global = globalThis) {
  return {
    openSocket(url, on) {
      const ws = new global.WebSocket(url);
      ws.onopen = () => on.open();
      ws.onmessage = (e) => on.message(typeof e.data === "string" ? e.data : "");
      ws.onerror = () => on.error();
      ws.onclose = (e) => on.close(e.code, e.reason);
      return { send: (text) => ws.send(text), close: (code, reason) => ws.close(code, reason) };
    },
    async request({ method, url, headers, body }) {
      const resp = await global.fetch(url, { method, headers, body, cache: "no-store" });
      const text = await resp.text();
      return { status: resp.status, header: (name) => resp.headers.get(name), text };
    },
    setTimeout: (fn, ms) => global.setTimeout(fn, ms),
    clearTimeout: (handle) => global.clearTimeout(handle),
    onOnline(fn) {
      if (!global.addEventListener) return () => {};
      global.addEventListener("online", fn);
      return () => global.removeEventListener("online", fn);
    },
    random: () => Math.random(),
    now: () => Date.now(),
  };
}

/** An error a caller shows: `message` for people, `retryable`, and where it came from. */
export class DiagnosisError extends Error {
  constructor(message, { code = "error", retryable = false, errorType = null, status = null } = {}) {
    super(message);
    this.code = code;
    this.retryable = retryable;
    this.errorType = errorType;
    this.status = status;
  }
}

function parseObject(text) {
  try {
    const value = JSON.parse(text);
    return value !== null && typeof value === "object" ? value : null;
  } catch {
    return null;
  }
}

/** Transport names a UI shows: "connecting", "live" (socket), "polling", "closed". */
export class DiagnosisClient {
  /** `baseUrl` of the service (e.g. location.origin), a `token` with scope subscribe, options
   * overriding DEFAULTS, `adapter` (default: the browser's), and `refreshToken`, an async function
   * giving a new token for the same user (the app's login service): with it, a socket outlives
   * its token, and a token that expired anyway is replaced once instead of ending the watch. */
  constructor({ baseUrl, token, adapter = null, refreshToken = null, ...options }) {
    this.baseUrl = String(baseUrl).replace(/\/+$/, "");
    this.token = token;
    this.refreshToken = typeof refreshToken === "function" ? refreshToken : null;
    this.refreshes = 0; // tokens the service accepted on a live socket
    this.options = { ...DEFAULTS, ...options };
    this.adapter = adapter || browserAdapter();
    this.transport = "closed";
    this.reconnects = 0;
    this.executionId = null;
    this.merger = new SeqMerger();
    this._handlers = {};
    this._socket = null; // {id, conn, subscribed}: the current socket; callbacks of older ones are ignored
    this._socketIds = 0;
    this._timers = {};
    this._attempt = 0;
    this._drops = 0;
    this._pollFailures = 0;
    this._done = false;
    this._fetching = false;
    this._offOnline = null;
    this._refreshFailures = 0;
    this._renewedAfterExpiry = false; // a 4001 was answered with a new token and no socket took it yet
  }

  /** Subscribe to "update", "progress", "complete", "error", "transport", "reset"; returns an unsubscribe. */
  on(event, fn) {
    (this._handlers[event] ||= []).push(fn);
    return () => { this._handlers[event] = this._handlers[event].filter((f) => f !== fn); };
  }

  /** The seqs applied so far, in order. */
  get receivedSeqs() {
    return this.merger.received.slice();
  }

  /** Start a diagnosis (POST /api/v1/diagnoses) and watch it; resolves to the start answer. A
   * refusal that says to wait (429/503 with Retry-After, or `retryable: true`) is tried again
   * after that delay plus jitter, up to maxStartAttempts; any other refusal rejects. */
  async start(request) {
    for (let attempt = 1; ; attempt += 1) {
      const resp = await this._http("POST", "/api/v1/diagnoses", JSON.stringify(request));
      const body = parseObject(resp.text);
      if (resp.status === 202 && body && typeof body.execution_id === "string") {
        this.watch(body.execution_id);
        return body;
      }
      const failure = this._httpError(resp, body);
      const wait = this._retryWait(resp, body, attempt);
      if (wait === null || attempt >= this.options.maxStartAttempts) {
        this._emit("error", failure);
        throw failure;
      }
      await new Promise((resolve) => this._timer(`start${attempt}`, wait, resolve));
      if (this._done) throw new DiagnosisError("stopped", { code: "stopped" });
    }
  }

  /** Follow an existing execution from `lastSeq` (0: from its first event). */
  watch(executionId, lastSeq = 0) {
    if (this._offOnline) this.stop(); // one execution per client: a second watch replaces the first
    this.executionId = executionId;
    this.merger = new SeqMerger(lastSeq);
    this._done = false;
    this._offOnline = this.adapter.onOnline(() => this._online());
    this._setTransport("connecting");
    this._scheduleRefresh(tokenExpiry(this.token));
    this._openSocket();
  }

  /** Stop watching: socket closed, timers cleared, no more callbacks. */
  stop() {
    this._finish("closed");
  }

  // --- events out ---

  _emit(event, payload) {
    for (const fn of this._handlers[event] || []) {
      try { fn(payload); } catch (err) { console.error(err); } // a UI bug must not stop the client
    }
  }

  _setTransport(transport) {
    if (this.transport === transport) return;
    const previous = this.transport;
    this.transport = transport;
    this._emit("transport", { transport, previous, reconnects: this.reconnects });
  }

  _apply(updates) {
    if (this._done) return;
    for (const update of this.merger.offer(updates)) {
      this._drops = 0;
      this._emit("update", update);
      const data = update.data || {};
      if (update.event === "progress") {
        this._emit("progress", { seq: update.seq, progress: data.progress, stage: data.stage,
          status: data.status, statusText: data.status_text });
      } else if (update.event === "complete") {
        this._emit("progress", { seq: update.seq, progress: 100, stage: data.stage, status: "complete",
          statusText: data.status_text });
        this._finish("closed");
        this._emit("complete", { seq: update.seq, report: data.report, statusText: data.status_text });
        return;
      } else if (update.event === "error") {
        this._finish("closed");
        this._emit("error", new DiagnosisError(data.message || data.error || "the diagnosis failed", {
          code: "diagnosis_error", retryable: data.retryable === true, errorType: data.error_type || null }));
        return;
      }
    }
    if (this.merger.gap !== null) this._fetchEvents(); // a hole: the events endpoint fills it
  }

  /** A stream that started over (a new epoch) is shown from its first update again; a UI told by
   * the "reset" event drops what it showed of the old one. */
  _followStream(epoch, reset) {
    const restarted = this.merger.follow(epoch, reset);
    if (restarted) this._emit("reset", { epoch, resets: this.merger.resets });
    return restarted;
  }

  _fatal(error) {
    if (this._done) return;
    this._finish("closed");
    this._emit("error", error);
  }

  _finish(transport) {
    this._done = true;
    for (const name of Object.keys(this._timers)) this._clear(name);
    this._closeSocket(1000, "done");
    if (this._offOnline) { this._offOnline(); this._offOnline = null; }
    this._setTransport(transport);
  }

  // --- timers: one per name, so a path never has two pending retries ---

  _timer(name, ms, fn) {
    this._clear(name);
    this._timers[name] = this.adapter.setTimeout(() => { delete this._timers[name]; fn(); }, ms);
  }

  _clear(name) {
    if (name in this._timers) {
      this.adapter.clearTimeout(this._timers[name]);
      delete this._timers[name];
    }
  }

  _online() {
    if (this._done) return;
    if ("reconnect" in this._timers) { this._clear("reconnect"); this._openSocket(); }
    if ("probe" in this._timers) { this._clear("probe"); this._openSocket(); }
    if ("poll" in this._timers) { this._clear("poll"); this._poll(); }
  }

  // --- the socket ---

  _wsUrl() {
    const base = this.baseUrl.replace(/^http/, "ws");
    return `${base}/ws?token=${encodeURIComponent(this.token)}`;
  }

  /** Open a socket. Beside polling it is a probe: polling stops only once it is answered. */
  _openSocket() {
    this._closeSocket(1000, "replaced");
    const id = ++this._socketIds;
    const current = () => this._socket && this._socket.id === id;
    const state = { id, subscribed: false, conn: null };
    this._socket = state;
    try {
      state.conn = this.adapter.openSocket(this._wsUrl(), {
        open: () => { if (current()) this._socketOpen(state); },
        message: (text) => { if (current()) this._socketFrame(state, text); },
        error: () => {}, // a close always follows
        close: (code) => { if (current()) this._socketLost(state, code); },
      });
    } catch {
      this._socketLost(state, 1006);
      return;
    }
    this._timer("silence", this.options.pingIntervalMs + this.options.pongTimeoutMs,
      () => { if (current()) this._socketLost(state, "silent"); });
  }

  _socketOpen(state) {
    const frame = { type: "subscribe", execution_id: this.executionId, last_seq: this.merger.lastSeq };
    if (this.merger.epoch !== null) frame.epoch = this.merger.epoch; // so a lost stream is announced
    this._send(state, frame);
  }

  _send(state, frame) {
    try { state.conn.send(JSON.stringify(frame)); } catch { /* the close callback reports it */ }
  }

  /** Any frame proves the socket alive: rearm the ping and the dead-socket deadline. */
  _alive(state) {
    const { pingIntervalMs, pongTimeoutMs } = this.options;
    this._timer("ping", pingIntervalMs, () => this._send(state, { type: "ping" }));
    this._timer("silence", pingIntervalMs + pongTimeoutMs, () => this._socketLost(state, "silent"));
  }

  _socketFrame(state, text) {
    this._alive(state);
    const frame = parseObject(text);
    if (!frame) return;
    if (frame.type === "subscribed" && frame.execution_id === this.executionId) {
      this._followStream(frame.epoch, frame.reset === true);
      state.subscribed = true;
      this._attempt = 0;
      this._renewedAfterExpiry = false;
      this._clear("poll");
      this._clear("probe");
      this._setTransport("live");
    } else if (frame.type === "diagnosis_update" && frame.execution_id === this.executionId) {
      this._apply([frame]);
    } else if (frame.type === "refreshed" && state.refreshing) {
      state.refreshing = false;
      this.refreshes += 1;
      this._refreshFailures = 0;
      this._scheduleRefresh(typeof frame.exp === "number" ? frame.exp : tokenExpiry(this.token));
    } else if (frame.type === "error" && state.refreshing && frame.execution_id === undefined) {
      state.refreshing = false; // the new token was refused; the old one holds until its exp
      this._retryRefresh();
    } else if (frame.type === "error") {
      if (FATAL_FRAME_CODES.has(frame.code)) {
        this._fatal(new DiagnosisError(frame.message || frame.code, { code: frame.code }));
      } else {
        this._socketLost(state, "refused"); // e.g. `unavailable`: try again later
      }
    }
  }

  _closeSocket(code, reason) {
    const state = this._socket;
    this._socket = null;
    this._clear("ping");
    this._clear("silence");
    if (state && state.conn) {
      try { state.conn.close(code, reason); } catch { /* already closed */ }
    }
  }

  /** A socket ended (closed, never opened, or silent). Decide: reconnect, or poll and probe. */
  _socketLost(state, code) {
    const wasLive = state.subscribed;
    this._closeSocket(1000, "lost");
    if (this._done) return;
    if (code === AUTH_CLOSE) {
      this._tokenExpired();
      return;
    }
    const delay = backoffDelay(this._attempt++, { ...this.options, random: this.adapter.random });
    if (wasLive) {
      this._drops += 1;
      this.reconnects += 1;
    }
    const socketWorks = wasLive && this._drops < this.options.maxDrops;
    if (socketWorks) {
      this._setTransport("connecting");
      this._timer("reconnect", delay, () => this._openSocket());
      return;
    }
    // Never opened, silent, or dropping again and again: poll now, probe the socket later.
    if (this.transport !== "polling") {
      this._setTransport("polling");
      this._poll();
    }
    this._timer("probe", delay, () => this._openSocket());
  }

  // --- the token: replaced before it expires, so a long watch is not cut at its exp ---

  /** Arm the refresh for a token expiring at `exp` (seconds): `refreshMarginMs` before it, or at
   * half its remaining life when that is shorter. Nothing without a `refreshToken` or an `exp`. */
  _scheduleRefresh(exp) {
    this._clear("refresh");
    if (!this.refreshToken || exp === null || this._done) return;
    const left = exp * 1000 - this._now();
    const wait = Math.max(0, left - Math.min(this.options.refreshMarginMs, left / 2));
    this._timer("refresh", wait, () => this._refresh());
  }

  async _refresh() {
    const token = await this._newToken();
    if (this._done) return;
    if (token === null) { this._retryRefresh(); return; }
    this.token = token; // every later socket and request uses it
    // Armed for the new token now: `refreshed` re-arms it with the service's exp, and a socket
    // lost before that answer must not leave the client without a next refresh.
    this._scheduleRefresh(tokenExpiry(token));
    const state = this._socket;
    if (state && state.subscribed) {
      state.refreshing = true;
      this._send(state, { type: "refresh", token });
    }
  }

  _retryRefresh() {
    const delay = backoffDelay(this._refreshFailures++, { ...this.options, random: this.adapter.random });
    this._timer("refresh", delay, () => this._refresh());
  }

  /** Closed 4001: the token expired (or lost its scope). With a `refreshToken`, one new token and
   * a reconnect from the last seq; a second 4001 before a socket subscribed with it is final. */
  async _tokenExpired() {
    const refused = new DiagnosisError("the token was refused", { code: "unauthorized" });
    if (!this.refreshToken || this._renewedAfterExpiry) { this._fatal(refused); return; }
    this._renewedAfterExpiry = true;
    this._setTransport("connecting");
    const token = await this._newToken();
    if (this._done) return;
    if (token === null) { this._fatal(refused); return; }
    this.token = token;
    this.reconnects += 1;
    this._scheduleRefresh(tokenExpiry(token));
    this._openSocket();
  }

  /** The provider's next token, or null when it failed or gave something that is not a token. */
  async _newToken() {
    try {
      const token = await this.refreshToken();
      return typeof token === "string" && token ? token : null;
    } catch {
      return null;
    }
  }

  _now() {
    return typeof this.adapter.now === "function" ? this.adapter.now() : Date.now();
  }

  // --- polling ---

  async _poll() {
    if (this._done) return;
    let wait = this.options.pollIntervalMs;
    try {
      const resp = await this._http("GET", `/api/v1/executions/${encodeURIComponent(this.executionId)}`);
      const body = parseObject(resp.text);
      if (resp.status === 200 && body) {
        this._pollFailures = 0;
        const restarted = this._followStream(body.epoch, false);
        if (Number.isInteger(body.seq) && (restarted || body.seq > this.merger.lastSeq)) await this._fetchEvents();
      } else {
        wait = this._pollRefused(resp, body);
      }
    } catch {
      wait = backoffDelay(this._pollFailures++, { ...this.options, random: this.adapter.random });
    }
    if (!this._done && this.transport === "polling" && wait !== null) this._timer("poll", wait, () => this._poll());
  }

  /** A refused poll: wait as the service says, back off on a 5xx, stop on anything else. */
  _pollRefused(resp, body) {
    const hinted = this._retryWait(resp, body, 1);
    if (hinted !== null) return hinted;
    if (resp.status >= 500) return backoffDelay(this._pollFailures++, { ...this.options, random: this.adapter.random });
    this._fatal(this._httpError(resp, body));
    return null;
  }

  async _fetchEvents() {
    if (this._fetching || this._done) return;
    this._fetching = true;
    try {
      const after = this.merger.lastSeq;
      const resp = await this._http("GET",
        `/api/v1/executions/${encodeURIComponent(this.executionId)}/events?after=${after}`);
      let list = null;
      try { list = JSON.parse(resp.text); } catch { list = null; }
      if (resp.status === 200 && Array.isArray(list)) this._apply(list);
    } catch {
      // the next poll or socket frame tries again
    } finally {
      this._fetching = false;
    }
  }

  // --- HTTP ---

  _http(method, path, body) {
    const headers = { Authorization: `Bearer ${this.token}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    return this.adapter.request({ method, url: this.baseUrl + path, headers, body });
  }

  _httpError(resp, body) {
    const error = (body && body.error) || {};
    const message = typeof error.message === "string" ? error.message : `HTTP ${resp.status}`;
    const retryable = error.retryable === true || resp.status === 429 || resp.status === 503;
    return new DiagnosisError(message, { code: error.code || "http_error", retryable, status: resp.status });
  }

  /** How long to wait before trying a refused request again, or null when waiting will not help:
   * `overloaded` or any `retryable: true` error, or a 429/503, waits its Retry-After plus jitter. */
  _retryWait(resp, body, attempt) {
    const error = (body && body.error) || {};
    const waitable = error.code === "overloaded" || error.retryable === true || resp.status === 429 || resp.status === 503;
    if (!waitable) return null;
    const hinted = retryAfterDelay(resp.header("Retry-After"), { ...this.options, random: this.adapter.random });
    return hinted !== null ? hinted : backoffDelay(attempt - 1, { ...this.options, random: this.adapter.random });
  }
}
