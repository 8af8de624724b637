'use strict';
/*
 * Test peer: a local CHZZK Open API (session auth, event subscriptions, token refresh) plus a
 * real Socket.IO 2.x server (Engine.IO v3, the protocol CHZZK's session servers speak), on one
 * port on 127.0.0.1.
 *
 *   node chzzk_socketio_server.js [port]      -> prints "listening <port>" on stdout
 *   env PING_INTERVAL_MS / PING_TIMEOUT_MS     -> Engine.IO heartbeat (defaults 25000 / 5000)
 *
 * CHZZK-like endpoints (every JSON answer wrapped {"code","message","content"}):
 *   GET  /open/v1/sessions/auth                         Bearer = current access token, else 401
 *        -> content.url = http://127.0.0.1:<port>/?auth=<one-time id>
 *   POST /open/v1/sessions/events/{subscribe,unsubscribe}/{chat,donation,subscription}?sessionKey=
 *   POST /auth/v1/token  grantType=refresh_token (single-use refresh tokens, new pair each time)
 * Socket.IO: a handshake whose `auth` is unknown or already used is refused (HTTP 403, counted);
 *   on connection the server emits SYSTEM '{"type":"connected","data":{"sessionKey":...}}' (a
 *   JSON string, as CHZZK does); a subscription emits SYSTEM subscribed.
 * Test control:
 *   POST /test/tokens {access, refresh, clientId?, clientSecret?, channelId?}
 *   POST /test/expire-token            the current access token stops working (refresh still ok)
 *   POST /test/emit {event, payload (string|object), count?, stamp?}
 *        CHAT/DONATION/SUBSCRIPTION go to sockets subscribed to that type, anything else to all;
 *        count=N emits N CHATs built from payload with content "msg-<i>" (i = 0..N-1), in order;
 *        stamp=true appends " @<wall-clock ms at emit>" to each content (latency benchmarks)
 *   POST /test/drop                    disconnect every socket server-side
 *   POST /test/fail-sessions {status, count}   the next session requests answer `status`
 *   POST /test/state                   counters
 *   POST /test/reset                   drop every socket, forget sessions, zero the counters
 */

const http = require('http');
const crypto = require('crypto');
const socketio = require('socket.io');
const { performance } = require('perf_hooks');

const rand = (n = 12) => crypto.randomBytes(n).toString('hex');

const state = {
  access: null,
  refresh: null,
  clientId: null,
  clientSecret: null,
  channelId: 'channel-123',
  sessionFailures: [],
};
const sessions = new Map(); // auth id -> { used: bool }
const sockets = new Map(); // sessionKey -> socket
const counters = {
  sessionRequests: 0,
  unauthorizedSessionRequests: 0,
  sessionsIssued: 0,
  connects: 0,
  refusedConnects: 0,
  subscriptions: 0,
  unsubscriptions: 0,
  refreshes: 0,
  rejectedRefreshes: 0,
  emitted: 0,
  drops: 0,
};

function send(res, status, doc) {
  const body = Buffer.from(JSON.stringify(doc));
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': body.length });
  res.end(body);
}
const wrap = (res, content, code = 200, message = null) => send(res, code, { code, message, content });

function readJson(req) {
  return new Promise((resolve) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      if (!raw) return resolve({});
      try { resolve(JSON.parse(raw)); } catch (e) { resolve(null); }
    });
  });
}

function bearer(req) {
  const h = req.headers.authorization || '';
  return h.startsWith('Bearer ') ? h.slice(7).trim() : null;
}
const authorized = (req) => state.access !== null && bearer(req) === state.access;

