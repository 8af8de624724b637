"""Colab GPU를 원격 TTS 서버로 쓰기 — a notebook-style script (paste each ``# %%`` cell into Colab).

방송 PC에 GPU가 없을 때, Google Colab의 GPU에서 ``python -m aischoco tts-server``를 돌리고 인터넷
주소(터널)로 열어 방송 PC의 aischoco가 ``TTS_ENGINE=remote``로 쓰게 합니다.

What this does: installs aischoco with the local Qwen3-TTS engine on the Colab VM, uploads your
voice sample, starts the TTS server on port 8880, opens a Cloudflare quick tunnel to it and prints
the three ``.env`` lines for the streaming PC.

Why a Cloudflare quick tunnel (``cloudflared tunnel --url``):
- no account or token, HTTPS, and it passes chunked responses through as they come, which streamed
  PCM needs;
- Colab's own port proxy (``google.colab.output.serve_kernel_port_as_window``) only answers a browser
  logged into your Google account, so the daemon on the streaming PC cannot use it;
- ngrok works just as well but needs an account and an authtoken; localtunnel puts a reminder page
  in front of first visits.
A quick tunnel's address is public and changes every start: the server gets an API key (below).

Honest status — NOT tested on Colab: nothing here was run on a Colab VM or through a real tunnel;
the install follows requirements-tts.txt, assuming Colab's preinstalled CUDA torch/torchaudio pair;
chunk latency through the tunnel was not measured (expect tens of ms on top of the GPU's own
first-audio time; a T4 was published at ~0.9 s to first audio for 0.6B). The server and the client
were tested locally over loopback (tests/test_tts_server.py). ``tts-server`` reads the key from
``TTS_SERVER_API_KEY``; with an older version that does not, keep the URL to yourself.
Colab stops idle or long sessions: the streamer should keep the tab open, and re-paste the new URL
after a restart.
"""

# %% 0. Settings — edit these
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

REPO_URL = "https://github.com/YOUR-NAME/aischoco.git"  # your copy of this project
PORT = 8880
MODEL = "Qwen/Qwen3-TTS-12Hz-0.6B-Base"  # 1.7B sounds better; 0.6B answers sooner on a T4
WORKDIR = Path("/content/aischoco")


def sh(command: str) -> None:
    print(f"$ {command}", flush=True)
    subprocess.run(command, shell=True, check=True)


try:
    import google.colab  # noqa: F401
except ImportError:
    sys.exit("이 스크립트는 Google Colab용입니다 — open it in Colab (Runtime → GPU) and run the cells.")

# %% 1. GPU? (Runtime → Change runtime type → T4/L4/A100 GPU)
sh("nvidia-smi --query-gpu=name,memory.total --format=csv")

# %% 2. Install (Colab already has a CUDA torch/torchaudio pair: do not reinstall torch)
if not WORKDIR.exists():
    sh(f"git clone --depth 1 {REPO_URL} {WORKDIR}")
os.chdir(WORKDIR)
# requirements-tts.txt's three steps; step 1 (torch) is Colab's own CUDA build, already there.
sh("pip install -q -r requirements.txt -r requirements-tts.txt -e .")
sh("pip install -q --no-deps qwen-tts==0.1.1")

# %% 3. Voice sample: ref.wav (3-10 s, one voice) and ref_text.txt (exactly what it says)
from google.colab import files

voice_dir = WORKDIR / "assets" / "voice_samples"
voice_dir.mkdir(parents=True, exist_ok=True)
print("ref.wav와 ref_text.txt를 올려 주세요 — upload ref.wav and ref_text.txt")
for name, data in files.upload().items():
    (voice_dir / Path(name).name).write_bytes(data)
assert (voice_dir / "ref.wav").is_file() and (voice_dir / "ref_text.txt").is_file(), \
    "ref.wav / ref_text.txt 가 필요합니다"

