"""The mock provider's scripting rules and usage arithmetic (pure)."""

from controlplane.devtools import mock_script
from controlplane.devtools.mock_script import Script


def body(*contents: str, **extra: object) -> dict:
    messages = [{"role": "user", "content": c} for c in contents]
    return {"model": "gpt-4o-mini", "messages": messages, **extra}


def test_prompt_tokens_are_words_plus_four_per_message() -> None:
    b = {
        "model": "m",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "hello  there\nfriend"}]},
            {"role": "assistant", "content": None},
        ],
    }
    assert mock_script.prompt_tokens(b) == (2 + 4) + (3 + 4) + (0 + 4)


def test_defaults_without_directives() -> None:
    assert mock_script.parse_script({}, body("hi")) == Script()


def test_magic_strings_in_last_user_message() -> None:
    script = mock_script.parse_script(
        {},
        body(
            "mock:status=500 (an earlier message: ignored)",
            "go mock:words=50 mock:cached=7 mock:reasoning=5 mock:stall_after=3 "
            "mock:delay_ms=300 mock:error_in_stream",
        ),
    )
    assert script == Script(
        status=200,
        delay_ms=300,
        stall_after=3,
        words=50,
        cached=7,
        reasoning=5,
        error_in_stream=True,
    )


def test_headers_script_and_magic_strings_win() -> None:
    headers = {"x-mock-status": "429", "x-mock-words": "3", "x-mock-cached-tokens": "2"}
    assert mock_script.parse_script(headers, body("hi")) == Script(status=429, words=3, cached=2)
    both = mock_script.parse_script(headers, body("mock:words=9"))
    assert (both.status, both.words) == (429, 9)


def test_stream_shaping_knobs_by_magic_string_and_by_header() -> None:
    by_text = mock_script.parse_script({}, body("mock:split mock:chunk_delay_ms=40"))
    assert (by_text.split, by_text.chunk_delay_ms) == (True, 40)
    by_header = mock_script.parse_script(
        {"x-mock-split": "yes", "x-mock-chunk-delay-ms": "40"}, body("hi")
    )
    assert by_header == by_text


def test_reply_is_deterministic_and_has_the_requested_length() -> None:
    assert mock_script.reply_words(12) == mock_script.reply_words(12)
    assert len(mock_script.reply_words(50)) == 50
    assert mock_script.reply_words(0) == ()
    assert len(set(mock_script.reply_words(30))) > 10


def test_usage_with_details() -> None:
    usage = mock_script.usage(body("one two three"), Script(words=4, cached=2, reasoning=1))
    assert usage == {
        "prompt_tokens": 7,
        "completion_tokens": 4,
        "total_tokens": 11,
        "prompt_tokens_details": {"cached_tokens": 2},
        "completion_tokens_details": {"reasoning_tokens": 1},
    }


def test_stream_chunks_one_per_word_then_finish_then_usage() -> None:
    b = body("hi", stream=True, stream_options={"include_usage": True})
    chunks = mock_script.stream_chunks(b, Script(words=3), "id1", 0)
    assert len(chunks) == 3 + 1 + 1
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks[:4])
    assert text == " ".join(mock_script.reply_words(3))
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[3]["choices"][0]["finish_reason"] == "stop"
    assert all(c["usage"] is None for c in chunks[:4])
    assert chunks[4]["choices"] == []
    assert chunks[4]["usage"]["completion_tokens"] == 3


def test_stream_without_include_usage_has_no_usage_chunk() -> None:
    chunks = mock_script.stream_chunks(body("hi", stream=True), Script(words=2), "id1", 0)
    assert len(chunks) == 3
    assert all("usage" not in c for c in chunks)


def test_validate_request() -> None:
    for bad in ([], {"messages": []}, {"model": "m"}, {"model": "m", "messages": ["x"]}):
        try:
            mock_script.validate_request(bad)
        except mock_script.BadRequest:
            continue
        raise AssertionError(f"accepted {bad!r}")
    mock_script.validate_request(body("hi"))


def test_bad_usage_knobs_spoil_every_main_count() -> None:
    for knob, check in [
        ("usage_strings", lambda v: isinstance(v, str)),
        ("usage_huge", lambda v: v == 1e30),
        ("usage_negative", lambda v: isinstance(v, int) and v < 0),
    ]:
        b = body(f"hi mock:{knob}")
        script = mock_script.parse_script({}, b)
        assert script.bad_usage == knob
        chat = mock_script.usage(b, script)
        assert all(check(chat[k]) for k in ("prompt_tokens", "completion_tokens", "total_tokens"))
        responses = mock_script.responses_usage(b, script)
        assert all(check(responses[k]) for k in ("input_tokens", "output_tokens"))
        anthropic = mock_script.anthropic_usage(b, script, output=3)
        assert check(anthropic["input_tokens"]) and check(anthropic["output_tokens"])
    assert mock_script.parse_script({"x-mock-bad-usage": "usage_huge"}, body("hi")).bad_usage
    assert mock_script.usage(body("hi"), Script())["prompt_tokens"] == 5  # default: sane
