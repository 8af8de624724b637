"""The free-plan budget math (ai/budget.py): headers, own day count, 429 blocks, the chain."""

from __future__ import annotations

from aischoco.ai.budget import (FREE_PLAN, ModelBudget, ModelChain, PlanLimits, limit_hit,
                                parse_fallback_models, trim_history)

GROQ_HEADERS = {"x-ratelimit-limit-requests": "1000", "x-ratelimit-limit-tokens": "8000",
                "x-ratelimit-remaining-requests": "997", "x-ratelimit-remaining-tokens": "6500",
                "x-ratelimit-reset-requests": "4m19.2s", "x-ratelimit-reset-tokens": "11.25s"}
TPD_429 = ("Rate limit reached for model `openai/gpt-oss-120b` in organization `org_x` service "
           "tier `on_demand` on tokens per day (TPD): Limit 200000, Used 199500, Requested 1800. "
           "Please try again in 7m12.5s. Need more tokens? Upgrade to Dev Tier today at "
           "https://console.groq.com/settings/billing")
TOO_LARGE = ("Request too large for model `llama-3.1-8b-instant` in organization `org_x` service "
             "tier on_demand on tokens per minute (TPM): Limit 6000, Requested 12,328, please "
             "reduce your message size and try again.")


def test_which_limit_a_groq_message_names() -> None:
    assert limit_hit(TPD_429) == ("TPD", 200000, 1800)
    assert limit_hit(TOO_LARGE) == ("TPM", 6000, 12328)
    assert limit_hit("on requests per day (RPD): Limit 1000, Used 1000, Requested 1.")[0] == "RPD"
    assert limit_hit("Internal error") == ("", None, None)


def test_fallback_list_and_none() -> None:
    assert parse_fallback_models(" a, b ,a,,c") == ("a", "b", "c")
    assert parse_fallback_models("none") == ()
    assert parse_fallback_models("") == ()


def test_headers_give_requests_left_today_and_the_minute() -> None:
    b = ModelBudget("openai/gpt-oss-120b")
    b.observe_headers(GROQ_HEADERS, now=100.0)
    assert b.requests_left_today(100.0) == 997 and b.tokens_left_minute == 6500
    assert b.tpm == 8000 and b.rpd == 1000 and b.tpd == 200_000
    assert b.prompt_cap() == 1600  # a fifth of TPM
    assert b.requests_reset_at == 100.0 + 259.2 and b.tokens_reset_at == 111.25
    # a request larger than this minute's tokens waits for the minute's reset
    assert b.unavailable(100.0, need_tokens=7000) == ("TPM", 111.25)
    assert b.unavailable(112.0, need_tokens=7000) == ("", None)


def test_own_day_count_rolls_over_a_day() -> None:
    b = ModelBudget("m", PlanLimits(rpm=30, rpd=1000, tpm=8000, tpd=10_000), day_s=1000)
    for t in range(5):
        b.record({"prompt_tokens": 1800, "completion_tokens": 200, "total_tokens": 2000,
                  "cached_tokens": 900}, now=float(t * 10))
    assert b.tokens_left_today(45.0) == 0 and b.requests_left_today(45.0) == 995
    why, until = b.unavailable(45.0, need_tokens=1000)
    assert why == "TPD" and until == 1000.0  # when the first request is a day old
    assert b.unavailable(1001.0, need_tokens=1000) == ("", None)
    assert b.tokens_left_today(1001.0) == 2000
    assert b.cached_tokens == 4500 and b.prompt_tokens == 9000


