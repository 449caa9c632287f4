// The diagnosis scenario of loadtests/diagnosis.py, written for Artillery (processor functions).
//
// One long-lived socket per virtual user; a weighted loop of tasks until END_AT:
// start a diagnosis over HTTP, subscribe, receive to the final event (delivery
// latency = receive time minus the event's timestamp; `replay` for events stored
// before the subscription), the same with a cached request, an application ping;
// uniform think time between tasks. Seq gaps, duplicates and missing final
// events are counted. A socket-pair style probe measures the event loop's
// dispatch lag, as the Locust version does. Reconnection is left out: the
// benchmark compares cost per socket, not resilience.
'use strict';

const net = require('net');
const { performance } = require('perf_hooks');
const WebSocket = require('ws');

const WEIGHTS = [['diagnose', 4], ['cached', 1], ['ping', 1]];
const CACHED_BRANDS = ['diagops-loadtest-cached-a', 'diagops-loadtest-cached-b', 'diagops-loadtest-cached-c'];
const FINAL_TIMEOUT_MS = 30000;

const nowMs = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const uniform = (lo, hi) => lo + Math.random() * (hi - lo);

let probeStarted = false;
function startLagProbe(events) {
  // A byte written on a loopback TCP pair wakes its 'data' handler through the same
  // dispatch as an incoming WebSocket frame: the wait is what the generator adds.
  if (probeStarted) return;
  probeStarted = true;
  let sent = 0;
  const server = net.createServer((sock) => {
    sock.setNoDelay(true);
    sock.unref();
    sock.on('data', () => events.emit('histogram', 'diagops.dispatch_lag', nowMs() - sent));
  });
  server.listen(0, '127.0.0.1', () => {
    const client = net.connect(server.address().port, '127.0.0.1', () => {
      client.setNoDelay(true);
      setInterval(() => { sent = nowMs(); client.write('x'); }, 20).unref();
    });
    client.unref();
  });
  server.unref();
}

function pick() {
  const total = WEIGHTS.reduce((n, [, w]) => n + w, 0);
  let r = Math.random() * total;
  for (const [name, w] of WEIGHTS) { if ((r -= w) < 0) return name; }
  return WEIGHTS[0][0];
}

async function session(context, events) {
  const target = context.vars.target;
  const endAt = Number(context.vars.end_at_ms);
  const auth = { Authorization: `Bearer ${context.vars.token}` };
  startLagProbe(events);
  const wsUrl = target.replace(/^http/, 'ws') + '/ws';
  const started = nowMs();
  const ws = new WebSocket(wsUrl, { headers: auth, perMessageDeflate: false });
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  events.emit('histogram', 'diagops.connect', nowMs() - started);
  events.emit('counter', 'diagops.sockets_opened', 1);

  const streams = new Map();
  let pong = null;
  ws.on('message', (data) => {
    const received = nowMs();
    const m = JSON.parse(data);
    if (m.type === 'diagnosis_update') {
      const s = streams.get(m.execution_id);
      if (!s) { events.emit('counter', 'diagops.untracked', 1); return; }
      events.emit('counter', 'diagops.events_received', 1);
      if (m.seq <= s.last) { events.emit('counter', 'diagops.duplicate', 1); return; }
      if (m.seq !== s.last + 1) events.emit('counter', 'diagops.events_lost', m.seq - s.last - 1);
      s.last = m.seq;
      const kind = m.seq <= s.replayUntil ? 'replay' : m.event;
      events.emit('histogram', `diagops.${kind}`, received - Date.parse(m.timestamp));
      if (m.event === 'complete' || m.event === 'error') s.done(m.event, received);
    } else if (m.type === 'subscribed') {
      const s = streams.get(m.execution_id);
      if (s) s.replayUntil = Math.max(s.replayUntil, m.seq);
    } else if (m.type === 'pong' && pong) {
      pong(received);
    }
  });

  async function diagnose(brand) {
    const t0 = nowMs();
    const res = await fetch(target + '/api/v1/diagnoses', {
      method: 'POST',
      headers: { ...auth, 'Content-Type': 'application/json' },
      body: JSON.stringify({ brand, questions: [`How is ${brand} seen?`], lang: 'en' }),
    });
    events.emit('histogram', 'diagops.start', nowMs() - t0);
    if (res.status !== 202) { events.emit('counter', 'diagops.start_failed', 1); await res.text(); return; }
    const { execution_id: id } = await res.json();
    const final = await new Promise((resolve) => {
      const timer = setTimeout(() => resolve(null), FINAL_TIMEOUT_MS);
      streams.set(id, { last: 0, replayUntil: 0, done: (event, at) => { clearTimeout(timer); resolve({ event, at }); } });
      ws.send(JSON.stringify({ type: 'subscribe', execution_id: id, last_seq: 0 }));
    });
    streams.delete(id);
    ws.send(JSON.stringify({ type: 'unsubscribe', execution_id: id }));
    if (final === null) { events.emit('counter', 'diagops.timed_out', 1); return; }
    events.emit('histogram', 'diagops.diagnosis', final.at - t0);
    events.emit('counter', final.event === 'complete' ? 'diagops.completed' : 'diagops.errored', 1);
  }

  async function ping() {
    const t0 = nowMs();
    const got = new Promise((resolve) => { pong = resolve; setTimeout(() => resolve(null), 5000); });
    ws.send(JSON.stringify({ type: 'ping' }));
    const at = await got;
    pong = null;
    if (at === null) events.emit('counter', 'diagops.no_pong', 1);
    else events.emit('histogram', 'diagops.ping', at - t0);
  }

  while (nowMs() < endAt) {
    const task = pick();
    if (task === 'diagnose') await diagnose(`loadtest-${Math.random().toString(16).slice(2, 12)}`);
    else if (task === 'cached') await diagnose(CACHED_BRANDS[Math.floor(Math.random() * CACHED_BRANDS.length)]);
    else await ping();
    const left = endAt - nowMs();
    if (left <= 0) break;
    await sleep(Math.min(uniform(1000, 3000), left));
  }
  ws.close(1000);
}

module.exports = { session };