let port = 0;
const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  const path = url.pathname;
  try {
    if (req.method === 'GET' && path === '/open/v1/sessions/auth') {
      counters.sessionRequests += 1;
      if (!authorized(req)) {
        counters.unauthorizedSessionRequests += 1;
        return send(res, 401, { code: 401, message: 'INVALID_TOKEN' });
      }
      if (state.sessionFailures.length) {
        const status = state.sessionFailures.shift();
        return send(res, status, { code: status, message: 'FAILURE' });
      }
      const id = rand();
      sessions.set(id, { used: false });
      counters.sessionsIssued += 1;
      return wrap(res, { url: `http://127.0.0.1:${port}/?auth=${id}` });
    }
    const sub = path.match(/^\/open\/v1\/sessions\/events\/(subscribe|unsubscribe)\/(chat|donation|subscription)$/);
    if (req.method === 'POST' && sub) {
      await readJson(req);
      if (!authorized(req)) return send(res, 401, { code: 401, message: 'INVALID_TOKEN' });
      const socket = sockets.get(url.searchParams.get('sessionKey'));
      if (!socket) return wrap(res, null, 400, 'INVALID_SESSION_KEY');
      const eventType = sub[2].toUpperCase();
      if (sub[1] === 'subscribe') {
        socket.chzzkSubscribed.add(eventType);
        counters.subscriptions += 1;
      } else {
        socket.chzzkSubscribed.delete(eventType);
        counters.unsubscriptions += 1;
      }
      wrap(res, null);
      socket.emit('SYSTEM', JSON.stringify({
        type: sub[1] === 'subscribe' ? 'subscribed' : 'unsubscribed',
        data: { eventType, channelId: state.channelId },
      }));
      return undefined;
    }
    if (req.method === 'POST' && path === '/auth/v1/token') {
      const body = await readJson(req);
      if (!body || body.grantType !== 'refresh_token') return wrap(res, null, 400, 'UNSUPPORTED_GRANT_TYPE');
      if ((state.clientId !== null && body.clientId !== state.clientId) ||
          (state.clientSecret !== null && body.clientSecret !== state.clientSecret)) {
        return wrap(res, null, 401, 'INVALID_CLIENT');
      }
      if (state.refresh === null || body.refreshToken !== state.refresh) {
        counters.rejectedRefreshes += 1;
        return wrap(res, null, 401, 'INVALID_TOKEN');
      }
      counters.refreshes += 1;
      state.access = 'at-' + rand();
      state.refresh = 'rt-' + rand(); // single use: the old one is gone
      return wrap(res, { accessToken: state.access, refreshToken: state.refresh, tokenType: 'Bearer', expiresIn: '86400' });
    }
    if (req.method === 'POST' && path.startsWith('/test/')) {
      const body = (await readJson(req)) || {};
      switch (path) {
        case '/test/tokens':
          state.access = body.access ?? null;
          state.refresh = body.refresh ?? null;
          if ('clientId' in body) state.clientId = body.clientId;
          if ('clientSecret' in body) state.clientSecret = body.clientSecret;
          if (body.channelId) state.channelId = body.channelId;
          return send(res, 200, { ok: true });
        case '/test/expire-token':
          state.access = 'expired-' + rand(); // nobody holds this one
          return send(res, 200, { ok: true });
        case '/test/fail-sessions':
          for (let i = 0; i < (body.count || 1); i += 1) state.sessionFailures.push(body.status || 500);
          return send(res, 200, { ok: true });
        case '/test/emit': {
          const event = body.event;
          const targets = [...sockets.values()].filter((s) =>
            !['CHAT', 'DONATION', 'SUBSCRIPTION'].includes(event) || s.chzzkSubscribed.has(event));
          if (body.count) {
            const base = typeof body.payload === 'string' ? JSON.parse(body.payload) : (body.payload || {});
            for (let i = 0; i < body.count; i += 1) {
              // stamp: append the wall-clock emit time in ms (for latency benchmarks)
              const content = body.stamp ? `msg-${i} @${performance.timeOrigin + performance.now()}` : `msg-${i}`;
              const text = JSON.stringify({ ...base, content });
              for (const s of targets) s.emit(event, text);
            }
            counters.emitted += body.count;
          } else {
            const payload = typeof body.payload === 'string' ? body.payload : JSON.stringify(body.payload);
            for (const s of targets) s.emit(event, payload);
            counters.emitted += 1;
          }
          return send(res, 200, { ok: true, delivered: targets.length });
        }
        case '/test/drop': {
          const n = sockets.size;
          for (const s of [...sockets.values()]) s.disconnect(true);
          counters.drops += n;
          return send(res, 200, { ok: true, dropped: n });
        }
        case '/test/reset': {
          for (const s of [...sockets.values()]) s.disconnect(true);
          sessions.clear();
          state.sessionFailures = [];
          for (const k of Object.keys(counters)) counters[k] = 0;
          return send(res, 200, { ok: true });
        }
        case '/test/state':
          return send(res, 200, { ...counters, connected: sockets.size, subscribed: [...sockets.values()].map((s) => [...s.chzzkSubscribed].sort()) });
        default:
          return send(res, 404, { code: 404, message: 'NOT_FOUND' });
      }
    }
    return send(res, 404, { code: 404, message: 'NOT_FOUND' });
  } catch (err) {
    return send(res, 500, { code: 500, message: String(err && err.message) });
  }
});

const io = socketio(server, {
  serveClient: false,
  pingInterval: Number(process.env.PING_INTERVAL_MS || 25000),
  pingTimeout: Number(process.env.PING_TIMEOUT_MS || 5000),
  // Runs for every new Engine.IO handshake (not for requests of an existing session): the
  // session auth id is single use.
  allowRequest: (req, callback) => {
    const auth = new URL(req.url, 'http://127.0.0.1').searchParams.get('auth');
    const session = auth ? sessions.get(auth) : undefined;
    if (!session || session.used) {
      counters.refusedConnects += 1;
      return callback(3, false); // engine.io error code 3: BAD_REQUEST -> HTTP 400 / socket closed
    }
    session.used = true;
    return callback(null, true);
  },
});

io.on('connection', (socket) => {
  counters.connects += 1;
  const sessionKey = 'sk-' + rand();
  socket.chzzkSubscribed = new Set();
  sockets.set(sessionKey, socket);
  socket.on('disconnect', () => sockets.delete(sessionKey));
  socket.emit('SYSTEM', JSON.stringify({ type: 'connected', data: { sessionKey } }));
});

server.listen(Number(process.argv[2] || 0), '127.0.0.1', () => {
  port = server.address().port;
  process.stdout.write(`listening ${port}\n`);
});

const stop = () => { io.close(); server.close(); process.exit(0); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// The test runner closing our stdin means it is gone: do not outlive it.
process.stdin.on('end', stop);
process.stdin.resume();
