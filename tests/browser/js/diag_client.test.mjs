// The client's logic without a browser: backoff, seq merge, fallback and return, never a tight loop.
import test from "node:test";
import assert from "node:assert/strict";

import { DiagnosisClient, SeqMerger, backoffDelay, retryAfterDelay, tokenExpiry } from "../../../push/static/diag-client.js";
import { FakeAdapter, jwt, update } from "./fakes.mjs";

const FAST = { pingIntervalMs: 1000, pongTimeoutMs: 500, pollIntervalMs: 1000 };

function client(adapter, options = {}) {
  const c = new DiagnosisClient({ baseUrl: "http://svc", token: "t", adapter, ...FAST, ...options });
  c.transports = [];
  c.on("transport", ({ transport }) => c.transports.push([transport, adapter.clock.now]));
  c.seen = []; // the seqs the UI was given, in order
  c.on("update", (u) => c.seen.push(u.seq));
  return c;
}

test("the first delay is 0.5 to 1 s, the range doubles, and nothing passes the 20 s cap", () => {
  assert.equal(backoffDelay(0, { random: () => 0 }), 500);
  assert.equal(backoffDelay(0, { random: () => 1 }), 1000);
  assert.equal(backoffDelay(1, { random: () => 1 }), 2000);
  assert.equal(backoffDelay(3, { random: () => 1 }), 8000);
  assert.equal(backoffDelay(9, { random: () => 1 }), 20000);
  for (let attempt = 0; attempt < 60; attempt += 1) {
    for (const r of [0, 0.3, 0.999, 1]) assert.ok(backoffDelay(attempt, { random: () => r }) <= 20000);
  }
});

test("at the cap the delays stay spread out, so clients that failed together do not return together", () => {
  const delays = Array.from({ length: 2000 }, () => backoffDelay(40));
  assert.ok(Math.min(...delays) < 3000, `min ${Math.min(...delays)}`);
  assert.ok(Math.max(...delays) > 17000, `max ${Math.max(...delays)}`);
  const atCap = delays.filter((d) => d === 20000).length;
  assert.ok(atCap < 20, `${atCap} of 2000 delays were exactly the cap`);
});

test("Retry-After is waited in full, plus jitter; a malformed one is ignored", () => {
  assert.equal(retryAfterDelay("3", { random: () => 0 }), 3000);
  assert.equal(retryAfterDelay("3", { random: () => 1 }), 3500);
  assert.equal(retryAfterDelay("soon"), null);
  assert.equal(retryAfterDelay(null), null);
  assert.equal(retryAfterDelay("-1"), null);
});

test("the seq merge drops duplicates and holds an early update until the gap is filled", () => {
  const m = new SeqMerger();
  assert.deepEqual(m.offer([update(1), update(2), update(2), update(1)]).map((u) => u.seq), [1, 2]);
  assert.deepEqual(m.offer([update(4)]).map((u) => u.seq), []);
  assert.equal(m.gap, 3);
  assert.deepEqual(m.offer([update(3), update(4), update(5)]).map((u) => u.seq), [3, 4, 5]);
  assert.equal(m.gap, null);
  assert.deepEqual(m.received, [1, 2, 3, 4, 5]);
  assert.equal(m.duplicates, 3);
  assert.deepEqual(m.offer([{ seq: "6" }, { seq: 0 }, null]), []);
});

test("a socket that cannot be opened falls back to polling at once and is retried with growing delays", async () => {
  const adapter = new FakeAdapter({ socketMode: "fails", events: [update(1)] });
  const c = client(adapter);
  c.watch("e-1");
  await adapter.clock.advance(120000);
  assert.equal(c.transport, "polling");
  assert.ok(c.transports[1][0] === "polling" && c.transports[1][1] < 100, JSON.stringify(c.transports));
  const opened = adapter.sockets.map((s) => s.openedAt);
  const gaps = opened.slice(1).map((t, i) => t - opened[i]);
  assert.ok(gaps.every((g) => g >= 500), `gaps ${gaps}`); // never a tight loop
  // random() = 0.5: 0.75, 1.25, 2.25, 4.25, 8.25 s, then 10.25 s at the cap
  assert.ok(opened.length <= 17, `${opened.length} socket attempts in 2 minutes`);
  assert.ok(gaps[0] < 1000 && gaps.at(-1) >= 10000, `gaps ${gaps}`);
  const polls = adapter.requests.filter((r) => r.method === "GET" && !r.url.includes("/events"));
  assert.ok(polls.length >= 100 && polls.length <= 121, `${polls.length} polls in 120 s`);
  assert.deepEqual(c.receivedSeqs, [1]);
  c.stop();
});

