// The /avatar page: config from GET /api/avatar, frames from WS /ws/params, one
// requestAnimationFrame loop driving the renderer of the current mode (png here, vrm in
// avatar-vrm.js). It follows a daemon restart by itself (the socket reconnects, the config is
// polled) and swaps to a new set or model when the config's `version` changes, without a reload.
import { createPngAvatar } from './avatar-png.js';

const CONFIG_POLL_MS = 2000;    // a new upload or setting shows within ~2 s
const WS_RETRY_MIN_MS = 250;    // reconnect fast after a daemon restart ...
const WS_RETRY_MAX_MS = 4000;   // ... but never hammer a daemon that is down
const FRAME_STALE_MS = 500;     // no frame for this long (daemon gone): mouth shut, eyes open
const MAX_DT_S = 0.1;           // a hidden tab's long gap must not make motion jump

const options = new URLSearchParams(location.search);
const debug = options.get('debug') === '1';
const align = options.get('align') === 'bottom' ? 'bottom' : 'center';  // ?align=bottom: a bust on the edge
// VRM camera, adjustable per OBS source: ?distance=1.3&height=1.45&fov=25 (metres, metres, degrees);
// anything left out (or not a number in range) is fitted to the model.
const camera = {};
for (const [key, low, high] of [['distance', 0.2, 20], ['height', -5, 10], ['fov', 5, 120]]) {
  const value = Number.parseFloat(options.get(key) ?? '');
  if (Number.isFinite(value) && value >= low && value <= high) camera[key] = value;
}
const stage = document.getElementById('stage');
const placeholder = document.getElementById('placeholder');
const debugBox = document.getElementById('debug');

// For tests and benchmarks: `frames` counts rendered frames, `changedAt` is the
// performance.now() at which the shown image last changed (set by the renderer).
const state = window.__avatarDebug = {
  shown: '', frames: 0, mode: '', version: '', changedAt: 0, fps: 0,
  socket: 'connecting', framesIn: 0, lastFrameAt: 0, error: null,
};

const IDLE_FRAME = Object.freeze({
  t: 0, emotion: 'neutral', speaking: false,
  pose: Object.freeze({ mouth: 0, eyes: 1, yaw: 0, pitch: 0, roll: 0, x: 0, y: 0, smile: 0 }),
});
let latestFrame = null;
let current = null;        // {renderer, layer, version}
let building = null;       // the version being built (a slow VRM must not be built twice)

// --- placeholder (never a blank page) --------------------------------------------------------
function showPlaceholder(text, hint = '') {
  placeholder.querySelector('.text').textContent = text;
  placeholder.querySelector('.hint').textContent = hint || '';
  placeholder.hidden = false;
}

function hidePlaceholder() {
  placeholder.hidden = true;
}

