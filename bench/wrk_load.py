"""Load generation with wrk: a generated Lua script POSTs a JSON body and prints a JSON summary."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cpustat import CpuShare, Sampler

WRK = "/usr/bin/wrk"
MARKER = "BENCH_JSON "

LUA = """\
wrk.method = "POST"
wrk.body = [==[{body}]==]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {key}"
{extra}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{marker}{{"requests":%d,"duration_us":%d,"bytes":%d,"connect_errors":%d,' ..
    '"read_errors":%d,"write_errors":%d,"status_errors":%d,"timeouts":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean))
end
"""


# Requests cycle through the variants in a tab-separated file (key, then header name /
# value pairs, one variant a line), pre-formatted once per wrk thread in init().
ROTATE_LUA = """\
local requests = {{}}
local n = 0

init = function(args)
  for line in io.lines("{variants}") do
    local fields = {{}}
    for field in string.gmatch(line, "[^\\t]+") do fields[#fields + 1] = field end
    local headers = {{}}
    for name, value in pairs(wrk.headers) do headers[name] = value end
    headers["Authorization"] = "Bearer " .. fields[1]
    for j = 2, #fields - 1, 2 do headers[fields[j]] = fields[j + 1] end
    requests[#requests + 1] = wrk.format(nil, nil, headers, nil)
  end
end

request = function()
  n = n % #requests + 1
  return requests[n]
end
"""

Headers = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Variant:
    """One request of a rotation: its gateway key and extra headers."""

    key: str
    headers: Headers = ()


@dataclass(frozen=True)
class Request:
    """What every wrk connection sends: the same request, or `rotate` in turn when given."""

    url: str
    body: str
    key: str
    headers: Headers = ()
    rotate: tuple[Variant, ...] = ()


@dataclass(frozen=True)
class Result:
    requests: int
    duration_us: int
    bytes: int
    connect_errors: int
    read_errors: int
    write_errors: int
    status_errors: int
    timeouts: int
    p50_us: int
    p90_us: int
    p99_us: int
    max_us: int
    mean_us: float
    connections: int
    cpu: CpuShare | None = None

    @property
    def rps(self) -> float:
        return self.requests / (self.duration_us / 1e6) if self.duration_us else 0.0

    @property
    def errors(self) -> int:
        """Socket errors, timeouts and HTTP statuses >= 400 (wrk's `status` counter)."""
        return (
            self.connect_errors
            + self.read_errors
            + self.write_errors
            + self.status_errors
            + self.timeouts
        )


_UNSAFE = frozenset('"\\\t\r\n')


def _safe(text: str) -> str:
    if _UNSAFE & set(text):
        raise ValueError("a key or header cannot be embedded in the Lua script")
    return text


def write_script(request: Request, path: Path) -> Path:
    if "]==]" in request.body:
        raise ValueError("body cannot be embedded in the Lua script")
    extra = "".join(f'wrk.headers["{_safe(k)}"] = "{_safe(v)}"\n' for k, v in request.headers)
    text = LUA.format(body=request.body, key=_safe(request.key), marker=MARKER, extra=extra)
    if request.rotate:
        variants = path.with_suffix(".tsv")
        variants.write_text(
            "".join(
                "\t".join(_safe(x) for x in (v.key, *(y for h in v.headers for y in h))) + "\n"
                for v in request.rotate
            )
        )
        text += ROTATE_LUA.format(variants=_safe(str(variants)))
    path.write_text(text)
    return path


def run(
    request: Request,
    *,
    connections: int,
    seconds: float,
    cpu: int,
    script_dir: Path,
    sut_pid: int | None = None,
    threads: int = 1,
) -> Result:
    """Run wrk pinned to `cpu` and return its summary (latency in microseconds).

    CPU use during the run is sampled, with the SUT's own share when `sut_pid` is given.
    """
    script = write_script(request, script_dir / "post.lua")
    cmd = [
        "taskset",
        "-c",
        str(cpu),
        WRK,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(script),
        request.url,
    ]
    with Sampler(sut_pid) as sampler:
        out = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=seconds + 60)
    for line in out.stdout.splitlines():
        if line.startswith(MARKER):
            fields = json.loads(line[len(MARKER) :])
            return Result(**fields, connections=connections, cpu=sampler.share)
    raise RuntimeError(f"wrk gave no summary (rc {out.returncode}):\n{out.stdout}\n{out.stderr}")