test("polling and the socket that takes over show each update once, in order", async () => {
  const adapter = new FakeAdapter({ socketMode: "fails", events: [update(1), update(2)] });
  const c = client(adapter);
  c.watch("e-1");
  await adapter.clock.advance(1500);
  assert.equal(c.transport, "polling");
  adapter.events.push(update(3));
  adapter.socketMode = "works"; // the next probe is answered and replays from last_seq
  await adapter.clock.advance(3000);
  assert.equal(c.transport, "live");
  const probe = adapter.sockets.at(-1).sent[0];
  assert.equal(probe.type, "subscribe");
  adapter.push(update(4));
  adapter.push(update(5, "complete", { report: { score: 1 } }));
  await adapter.clock.advance(10);
  assert.deepEqual(c.seen, [1, 2, 3, 4, 5]);
  assert.deepEqual(c.receivedSeqs, [1, 2, 3, 4, 5]);
  assert.equal(c.transport, "closed");
});

test("a socket that opens but stays silent falls back after the ping interval plus the pong timeout", async () => {
  const adapter = new FakeAdapter({ socketMode: "silent", events: [update(1)] });
  const c = client(adapter);
  c.watch("e-1");
  await adapter.clock.advance(5000);
  const polling = c.transports.find(([t]) => t === "polling");
  assert.ok(polling, JSON.stringify(c.transports));
  assert.ok(polling[1] >= 1500 && polling[1] <= 1600, `fell back at ${polling[1]} ms`);
  assert.deepEqual(c.receivedSeqs, [1]);
  c.stop();
});

test("a live socket that quiet sends a ping, and one that stops answering is declared dead", async () => {
  const adapter = new FakeAdapter({ events: [update(1)] });
  const c = client(adapter);
  c.watch("e-1");
  await adapter.clock.advance(1100);
  assert.equal(c.transport, "live");
  assert.ok(adapter.sockets[0].sent.some((f) => f.type === "ping"));
  adapter.sockets[0].mute = true; // the pong never comes, nor does anything else
  await adapter.clock.advance(3000);
  assert.ok(adapter.sockets[0].closed && adapter.sockets.length >= 2);
  c.stop();
});

test("a dropped socket is reopened after a delay with last_seq, and counted", async () => {
  const adapter = new FakeAdapter({ events: [update(1), update(2)] });
  const c = client(adapter);
  c.watch("e-1");
  await adapter.clock.advance(10);
  assert.equal(c.transport, "live");
  const dropAt = adapter.clock.now;
  adapter.sockets[0].closed = true;
  adapter.sockets[0].on.close(1001, "server shutting down");
  assert.equal(c.transport, "connecting");
  await adapter.clock.advance(1200);
  const again = adapter.sockets[1];
  assert.ok(again.openedAt - dropAt >= 500, `reopened after ${again.openedAt - dropAt} ms`);
  assert.deepEqual(again.sent[0], { type: "subscribe", execution_id: "e-1", last_seq: 2, epoch: "ep-1" });
  assert.equal(c.reconnects, 1);
  assert.equal(c.transport, "live");
  assert.deepEqual(c.receivedSeqs, [1, 2]);
  c.stop();
});

test("the online event reconnects at once instead of waiting out the delay", async () => {
  const adapter = new FakeAdapter({ events: [update(1)] });
  const c = client(adapter, { minDelayMs: 5000, maxDelayMs: 20000 });
  c.watch("e-1");
  await adapter.clock.advance(10);
  adapter.sockets[0].on.close(1006, "");
  await adapter.clock.advance(100);
  assert.equal(adapter.sockets.length, 1);
  adapter.goOnline();
  await adapter.clock.advance(10);
  assert.equal(adapter.sockets.length, 2);
  assert.equal(c.transport, "live");
  c.stop();
});

