// A virtual clock, scripted sockets and HTTP answers behind the client's adapter interface, so
// the client's decisions (delays, fallbacks, merges) are tested in milliseconds of real time.

export class FakeClock {
  constructor() { this.now = 0; this.timers = new Map(); this.ids = 0; }
  setTimeout(fn, ms) { const id = ++this.ids; this.timers.set(id, { at: this.now + Math.max(0, ms), fn }); return id; }
  clearTimeout(id) { this.timers.delete(id); }
  /** Run every timer due within `ms`, in time order, then let promises settle. */
  async advance(ms) {
    const end = this.now + ms;
    for (;;) {
      await settle();
      let next = null;
      for (const [id, t] of this.timers) if (t.at <= end && (!next || t.at < next[1].at)) next = [id, t];
      if (!next) break;
      this.timers.delete(next[0]);
      this.now = next[1].at;
      next[1].fn();
    }
    this.now = end;
    await settle();
  }
}

export async function settle() {
  for (let i = 0; i < 20; i += 1) await Promise.resolve();
  await new Promise((resolve) => setImmediate(resolve));
}

/** A fake server behind the adapter: `socketMode` decides what each new socket does. */
export class FakeAdapter {
  constructor({ socketMode = "works", events = [], random = () => 0.5 } = {}) {
    this.clock = new FakeClock();
    this.socketMode = socketMode; // "works" | "fails" | "silent"
    this.events = events; // the execution's stored events (diagnosis_update objects)
    this.sockets = [];
    this.requests = [];
    this.onlineHandlers = [];
    this.random = random;
    this.answer = null; // optional (req) => {status, headers, body} overriding the default
    this.epoch = "ep-1"; // the stored stream's name, as the service gives it
    this.refreshFrames = []; // tokens sent in `refresh` frames, in order
    this.refuseRefresh = false; // answer `refresh` with an error, as for a bad token
  }

  /** The socket's token expired: the service closes it 4001, as it does at the token's exp. */
  expireSockets() {
    for (const s of this.sockets) if (!s.closed) { s.closed = true; s.on.close(4001, "token expired"); }
  }

  /** The service lost the stream and it starts over (a Redis that restarted empty): a new epoch,
   * no events, and every subscribed socket told so, as the service's hub does. */
  restartStream() {
    this.epoch = `ep-${Number(this.epoch.slice(3)) + 1}`;
    this.events = [];
    for (const s of this.sockets) {
      if (s.closed || this.socketMode !== "works") continue;
      s.on.message(JSON.stringify({ type: "subscribed", execution_id: "e-1", seq: 0, epoch: this.epoch, reset: true }));
    }
  }

  openSocket(url, on) {
    const socket = { url, on, sent: [], closed: false, openedAt: this.clock.now };
    this.sockets.push(socket);
    const mode = this.socketMode;
    this.clock.setTimeout(() => {
      if (mode === "fails") { on.error(); on.close(1006, ""); return; }
      on.open();
    }, 1);
    return {
      send: (text) => {
        socket.sent.push(JSON.parse(text));
        if (mode !== "works" || socket.mute) return;
        const frame = JSON.parse(text);
        if (frame.type === "subscribe") {
          this.clock.setTimeout(() => {
            const reset = frame.epoch !== undefined && frame.epoch !== this.epoch;
            const subscribed = { type: "subscribed", execution_id: frame.execution_id, seq: this.events.length, epoch: this.epoch };
            on.message(JSON.stringify(reset ? { ...subscribed, reset: true } : subscribed));
            for (const e of this.events.filter((e) => reset || e.seq > frame.last_seq)) on.message(JSON.stringify(e));
          }, 1);
        } else if (frame.type === "refresh") {
          this.refreshFrames.push(frame.token);
          this.clock.setTimeout(() => {
            const exp = this.refuseRefresh ? null : expOf(frame.token);
            on.message(JSON.stringify(exp === null
              ? { type: "error", code: "invalid_field", message: "'token' was refused" }
              : { type: "refreshed", exp }));
          }, 1);
        } else if (frame.type === "ping") {
          this.clock.setTimeout(() => on.message(JSON.stringify({ type: "pong" })), 1);
        }
      },
      close: () => { socket.closed = true; },
    };
  }

  /** Push a live event to every open working socket (as the service would). */
  push(event) {
    this.events.push(event);
    for (const s of this.sockets) if (!s.closed && this.socketMode === "works") s.on.message(JSON.stringify(event));
  }

  async request(req) {
    this.requests.push({ ...req, at: this.clock.now });
    const custom = this.answer && this.answer(req);
    const { status, headers = {}, body } = custom || this.defaultAnswer(req);
    return { status, header: (name) => headers[name] ?? null, text: typeof body === "string" ? body : JSON.stringify(body) };
  }

  defaultAnswer(req) {
    const after = /events\?after=(\d+)/.exec(req.url);
    if (after) return { status: 200, body: this.events.filter((e) => e.seq > Number(after[1])) };
    if (/\/api\/v1\/executions\/[^/]+$/.test(req.url)) {
      return { status: 200, body: { execution_id: "e-1", status: "processing", seq: this.events.length, epoch: this.epoch } };
    }
    if (req.method === "POST") return { status: 202, body: { execution_id: "e-1", cached: false } };
    return { status: 404, body: { error: { code: "not_found", message: "no" } } };
  }

  now() { return this.clock.now; }
  setTimeout(fn, ms) { return this.clock.setTimeout(fn, ms); }
  clearTimeout(id) { this.clock.clearTimeout(id); }
  onOnline(fn) { this.onlineHandlers.push(fn); return () => { this.onlineHandlers = this.onlineHandlers.filter((f) => f !== fn); }; }
  goOnline() { for (const fn of this.onlineHandlers) fn(); }
}

export function update(seq, event = "progress", data = {}) {
  return { type: "diagnosis_update", execution_id: "e-1", seq, timestamp: "2026-01-01T00:00:00.000Z", event,
    data: { progress: Math.min(100, seq * 10), stage: "ai_fetching", status: "processing", status_text: `s${seq}`, ...data } };
}

/** A JWT-shaped token (unsigned: the fake service reads only its `exp`, in seconds of the fake clock). */
export function jwt(exp, sub = "alice") {
  const part = (obj) => Buffer.from(JSON.stringify(obj)).toString("base64url");
  return `${part({ alg: "HS256", typ: "JWT" })}.${part({ sub, exp })}.sig`;
}

function expOf(token) {
  try { return JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString()).exp ?? null; } catch { return null; }
}
