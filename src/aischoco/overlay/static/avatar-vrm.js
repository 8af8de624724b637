// The VRM renderer of the built-in avatar page (/avatar): three.js + @pixiv/three-vrm, vendored under
// /static/vendor/ and reached through the page's import map (see vendor/README.md), so OBS needs no internet.
//
//   const avatar = await createVrmAvatar(container, {url, camera: {distance, height, fov}});
//   requestAnimationFrame loop → avatar.update(latestFrame, dtSeconds)   // renders one frame
//
// `frame` is what WS /ws/params streams: {t, emotion, speaking, pose: {mouth, eyes, yaw, pitch, roll, x, y,
// smile}, params}. Angles follow VTube Studio's FaceAngleX/Y/Z, i.e. Live2D's standard ParamAngleX/Y/Z:
// +yaw turns the face to the screen's right (the model's own left), +pitch looks up, +roll tilts the head's
// top to the screen's right (clockwise as the viewer sees it). docs/avatar-vrm.md has the whole mapping.
import * as THREE from 'three';
import { GLTFLoader } from 'three/addons/loaders/GLTFLoader.js';
import { VRMLoaderPlugin, VRMUtils } from '@pixiv/three-vrm';

const DEG = Math.PI / 180;
// emotion → expression weights; excited is a full smile with a little surprise (wide eyes), so it reads
// livelier than happy without needing a preset VRM lacks
const EMOTIONS = {
  neutral: {},
  happy: { happy: 1 },
  sad: { sad: 1 },
  angry: { angry: 1 },
  surprised: { surprised: 1 },
  excited: { happy: 1, surprised: 0.3 },
};
const EMOTION_EXPRESSIONS = ['happy', 'sad', 'angry', 'surprised', 'relaxed'];
const DEBUG_EXPRESSIONS = ['aa', 'blink', ...EMOTION_EXPRESSIONS, 'neutral'];
const EASE_TAU_S = 0.083;  // exponential ease: 95 % of an emotion change in ~0.25 s, at any frame rate
const MAX_DT_S = 0.1;      // a hidden tab's long gap must not jump the ease or the breathing
const HEAD_SHARE = 0.6;    // of yaw/pitch/roll on the head; the neck takes the rest
const LIMIT = { yaw: 45, pitch: 30, roll: 30 };
const SWAY_ROLL_DEG = 5;   // pose.x = ±1 leans the upper body this much (spine 60 %, chest 40 %)
const SWAY_PITCH_DEG = 3;  // pose.y = ±1 leans it back/forward this much
const BREATH_PERIOD_S = 4;
const BREATH_DEG = 1.2;    // chest; the spine moves a third of it
// A bust shot: at 1.1 m a 30° lens sees ±0.29 m around its height, which defaults to 5 cm above the head
// bone (the skull's base) — the whole head, shoulders and chest of a model of any size.
const DEFAULT_CAMERA = { distance: 1.1, fov: 30, aboveHead: 0.05 };

function num(value, fallback) {
  return typeof value === 'number' && Number.isFinite(value) ? value : fallback;
}
function clamp(value, lo, hi) {
  return Math.min(hi, Math.max(lo, value));
}
function reasonOf(error) {
  return (error && error.message) || String(error);
}

async function loadVrm(url) {
  const loader = new GLTFLoader();
  loader.register((parser) => new VRMLoaderPlugin(parser));
  let gltf;
  try {
    gltf = await loader.loadAsync(url);
  } catch (error) {
    throw new Error(`VRM 파일을 읽지 못했어요: ${reasonOf(error)}`);
  }
  const vrm = gltf.userData.vrm;
  if (!vrm) {
    VRMUtils.deepDispose(gltf.scene);
    throw new Error('VRM 파일을 읽지 못했어요: VRM 정보(meta·humanoid)가 없는 glTF 파일이에요');
  }
  return { gltf, vrm };
}

