"""Send test chat to a running daemon and print what the overlay shows.

    python -m aischoco run            # in one terminal
    python examples/local_chat_example.py "안녕 초코!" --user 시청자1
"""

from __future__ import annotations

import argparse
import os

import httpx


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("message")
    parser.add_argument("--user", default="테스트")
    parser.add_argument("--donation", type=int, default=None, help="후원 금액 (치즈)")
    parser.add_argument("--url", default=os.environ.get("AISCHOCO_URL", "http://127.0.0.1:8000"))
    args = parser.parse_args()

    body = {"user": args.user, "message": args.message}
    if args.donation is not None:
        body |= {"kind": "donation", "amount": args.donation}
    with httpx.Client(base_url=args.url, timeout=5) as client:
        print("sent:", client.post("/api/chat", json=body).json())
        state = client.get("/api/state").json()
    for msg in state["viewer_messages"][-5:]:
        print(f"{msg['user']}: {msg['message']}")
    print("queue:", state["queue"])


if __name__ == "__main__":
    main()