# %% 4. Start the TTS server (loading the model takes a few minutes the first time)
API_KEY = secrets.token_urlsafe(24)
env = {**os.environ, "TTS_ENGINE": "qwen", "QWEN_TTS_MODEL": MODEL, "TTS_DEVICE": "cuda",
       "TTS_SERVER_API_KEY": API_KEY, "HF_HOME": "/content/hf"}
# Loopback is enough: the tunnel connects from this VM. (--host 0.0.0.0 also works here, the VM
# has no public address, but the server would warn about it for good reason elsewhere.)
server = subprocess.Popen(
    [sys.executable, "-m", "aischoco", "tts-server", "--host", "127.0.0.1", "--port", str(PORT)],
    env=env, stdout=open("/content/tts-server.log", "w", encoding="utf-8"),  # noqa: SIM115 - lives as long as it
    stderr=subprocess.STDOUT)

import httpx

for _ in range(600):
    if server.poll() is not None:
        sh("tail -n 40 /content/tts-server.log")
        raise RuntimeError("tts-server exited; see the log above")
    try:
        if httpx.get(f"http://127.0.0.1:{PORT}/health", timeout=2).status_code == 200:
            break
    except httpx.HTTPError:
        pass
    time.sleep(2)
else:
    raise RuntimeError("the model did not load in 20 minutes; see /content/tts-server.log")
print("TTS 서버 준비됨 — server ready")

# %% 5. Cloudflare quick tunnel → a public https address
sh("wget -q -nc -O /content/cloudflared "
   "https://github.com/cloudflare/cloudflared/releases/latest/download/cloudflared-linux-amd64"
   " && chmod +x /content/cloudflared")
tunnel_log = open("/content/cloudflared.log", "w", encoding="utf-8")  # noqa: SIM115 - open while the tunnel runs
tunnel = subprocess.Popen(["/content/cloudflared", "tunnel", "--no-autoupdate", "--url",
                           f"http://127.0.0.1:{PORT}"], stdout=tunnel_log, stderr=subprocess.STDOUT)
PUBLIC_URL = ""
for _ in range(60):
    time.sleep(1)
    for word in Path("/content/cloudflared.log").read_text(encoding="utf-8").split():
        if word.startswith("https://") and word.rstrip("|").endswith(".trycloudflare.com"):
            PUBLIC_URL = word.rstrip("|")
    if PUBLIC_URL:
        break
assert PUBLIC_URL, "no tunnel address yet; see /content/cloudflared.log"

# %% 6. Check it end to end through the tunnel, then configure the streaming PC
import asyncio
from concurrent.futures import ThreadPoolExecutor

from aischoco.tts.remote_engine import RemoteEngine


async def check() -> None:
    engine = RemoteEngine(PUBLIC_URL, api_key=API_KEY, first_byte_timeout_s=60)
    started, first, seconds = time.perf_counter(), None, 0.0
    try:
        async for chunk in engine.synthesize("안녕하세요! 코랩에서 말하고 있어요."):
            first = first or time.perf_counter() - started
            seconds += chunk.duration_s
    finally:
        await engine.aclose()
    assert first is not None, "the server sent no audio"
    print(f"첫 소리 {first * 1000:.0f} ms, {seconds:.1f}초 분량 — first audio after "
          f"{first * 1000:.0f} ms for {seconds:.1f} s of speech")


# Colab's kernel already runs an event loop, so asyncio.run gets a thread of its own.
with ThreadPoolExecutor(1) as pool:
    pool.submit(asyncio.run, check()).result()

print("\n방송 PC의 .env에 넣으세요 — put these in the streaming PC's .env:\n")
print("TTS_ENGINE=remote")
print(f"TTS_REMOTE_URL={PUBLIC_URL}")
print(f"TTS_REMOTE_API_KEY={API_KEY}")
print("\n이 탭을 열어 두세요. 런타임이 다시 시작되면 주소가 바뀝니다.")