test("a start refused as overloaded waits its Retry-After plus jitter, then goes on", async () => {
  const adapter = new FakeAdapter({ events: [update(1)] });
  let refusals = 1;
  adapter.answer = (req) => (req.method === "POST" && refusals-- > 0
    ? { status: 503, headers: { "Retry-After": "2" }, body: { error: { code: "overloaded", message: "busy", retryable: true } } }
    : null);
  const c = client(adapter);
  const started = c.start({ brand: "Acme" });
  await adapter.clock.advance(1999);
  assert.equal(adapter.requests.filter((r) => r.method === "POST").length, 1);
  await adapter.clock.advance(600);
  assert.equal((await started).execution_id, "e-1");
  const posts = adapter.requests.filter((r) => r.method === "POST").map((r) => r.at);
  assert.ok(posts[1] - posts[0] >= 2000 && posts[1] - posts[0] <= 2500, `${posts}`);
  c.stop();
});

test("a refusal that waiting cannot fix is one error, not a retry loop", async () => {
  const adapter = new FakeAdapter();
  adapter.answer = () => ({ status: 401, body: { error: { code: "unauthorized", message: "bad token" } } });
  const c = client(adapter);
  const errors = [];
  c.on("error", (e) => errors.push(e));
  await assert.rejects(c.start({ brand: "Acme" }), /bad token/);
  await adapter.clock.advance(60000);
  assert.equal(adapter.requests.length, 1);
  assert.equal(errors.length, 1);
  assert.equal(errors[0].retryable, false);
});

test("a diagnosis error reaches the UI with its friendly message and retryable flag", async () => {
  const adapter = new FakeAdapter({ events: [update(1)] });
  const c = client(adapter);
  const errors = [];
  c.on("error", (e) => errors.push(e));
  c.watch("e-1");
  await adapter.clock.advance(10);
  adapter.push(update(2, "error", { error_type: "TIMEOUT", message: "Try again.", retryable: true }));
  assert.equal(errors.length, 1);
  assert.equal(errors[0].message, "Try again.");
  assert.equal(errors[0].retryable, true);
  assert.equal(errors[0].errorType, "TIMEOUT");
  assert.equal(c.transport, "closed");
});

test("a stream that starts over (a new epoch) is shown again from seq 1, live or after a reconnect", async () => {
  const adapter = new FakeAdapter({ events: [update(1), update(2), update(3)] });
  const c = client(adapter);
  const resets = [];
  c.on("reset", (r) => resets.push(r.epoch));
  c.watch("e-1");
  await adapter.clock.advance(10);
  assert.deepEqual(c.seen, [1, 2, 3]);
  adapter.restartStream(); // live: the subscribed socket is told
  adapter.push(update(1));
  adapter.push(update(2));
  await adapter.clock.advance(10);
  assert.deepEqual(c.seen, [1, 2, 3, 1, 2], "the new stream's first updates were dropped as already seen");
  assert.deepEqual(resets, ["ep-2"]);
  assert.deepEqual(c.receivedSeqs, [1, 2]);

  adapter.sockets[0].closed = true; // dropped, and the stream is lost again while it is away
  adapter.sockets[0].on.close(1006, "");
  adapter.restartStream();
  adapter.events.push(update(1));
  await adapter.clock.advance(1200);
  const resumed = adapter.sockets.at(-1).sent[0];
  assert.deepEqual(resumed, { type: "subscribe", execution_id: "e-1", last_seq: 2, epoch: "ep-2" });
  assert.deepEqual(c.seen, [1, 2, 3, 1, 2, 1]);
  assert.deepEqual(resets, ["ep-2", "ep-3"]);
  c.stop();
});

test("a poller that sees the epoch change reads the new stream from its start", async () => {
  const adapter = new FakeAdapter({ socketMode: "fails", events: [update(1), update(2)] });
  const c = client(adapter);
  c.watch("e-1");
  await adapter.clock.advance(1500);
  assert.equal(c.transport, "polling");
  assert.deepEqual(c.seen, [1, 2]);
  adapter.restartStream();
  adapter.events.push(update(1));
  await adapter.clock.advance(1500);
  assert.deepEqual(c.seen, [1, 2, 1]);
  c.stop();
});

