@echo off
rem aischoco: double-click to install (first time) and run. Opens the control panel in the browser.
chcp 65001 >nul
setlocal
cd /d "%~dp0"

rem Python 3.11 or newer: the py launcher first, then python on PATH.
set "PY="
where py >nul 2>nul
if not errorlevel 1 (
  py -3 -c "import sys; raise SystemExit(sys.version_info < (3, 11))" >nul 2>nul
  if not errorlevel 1 set "PY=py -3"
)
if not defined PY (
  where python >nul 2>nul
  if not errorlevel 1 (
    python -c "import sys; raise SystemExit(sys.version_info < (3, 11))" >nul 2>nul
    if not errorlevel 1 set "PY=python"
  )
)
if not defined PY (
  echo Python 3.11 이상이 필요합니다.
  echo https://www.python.org/downloads/ 에서 설치하고, 설치 화면의 "Add python.exe to PATH"를 켠 뒤 다시 실행하세요.
  pause
  exit /b 1
)

if not exist ".venv\Scripts\python.exe" (
  echo 가상환경을 만드는 중: .venv
  %PY% -m venv .venv
  if errorlevel 1 goto fail
)
echo 설치/업데이트 중 (처음에는 몇 분 걸립니다)...
".venv\Scripts\python.exe" -m pip install -q -r requirements.txt -e .
if errorlevel 1 goto fail

rem The panel opens a few seconds later, once the daemon is listening.
start "" /min cmd /c "timeout /t 6 >nul & start http://127.0.0.1:8000/"
".venv\Scripts\python.exe" -m aischoco run
pause
exit /b 0

:fail
echo 설치 중 오류가 났습니다. 위의 메시지를 확인하세요 (인터넷 연결, 디스크 공간).
pause
exit /b 1