def test_a_429_blocks_until_groq_said_and_the_chain_falls_back_then_returns() -> None:
    chain = ModelChain(["openai/gpt-oss-120b", "moonshotai/kimi-k2-instruct", "qwen/qwen3-32b"])
    assert chain.choose(0.0).model == "openai/gpt-oss-120b"
    chain.budget("openai/gpt-oss-120b").block("TPD", 432.5, now=10.0)
    choice = chain.choose(20.0)
    assert choice.model == "moonshotai/kimi-k2-instruct" and "오늘 토큰 한도 소진" in choice.why
    chain.budget("moonshotai/kimi-k2-instruct").block("RPD", 1000.0, now=20.0)
    assert chain.choose(30.0).model == "qwen/qwen3-32b"
    assert chain.choose(443.0).model == "openai/gpt-oss-120b"  # its day came back
    # a short minute limit is waited for rather than switching
    chain.budget("openai/gpt-oss-120b").block("TPM", 2.0, now=500.0)
    choice = chain.choose(500.0)
    assert choice.model == "openai/gpt-oss-120b" and 0 < choice.wait_s <= 2.0
    chain.budget("openai/gpt-oss-120b").block("TPM", 20.0, now=1100.0)
    assert chain.choose(1100.0).model == "moonshotai/kimi-k2-instruct"  # its RPD came back


def test_every_model_spent_says_when_the_first_comes_back() -> None:
    chain = ModelChain(["a", "b"])
    chain.budget("a").block("TPD", 300.0, now=0.0)
    chain.budget("b").block("RPD", 100.0, now=0.0)
    choice = chain.choose(0.0)
    assert choice.model == "b" and choice.wait_s == 100.0


def test_answers_left_today_and_the_warning() -> None:
    chain = ModelChain(["openai/gpt-oss-120b", "llama-3.1-8b-instant"])
    for _ in range(10):
        chain.note_answer("openai/gpt-oss-120b", 2000)
    # 200k/2000 + 500k/2000 answers, before anything was spent
    assert chain.answers_left(0.0) == 100 + 250
    chain.budget("openai/gpt-oss-120b").record({"total_tokens": 190_000}, now=1.0)
    assert chain.answers_left(2.0) == 5 + 250
    chain.budget("llama-3.1-8b-instant").block("TPD", 50_000, now=2.0)
    snap = chain.snapshot(3.0)
    assert snap["answers_left"] == 5 and snap["warning"] is True
    assert [m["model"] for m in snap["models"]] == list(chain.models)
    assert ModelChain(["local-model"]).answers_left(0.0) is None  # limits unknown


def test_background_keeps_the_reserve_for_answers() -> None:
    chain = ModelChain(["openai/gpt-oss-120b", "qwen/qwen3-32b"])
    assert chain.background_ok("openai/gpt-oss-120b", 0.0, 1500)
    chain.budget("openai/gpt-oss-120b").record({"total_tokens": 149_000}, now=1.0)
    assert not chain.background_ok("openai/gpt-oss-120b", 2.0, 1500)  # 51k left < 25 %
    assert chain.background_ok("qwen/qwen3-32b", 2.0, 1500)
    chain.budget("openai/gpt-oss-120b").block("TPD", 600.0, now=2.0)
    chain.choose(3.0)  # the answers now run on qwen: background leaves it alone
    assert not chain.background_ok("qwen/qwen3-32b", 3.0, 1500)


def test_trim_history_drops_the_oldest_first() -> None:
    messages = [{"role": "system", "content": "s"}] + [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"m{i}"} for i in range(6)
    ] + [{"role": "user", "content": "now"}]
    trimmed, dropped = trim_history(messages, 1, 7, 250, lambda m: 100)
    assert dropped == 3 and [m["content"] for m in trimmed] == ["s", "m3", "m4", "m5", "now"]
    assert trim_history(messages, 1, 1, 100, lambda m: 100) == (messages, 0)


def test_the_free_plan_table_has_the_default_chain() -> None:
    for model in ("openai/gpt-oss-120b", "moonshotai/kimi-k2-instruct", "qwen/qwen3-32b",
                  "meta-llama/llama-4-scout-17b-16e-instruct", "llama-3.1-8b-instant"):
        assert FREE_PLAN[model].tpd and FREE_PLAN[model].tpm