test("a token's exp is read from its payload, whatever the user's name; anything else is no exp", () => {
  assert.equal(tokenExpiry(jwt(1767225600)), 1767225600);
  assert.equal(tokenExpiry(jwt(90, "张三")), 90);
  for (const bad of ["t", "", null, "a.!!!.c", `a.${Buffer.from("[1]").toString("base64url")}.c`,
    `a.${Buffer.from('{"exp":"soon"}').toString("base64url")}.c`]) assert.equal(tokenExpiry(bad), null, String(bad));
});

test("a live socket is given a new token before the old one expires, and again before that one does", async () => {
  const adapter = new FakeAdapter({ events: [update(1)] });
  const tokens = [jwt(600), jwt(1200)];
  const c = client(adapter, { token: jwt(120), refreshToken: async () => tokens.shift(), refreshMarginMs: 30000 });
  c.watch("e-1");
  await adapter.clock.advance(89000);
  assert.deepEqual(adapter.refreshFrames, [], "nothing before exp - margin");
  await adapter.clock.advance(2000); // 90 s: 120 s exp less the 30 s margin
  assert.deepEqual(adapter.refreshFrames, [jwt(600)]);
  assert.equal(c.refreshes, 1);
  await adapter.clock.advance(570000 - 91000 + 1000); // 570 s: 600 s exp less the margin
  assert.deepEqual(adapter.refreshFrames, [jwt(600), jwt(1200)]);
  assert.equal(adapter.sockets.length, 1, "the same socket throughout");
  assert.equal(c.token, jwt(1200), "later requests use the newest token");
  c.stop();
});

test("a refresh the service refuses is tried again with a delay, and the socket stays", async () => {
  const adapter = new FakeAdapter({ events: [update(1)] });
  adapter.refuseRefresh = true;
  let asked = 0;
  const c = client(adapter, { token: jwt(100), refreshToken: async () => { asked += 1; return jwt(1000); } });
  c.watch("e-1");
  await adapter.clock.advance(50100); // half of the token's life: the margin (60 s) is longer
  assert.equal(adapter.refreshFrames.length, 1);
  assert.equal(c.transport, "live");
  adapter.refuseRefresh = false;
  await adapter.clock.advance(1200); // the retry comes 0.5-1 s later
  assert.equal(asked, 2);
  assert.equal(c.refreshes, 1);
  assert.equal(c.transport, "live");
  c.stop();
});

test("a token that expired anyway (close 4001) is replaced once and the watch resumes from its last seq", async () => {
  const adapter = new FakeAdapter({ events: [update(1), update(2)] });
  const c = client(adapter, { token: jwt(10000), refreshToken: async () => jwt(20000) });
  const errors = [];
  c.on("error", (e) => errors.push(e.code));
  c.watch("e-1");
  await adapter.clock.advance(10);
  adapter.expireSockets();
  await adapter.clock.advance(10);
  assert.deepEqual(errors, []);
  assert.equal(adapter.sockets.length, 2);
  assert.ok(adapter.sockets[1].url.includes(encodeURIComponent(jwt(20000))), adapter.sockets[1].url);
  assert.deepEqual(adapter.sockets[1].sent[0], { type: "subscribe", execution_id: "e-1", last_seq: 2, epoch: "ep-1" });
  assert.equal(c.transport, "live");
  c.stop();
});

test("without a way to get a new token, or when the new one is refused too, 4001 is one error", async () => {
  for (const refreshToken of [null, async () => jwt(20000)]) {
    const adapter = new FakeAdapter({ events: [update(1)] });
    const c = client(adapter, { refreshToken });
    const errors = [];
    c.on("error", (e) => errors.push(e.code));
    c.watch("e-1");
    await adapter.clock.advance(10);
    adapter.socketMode = "silent"; // a socket opened from now on is never subscribed
    adapter.expireSockets();
    await adapter.clock.advance(10);
    if (refreshToken) { // the new token's socket is closed 4001 before it subscribes
      assert.deepEqual(errors, []);
      assert.equal(adapter.sockets.length, 2);
      adapter.expireSockets();
      await adapter.clock.advance(10);
    }
    assert.deepEqual(errors, ["unauthorized"]);
    assert.equal(c.transport, "closed");
    const opened = adapter.sockets.length;
    await adapter.clock.advance(60000);
    assert.equal(adapter.sockets.length, opened, "no reconnect loop after the error");
  }
});