export async function createVrmAvatar(container, config = {}) {
  const cameraConfig = (config && config.camera) || {};
  const { gltf, vrm } = await loadVrm(config && config.url);
  const version = vrm.meta && vrm.meta.metaVersion === '0' ? '0' : '1';

  // Nothing touches the page until the model has loaded and WebGL works: a failure leaves no canvas.
  let renderer;
  try {
    renderer = new THREE.WebGLRenderer({ alpha: true, antialias: true, premultipliedAlpha: true });
  } catch (error) {
    VRMUtils.deepDispose(vrm.scene);
    throw new Error('VRM 모델을 그리지 못했어요: 이 브라우저에서 WebGL을 쓸 수 없어요 '
      + `(OBS라면 브라우저 소스의 하드웨어 가속을 켜 주세요; ${reasonOf(error)})`);
  }
  let resizeObserver = null;
  let disposed = false;
  const canvas = renderer.domElement;
  const scene = new THREE.Scene();
  const camera = new THREE.PerspectiveCamera(DEFAULT_CAMERA.fov, 1, 0.05, 50);

  const cleanUp = () => {
    if (resizeObserver) resizeObserver.disconnect();
    VRMUtils.deepDispose(vrm.scene);
    renderer.dispose();
    renderer.forceContextLoss();  // browsers cap live WebGL contexts; a model swap must not leak one
    canvas.remove();
  };

  try {
    renderer.setClearColor(0x000000, 0);  // transparent: OBS composites the avatar over the scene
    renderer.setPixelRatio(Math.min(window.devicePixelRatio || 1, 2));
    Object.assign(canvas.style, { display: 'block', width: '100%', height: '100%' });

    VRMUtils.removeUnnecessaryVertices(gltf.scene);
    VRMUtils.combineSkeletons(gltf.scene);
    VRMUtils.rotateVRM0(vrm);  // 0.x models face -Z; turn them to the camera like 1.0 models
    vrm.scene.traverse((object) => { object.frustumCulled = false; });  // skinned bounds are rest-pose only
    scene.add(vrm.scene);

    const light = new THREE.DirectionalLight(0xffffff, Math.PI * 0.9);
    light.position.set(0.6, 1.2, 1.5).normalize();
    scene.add(light, new THREE.AmbientLight(0xffffff, Math.PI * 0.35));

    vrm.update(0);
    vrm.scene.updateMatrixWorld(true);
    const rawHead = vrm.humanoid.getRawBoneNode('head');
    const restHead = rawHead.getWorldQuaternion(new THREE.Quaternion()).invert();
    const headHeight = rawHead.getWorldPosition(new THREE.Vector3()).y;

    const height = num(cameraConfig.height, headHeight + DEFAULT_CAMERA.aboveHead);
    const distance = num(cameraConfig.distance, DEFAULT_CAMERA.distance);
    camera.fov = clamp(num(cameraConfig.fov, DEFAULT_CAMERA.fov), 5, 120);
    camera.position.set(0, height, distance);
    camera.lookAt(0, height, 0);

    const bones = {};
    for (const name of ['hips', 'spine', 'chest', 'upperChest', 'neck', 'head']) {
      bones[name] = vrm.humanoid.getNormalizedBoneNode(name);
    }
    // Normalized bones of a 0.x model keep the -Z frame; after rotateVRM0 their X and Z turn the other
    // way in the world, so flip those two to keep one sign convention for both versions.
    const flip = version === '0' ? -1 : 1;
    const setRotation = (node, x, y, z) => {
      if (node) node.rotation.set(x * flip, y, z * flip, 'YXZ');
    };

    // VRM 0.x has no "surprised" preset; VRoid exports it as a custom group named "Surprised".
    const manager = vrm.expressionManager;
    const expressionName = {};
    for (const name of DEBUG_EXPRESSIONS) {
      let found = manager && manager.getExpression(name) ? name : null;
      if (manager && !found) {
        const custom = manager.expressions.find((e) => e.expressionName.toLowerCase() === name.toLowerCase());
        found = custom ? custom.expressionName : null;
      }
      expressionName[name] = found;
    }
    const setExpression = (name, weight) => {
      if (expressionName[name]) manager.setValue(expressionName[name], weight);
    };
    const emotionWeight = Object.fromEntries(EMOTION_EXPRESSIONS.map((name) => [name, 0]));
    let clock = 0;
    let frames = 0;

    const resize = () => {
      const width = Math.max(1, container.clientWidth);
      const heightPx = Math.max(1, container.clientHeight);
      renderer.setSize(width, heightPx, false);
      camera.aspect = width / heightPx;
      camera.updateProjectionMatrix();
    };

    const update = (frame, dt) => {
      if (disposed) return;
      const step = clamp(num(dt, 0), 0, MAX_DT_S);
      clock += step;
      const pose = (frame && frame.pose) || {};

      // mouth and eyes as sent: the daemon's lip-sync and blink are already smoothed
      setExpression('aa', clamp(num(pose.mouth, 0), 0, 1));
      setExpression('blink', 1 - clamp(num(pose.eyes, 1), 0, 1));
      const target = EMOTIONS[frame && frame.emotion] || EMOTIONS.neutral;
      const k = 1 - Math.exp(-step / EASE_TAU_S);
      for (const name of EMOTION_EXPRESSIONS) {
        emotionWeight[name] += ((target[name] || 0) - emotionWeight[name]) * k;
        setExpression(name, emotionWeight[name]);
      }

      const yaw = clamp(num(pose.yaw, 0), -LIMIT.yaw, LIMIT.yaw) * DEG;
      const pitch = clamp(num(pose.pitch, 0), -LIMIT.pitch, LIMIT.pitch) * DEG;
      const roll = clamp(num(pose.roll, 0), -LIMIT.roll, LIMIT.roll) * DEG;
      // model frame (faces +Z, the camera): +Y turns to the model's left, -X looks up, -Z tilts clockwise
      setRotation(bones.head, -pitch * HEAD_SHARE, yaw * HEAD_SHARE, -roll * HEAD_SHARE);
      setRotation(bones.neck, -pitch * (1 - HEAD_SHARE), yaw * (1 - HEAD_SHARE), -roll * (1 - HEAD_SHARE));

      const breath = Math.sin((clock / BREATH_PERIOD_S) * 2 * Math.PI) * BREATH_DEG * DEG;
      const swayRoll = -clamp(num(pose.x, 0), -1, 1) * SWAY_ROLL_DEG * DEG;  // +x leans to the viewer's right
      const swayPitch = -clamp(num(pose.y, 0), -1, 1) * SWAY_PITCH_DEG * DEG;  // +y leans back (up)
      setRotation(bones.spine, swayPitch * 0.6 + breath / 3, 0, swayRoll * 0.6);
      setRotation(bones.chest, swayPitch * 0.4 + breath, 0, swayRoll * 0.4);

      vrm.update(step);
      renderer.render(scene, camera);
      frames += 1;
    };

    const headRotation = () => {
      const q = rawHead.getWorldQuaternion(new THREE.Quaternion()).multiply(restHead);
      const e = new THREE.Euler().setFromQuaternion(q, 'YXZ');
      return { x: e.x / DEG, y: e.y / DEG, z: e.z / DEG };
    };

    const dispose = () => {
      if (disposed) return;
      disposed = true;
      cleanUp();
      if (window.__vrmDebug === debug) delete window.__vrmDebug;
    };

    const debug = {
      expressionWeights() {
        const out = {};
        for (const name of DEBUG_EXPRESSIONS) {
          out[name] = expressionName[name] ? manager.getValue(expressionName[name]) || 0 : 0;
        }
        return out;
      },
      headRotation,
      get frames() { return frames; },
      version,
    };

    container.appendChild(canvas);
    resize();
    if (typeof ResizeObserver === 'function') {
      resizeObserver = new ResizeObserver(resize);
      resizeObserver.observe(container);
    }
    update(null, 0);  // the rest pose is on screen before the first frame arrives
    window.__vrmDebug = debug;
    return { update, resize, dispose };
  } catch (error) {
    cleanUp();
    throw new Error(`VRM 파일을 읽지 못했어요: ${reasonOf(error)}`);
  }
}
