"""The mock provider: nginx answering canned OpenAI-compatible bodies with `return 200`.

nginx cannot branch on the request body, so streaming lives under its own prefix: a provider
with base URL `<mock>/v1` gets JSON, one with base URL `<mock>/s/v1` gets an SSE stream.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import procs

NGINX = "/usr/sbin/nginx"
TEMPLATE = Path(__file__).with_name("nginx.conf.tmpl")

REPLY_TEXT = (
    "The sea keeps its own counsel, folding light into salt and time while gulls argue "
    "above the slow grey swell"
)
REPLY_WORDS = tuple(REPLY_TEXT.split(" "))
PROMPT_TOKENS = 31
CREATED = 1700000000


def _compact(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"))


def _usage() -> dict[str, object]:
    completion = len(REPLY_WORDS)
    return {
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": completion,
        "total_tokens": PROMPT_TOKENS + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def json_body() -> str:
    """A realistic non-streaming chat.completion with `usage`."""
    return _compact(
        {
            "id": "chatcmpl-bench0000000000000000000001",
            "object": "chat.completion",
            "created": CREATED,
            "model": "bench-model",
            "system_fingerprint": "fp_bench",
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": REPLY_TEXT,
                        "refusal": None,
                    },
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": _usage(),
        }
    )


def sse_body() -> str:
    """A streamed chat.completion.chunk sequence: role, one chunk per word, finish, usage, DONE."""

    def chunk(choices: list[object], usage: object = None) -> str:
        event = {
            "id": "chatcmpl-bench0000000000000000000002",
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": "bench-model-stream",
            "system_fingerprint": "fp_bench",
            "choices": choices,
            "usage": usage,
        }
        return f"data: {_compact(event)}\n\n"

    def delta(content: dict[str, object], finish: str | None = None) -> list[object]:
        return [{"index": 0, "delta": content, "logprobs": None, "finish_reason": finish}]

    parts = [chunk(delta({"role": "assistant", "content": ""}))]
    parts += [
        chunk(delta({"content": w if i == 0 else f" {w}"})) for i, w in enumerate(REPLY_WORDS)
    ]
    parts.append(chunk(delta({}, "stop")))
    parts.append(chunk([], _usage()))
    parts.append("data: [DONE]\n\n")
    return "".join(parts)


def _nginx_quote(text: str) -> str:
    """Escape for a single-quoted nginx string (nginx understands \\\\, \\' and \\n)."""
    if "$" in text:
        raise ValueError("nginx would expand `$` in a return body")
    return text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")


def _pieces(body: str, limit: int = 2000) -> list[str]:
    """Split an SSE body at event boundaries into pieces of at most ~`limit` characters."""
    pieces: list[str] = []
    for event in body.split("\n\n")[:-1]:
        event += "\n\n"
        if pieces and len(pieces[-1]) + len(event) <= limit:
            pieces[-1] += event
        else:
            pieces.append(event)
    return pieces


def render_config(directory: Path, port: int) -> str:
    json_text = json_body()
    if len(json_text) > 2000:
        raise ValueError("the JSON body must fit one nginx config token")
    pieces = _pieces(sse_body())
    sets = "\n".join(
        f"            set $sse{i} '{_nginx_quote(piece)}';" for i, piece in enumerate(pieces)
    )
    values = {
        "DIR": str(directory),
        "PORT": str(port),
        "JSON_BODY": _nginx_quote(json_text),
        "SSE_SETS": sets,
        "SSE_VARS": "".join(f"$sse{i}" for i in range(len(pieces))),
    }
    text = TEMPLATE.read_text()
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    leftover = re.search(r"\{\{[A-Z_]+\}\}", text)
    if leftover:
        raise ValueError(f"unfilled placeholder {leftover.group(0)} in {TEMPLATE}")
    return text


@dataclass(frozen=True)
class Mock:
    child: procs.Child
    port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def json_base_url(self) -> str:
        """Provider base URL that answers non-streaming JSON."""
        return f"{self.base}/v1"

    @property
    def sse_base_url(self) -> str:
        """Provider base URL that answers an SSE stream."""
        return f"{self.base}/s/v1"


def start(directory: Path, *, cpu: int, log_dir: Path, children: procs.Children) -> Mock:
    """Render the config into `directory` and run nginx in the foreground as a child."""
    directory.mkdir(parents=True, exist_ok=True)
    port = procs.free_port()
    conf = directory / "nginx.conf"
    conf.write_text(render_config(directory, port))
    cmd = [NGINX, "-p", str(directory), "-c", str(conf), "-e", str(directory / "error.log")]
    test = subprocess.run([*cmd, "-t"], capture_output=True, text=True, check=False)
    if test.returncode != 0:
        raise procs.BenchError(f"nginx -t failed:\n{test.stderr}")
    child = children.add(procs.start("nginx", cmd, cpu=cpu, log_dir=log_dir))
    procs.wait_http_ok(f"http://127.0.0.1:{port}/v1/models", 10, child)
    return Mock(child=child, port=port)
