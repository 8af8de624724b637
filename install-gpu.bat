@echo off
rem aischoco: the local voice (Qwen3-TTS) on an NVIDIA GPU. Run start.bat once first.
rem Installs the CUDA build of torch that matches the driver (nvidia-smi), then the TTS packages.
chcp 65001 >nul
setlocal
cd /d "%~dp0"

if not exist ".venv\Scripts\python.exe" (
  echo 먼저 start.bat을 한 번 실행해 .venv를 만드세요.
  pause
  exit /b 1
)
where nvidia-smi >nul 2>nul
if errorlevel 1 (
  echo NVIDIA 드라이버^(nvidia-smi^)를 찾지 못했습니다. GPU가 없으면 원격 TTS^(TTS_ENGINE=remote^)를 쓰세요.
  pause
  exit /b 1
)

rem "CUDA Version: 12.8" in nvidia-smi's header: the newest CUDA this driver runs.
set "LINE="
for /f "delims=" %%l in ('nvidia-smi ^| findstr /c:"CUDA Version"') do set "LINE=%%l"
if not defined LINE set "LINE=CUDA Version: 0.0"
rem Everything after "CUDA Version" (": 12.8   |"), then the two numbers.
set "CUDA=%LINE:*CUDA Version=%"
for /f "tokens=1,2 delims=.: |" %%a in ("%CUDA%") do (
  set "MAJOR=%%a"
  set "MINOR=%%b"
)
set "WHEEL="
if defined MAJOR (
  if %MAJOR% GEQ 13 set "WHEEL=cu130"
  if %MAJOR% EQU 12 if %MINOR% GEQ 8 set "WHEEL=cu128"
  if %MAJOR% EQU 12 if %MINOR% GEQ 6 if %MINOR% LSS 8 set "WHEEL=cu126"
)
if not defined WHEEL (
  echo 이 드라이버의 CUDA 버전^(%CUDA%^)이 너무 낮습니다. NVIDIA 드라이버를 최신으로 업데이트하세요.
  pause
  exit /b 1
)
echo CUDA %MAJOR%.%MINOR% 드라이버: torch 2.13.0 +%WHEEL% 설치
".venv\Scripts\python.exe" -m pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/%WHEEL%
if errorlevel 1 goto fail
".venv\Scripts\python.exe" -m pip install -r requirements-tts.txt
if errorlevel 1 goto fail
".venv\Scripts\python.exe" -m pip install --no-deps qwen-tts==0.1.1
if errorlevel 1 goto fail
".venv\Scripts\python.exe" -c "import torch; print('GPU:', torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'not found')"
echo 완료. .env에서 TTS_ENGINE=qwen 으로 두고 start.bat을 실행하세요.
pause
exit /b 0

:fail
echo 설치 중 오류가 났습니다. 위의 메시지를 확인하세요.
pause
exit /b 1
