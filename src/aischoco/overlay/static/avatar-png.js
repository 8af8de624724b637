// The image-set (PNGTuber) renderer: one image of the set at a time — mouth closed/open ×
// eyes open/blinking for the current emotion — plus a hop while talking and a slow sway, all as
// one CSS transform on one element (composited by the GPU: 60 FPS on any OBS machine).

// Mouth: the lip-sync value (0..1) opens the mouth above OPEN_ABOVE and closes it below
// CLOSE_BELOW. The gap between them (hysteresis) keeps a value wobbling around one threshold from
// flickering; MIN_HOLD_MS keeps each mouth state on screen long enough to read as speech, not
// flicker (two frames at 30 Hz; AITuberKit uses 45 ms, our frames come every 17-33 ms).
const OPEN_ABOVE = 0.30;
const CLOSE_BELOW = 0.15;
const MIN_HOLD_MS = 60;
// Eyes: the animator's eye openness (1 open, 0 shut); a blink shows the *_blink image.
const BLINK_BELOW = 0.5;
// Layout: the set is fitted (contain) into the window with a margin for the hop and the sway,
// centred; with `align: 'bottom'` (URL ?align=bottom) a bust stands on the window's bottom edge
// instead, its cut edge OVERHANG below it so the hop and the tilt never show it.
const FIT = 0.94;
const OVERHANG = 0.05;          // of the drawn height
// Talking: a short hop each time the mouth opens, eased (half a sine: up fast, down soft).
const HOP_MS = 170;
const HOP_HEIGHT = 0.022;       // of the drawn height
// Idle sway from the animator's pose: x/y (-1..1) move, roll (degrees) tilts around the bottom.
const SWAY_X = 0.025;           // of the drawn width per unit of pose.x
const SWAY_Y = 0.012;           // of the drawn height per unit of pose.y
const ROLL_GAIN = 0.35;         // a head roll of 10° tilts the whole bust 3.5°
const MAX_ROLL_DEG = 4;
const SMOOTH_PER_S = 12;        // frames come at 30-60 Hz, the page draws at 60+: ease between
const BREATH_PERIOD_S = 4.2;    // a barely visible breath so a silent avatar still looks alive
const BREATH_SCALE = 0.005;

const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
const num = (v, fallback) => (typeof v === 'number' && Number.isFinite(v) ? v : fallback);

async function decoded(url) {
  const img = new Image();
  img.decoding = 'async';
  img.draggable = false;
  img.alt = '';
  img.src = url;
  await img.decode();  // decoded before it is ever shown: swapping never flashes
  return img;
}

/** Build the renderer for `config` ({width, height, images: {emotion: {slot: url}}, align?})
 *  inside `container`; resolves once every image is loaded and decoded. */
export async function createPngAvatar(container, config) {
  const { width, height, images } = config;
  const bottom = config.align === 'bottom';
  const urls = [...new Set(Object.values(images).flatMap((slots) => Object.values(slots)))];
  const loaded = new Map(await Promise.all(urls.map(async (url) => [url, await decoded(url)])));

  const figure = document.createElement('div');
  figure.style.cssText = 'position:absolute;will-change:transform;transform-origin:50% 100%;';
  for (const img of loaded.values()) {
    img.style.cssText = 'position:absolute;inset:0;width:100%;height:100%;visibility:hidden;'
      + 'user-select:none;pointer-events:none;';
    figure.appendChild(img);
  }
  container.appendChild(figure);

  const debug = window.__avatarDebug || (window.__avatarDebug = {});
  let drawnW = width;
  let drawnH = height;
  let visible = null;
  let shown = '';
  let mouthOpen = false;
  let mouthChangedAt = -Infinity;
  let hopStart = -Infinity;
  let sx = 0, sy = 0, roll = 0;
  let clock = 0;

  function resize() {
    const W = container.clientWidth || window.innerWidth;
    const H = container.clientHeight || window.innerHeight;
    const scale = Math.min(W / width, H / height) * FIT;
    drawnW = width * scale;
    drawnH = height * scale;
    figure.style.width = `${drawnW}px`;
    figure.style.height = `${drawnH}px`;
    figure.style.left = `${(W - drawnW) / 2}px`;
    figure.style.top = `${bottom ? H - drawnH * (1 - OVERHANG) : (H - drawnH) / 2}px`;
  }

  function show(emotion, slot) {
    const key = `${emotion}/${slot}`;
    if (key === shown) return;
    const img = loaded.get(images[emotion][slot]);
    if (img !== visible) {
      img.style.visibility = 'visible';  // the new one first: never a frame with none
      if (visible) visible.style.visibility = 'hidden';
      visible = img;
    }
    shown = key;
  }

  function update(frame, dt) {
    const now = performance.now();
    const pose = frame.pose || {};
    const emotion = images[frame.emotion] ? frame.emotion : 'neutral';
    const mouth = num(pose.mouth, 0);
    if (now - mouthChangedAt >= MIN_HOLD_MS) {
      if (!mouthOpen && mouth > OPEN_ABOVE) {
        mouthOpen = true;
        mouthChangedAt = now;
        if (now - hopStart >= HOP_MS) hopStart = now;  // a hop in flight is not restarted
      } else if (mouthOpen && mouth < CLOSE_BELOW) {
        mouthOpen = false;
        mouthChangedAt = now;
      }
    }
    const blink = num(pose.eyes, 1) < BLINK_BELOW;
    show(emotion, `${mouthOpen ? 'open' : 'closed'}${blink ? '_blink' : ''}`);
    if (debug.shown !== shown) {  // published from update(): only the renderer on screen updates
      debug.shown = shown;
      debug.changedAt = now;
    }

    const k = 1 - Math.exp(-SMOOTH_PER_S * dt);
    sx += (clamp(num(pose.x, 0), -1, 1) * SWAY_X * drawnW - sx) * k;
    sy += (clamp(num(pose.y, 0), -1, 1) * SWAY_Y * drawnH - sy) * k;
    roll += (clamp(num(pose.roll, 0) * ROLL_GAIN, -MAX_ROLL_DEG, MAX_ROLL_DEG) - roll) * k;
    const hop = now - hopStart < HOP_MS ? Math.sin((Math.PI * (now - hopStart)) / HOP_MS) : 0;
    clock += dt;
    const breath = 1 + BREATH_SCALE * Math.sin((2 * Math.PI * clock) / BREATH_PERIOD_S);
    figure.style.transform = `translate3d(${sx.toFixed(2)}px,`
      + `${(sy - hop * HOP_HEIGHT * drawnH).toFixed(2)}px,0) rotate(${roll.toFixed(3)}deg)`
      + ` scale(${breath.toFixed(4)})`;
  }

  function dispose() {
    figure.remove();
    loaded.clear();
  }

  resize();
  show('neutral', 'closed');
  return { update, resize, dispose };
}