// --- frames ---------------------------------------------------------------------------------
function socketUrl() {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws/params?avatar=1`;
}

let retryMs = WS_RETRY_MIN_MS;
function connect() {
  let socket;
  try {
    socket = new WebSocket(socketUrl());
  } catch (err) {
    setTimeout(connect, retryMs);
    return;
  }
  state.socket = 'connecting';
  socket.onopen = () => {
    state.socket = 'open';
    retryMs = WS_RETRY_MIN_MS;
  };
  socket.onmessage = (event) => {
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch (err) {
      return;  // one bad frame is skipped, the next one comes in ~20 ms
    }
    if (frame && typeof frame === 'object') {
      latestFrame = frame;
      state.framesIn += 1;
      state.lastFrameAt = performance.now();
    }
  };
  socket.onclose = () => {
    state.socket = 'closed';
    setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, WS_RETRY_MAX_MS);
  };
  socket.onerror = () => {};  // onclose follows and schedules the retry
}

// The frame the renderer draws: the latest one, or a resting pose when frames stopped (so a
// daemon that died mid-sentence does not leave the mouth hanging open).
function frameNow(now) {
  if (!latestFrame || now - state.lastFrameAt > FRAME_STALE_MS) return IDLE_FRAME;
  return latestFrame;
}

// --- config and renderers -------------------------------------------------------------------
async function fetchConfig() {
  const response = await fetch('/api/avatar', { cache: 'no-store' });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  return response.json();
}

async function createRenderer(layer, config) {
  if (config.mode === 'png') return createPngAvatar(layer, { ...config.png, align });
  if (config.mode === 'vrm') {
    const { createVrmAvatar } = await import('/static/avatar-vrm.js');
    return createVrmAvatar(layer, { ...config.vrm, camera: { ...(config.vrm.camera || {}), ...camera } });
  }
  throw new Error(`unknown mode ${config.mode}`);
}

function dispose(entry) {
  if (!entry) return;
  try {
    entry.renderer?.dispose();
  } catch (err) {
    console.warn('avatar: dispose failed', err);
  }
  entry.layer?.remove();
}

async function apply(config) {
  if (config.version === current?.version || config.version === building) return;
  state.mode = config.mode;
  if (config.mode === 'off' || !config.ok) {
    building = null;  // a renderer still loading for an older config is dropped when it is done
    dispose(current);
    current = { renderer: null, layer: null, version: config.version };
    state.version = config.version;
    state.shown = '';
    state.error = config.error || null;
    if (config.mode === 'off') showPlaceholder('아바타 꺼짐', '설정에서 AVATAR를 png나 vrm으로 켜세요.');
    else showPlaceholder(config.error || '아바타를 불러올 수 없어요', config.hint || '');
    return;
  }
  // Build the new renderer hidden behind the current one; swap only once it is ready, so a
  // new set never flashes in half-loaded.
  building = config.version;
  const layer = document.createElement('div');
  layer.className = 'layer pending';
  stage.appendChild(layer);
  try {
    const renderer = await createRenderer(layer, config);
    if (building !== config.version) {  // a newer config arrived meanwhile
      renderer.dispose();
      layer.remove();
      return;
    }
    layer.classList.remove('pending');
    dispose(current);
    current = { renderer, layer, version: config.version };
    state.version = config.version;
    state.shown = '';  // the new renderer publishes what it shows on its first update
    state.error = null;
    renderer.resize?.();
    hidePlaceholder();
  } catch (err) {
    layer.remove();
    if (building !== config.version) return;
    console.warn('avatar: could not build the renderer', err);
    dispose(current);
    current = { renderer: null, layer: null, version: config.version };
    state.version = config.version;
    state.error = String(err && err.message || err);
    showPlaceholder('아바타를 그릴 수 없어요', state.error);
  } finally {
    if (building === config.version) building = null;
  }
}

async function pollConfig() {
  try {
    await apply(await fetchConfig());
  } catch (err) {
    // The daemon is restarting (or down): keep what is on screen; say so only when nothing is.
    if (!current?.renderer) showPlaceholder('데몬에 연결하는 중…', '');
  }
  setTimeout(pollConfig, CONFIG_POLL_MS);
}

// --- the frame loop ---------------------------------------------------------------------------
let last = performance.now();
let fpsFrames = 0;
let fpsSince = last;
let debugAt = 0;

function tick(now) {
  const dt = Math.min(Math.max((now - last) / 1000, 0), MAX_DT_S);
  last = now;
  if (current?.renderer) {
    try {
      current.renderer.update(frameNow(now), dt);
    } catch (err) {
      console.warn('avatar: update failed', err);
    }
  }
  state.frames += 1;
  fpsFrames += 1;
  if (now - fpsSince >= 1000) {
    state.fps = Math.round((fpsFrames * 1000) / (now - fpsSince));
    fpsFrames = 0;
    fpsSince = now;
  }
  if (debug && now - debugAt > 250) {
    debugAt = now;
    const age = state.lastFrameAt ? Math.round(now - state.lastFrameAt) : '-';
    debugBox.textContent = `${state.fps} FPS · ${state.mode || '?'} · ${state.shown || '-'}\n`
      + `ws ${state.socket} · frame ${age} ms ago · v ${state.version || '-'}`;
  }
  requestAnimationFrame(tick);
}

window.addEventListener('resize', () => current?.renderer?.resize?.());
debugBox.hidden = !debug;
connect();
pollConfig();
requestAnimationFrame(tick);
