"""The local OpenAI-compatible server as a client sees it: streamed decode speed, time to first token
and the server process's peak memory. `bench/run_all.py` runs it in a subprocess of its own.

    python bench/serve_probe.py --model ID [--repeats 5] [--max-new-tokens 128]

It starts the server as a user does, `llamadesk serve --port P` (the console script next to this
Python, with the runner's environment: LLAMADESK_HOME, the thread variables), on a free port of
127.0.0.1, waits until `GET /v1/models` answers, and talks plain HTTP with the standard library
(`http.client`), as any OpenAI client would:

- one streamed warm-up request of 8 tokens (the server loads the model on its first request; that
  request's time is reported as `first_request_s`);
- `--repeats` times: a one-token request for "Hello." (a different first message, so the next
  request finds nothing of its prompt in the engine's kept keys and values, as
  `engine_probe.py decode` does between its replies), then a streamed (SSE) `/v1/chat/completions`
  request of the counting prompt `engine_probe.py decode` uses, greedy (temperature 0, repetition
  penalty 1, seed 0), `max_tokens` `--max-new-tokens`, with `stream_options.include_usage`.

Per reply: time to first token (the request sent → the first chunk with content), decode tokens/s
(the usage field's completion tokens after the first, over the time from the first content chunk to
the last, as the engine probe counts from its first piece to its last), and the text.

Memory: the server process's RSS polled every 20 ms by psutil from here, and its kernel high-water
mark (VmHWM of /proc/PID/status) read just before it is stopped with SIGINT (Ctrl+C); the peak is
the higher, over the bytes of the model's GGUF file. Its RSS once it answers and before the model
loads (python, uvicorn, starlette and the app's imports) is reported beside it.

Prints one JSON line `{"event": "result", ...}`."""

import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from engine_probe import COUNT_PROMPT, emit, status_bytes

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def server_command(port: int) -> list[str]:
    """`llamadesk serve --port P` as the user types it: the venv's console script, else `-m`."""
    script = Path(sys.executable).with_name("llamadesk")
    prefix = [str(script)] if script.is_file() else [sys.executable, "-m", "llamadesk"]
    return [*prefix, "serve", "--host", HOST, "--port", str(port)]


class RssPoll:
    """The highest RSS of process `pid`, polled on a thread of its own."""

    def __init__(self, pid: int, interval_s: float = 0.02) -> None:
        import psutil

        self.peak = 0
        self._process = psutil.Process(pid)
        self._done = threading.Event()
        self._interval = interval_s
        self._thread = threading.Thread(target=self._run, name="rss-poll", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psutil

        try:
            while not self._done.wait(self._interval):
                self.peak = max(self.peak, self._process.memory_info().rss)
        except psutil.Error:  # it exited
            pass

    def stop(self) -> int:
        self._done.set()
        self._thread.join()
        return self.peak


def wait_until_serving(port: int, server: subprocess.Popen, timeout_s: float = 120.0) -> float:
    """Seconds until GET /v1/models answers 200 (the socket listens before uvicorn serves on it)."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout_s:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with {server.returncode} before it served")
        try:
            connection = http.client.HTTPConnection(HOST, port, timeout=5)
            connection.request("GET", "/v1/models")
            response = connection.getresponse()
            response.read()
            connection.close()
            if response.status == 200:
                return time.perf_counter() - started
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"the server did not answer on port {port} within {timeout_s:.0f} s")


def _body(model: str, content: str, max_tokens: int, stream: bool) -> dict:
    body = {
        "model": model,
        "messages": [{"role": "user", "content": content}],
        "temperature": 0,
        "repetition_penalty": 1.0,
        "seed": 0,
        "max_tokens": max_tokens,
        "stream": stream,
    }
    if stream:
        body["stream_options"] = {"include_usage": True}
    return body


def whole(port: int, model: str, content: str, max_tokens: int) -> dict:
    connection = http.client.HTTPConnection(HOST, port, timeout=600)
    connection.request(
        "POST",
        "/v1/chat/completions",
        json.dumps(_body(model, content, max_tokens, False)),
        {"Content-Type": "application/json"},
    )
    response = connection.getresponse()
    answer = json.loads(response.read())
    connection.close()
    if response.status != 200:
        raise SystemExit(f"the server answered {response.status}: {answer}")
    return answer


def streamed(port: int, model: str, content: str, max_tokens: int) -> dict:
    """One streamed chat completion, each server-sent event stamped as it arrives."""
    connection = http.client.HTTPConnection(HOST, port, timeout=600)
    body = json.dumps(_body(model, content, max_tokens, True))
    started = time.perf_counter()
    connection.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
    response = connection.getresponse()
    if response.status != 200:
        raise SystemExit(f"the server answered {response.status}: {response.read()[:500]!r}")
    stamps: list[float] = []
    pieces: list[str] = []
    usage: dict = {}
    finish = None
    events = 0
    while line := response.readline():
        if not line.startswith(b"data:"):
            continue  # blank separators, ": ping" comments
        data = line[5:].strip()
        if data == b"[DONE]":
            break
        events += 1
        chunk = json.loads(data)
        if "error" in chunk:
            raise SystemExit(f"the server's stream failed: {chunk['error']}")
        usage = chunk.get("usage") or usage
        for choice in chunk.get("choices", []):
            if text := choice.get("delta", {}).get("content"):
                stamps.append(time.perf_counter())
                pieces.append(text)
            finish = choice.get("finish_reason") or finish
    ended = time.perf_counter()
    connection.close()
    tokens = int(usage.get("completion_tokens", 0))
    span = stamps[-1] - stamps[0] if stamps else 0.0
    return {
        "tokens": tokens,
        "prompt_tokens": int(usage.get("prompt_tokens", 0)),
        "pieces": len(pieces),
        "events": events,
        "decode_tokens_per_s": (tokens - 1) / span if tokens > 1 and span > 0 else 0.0,
        "ttft_s": stamps[0] - started if stamps else None,
        "request_s": ended - started,
        "finish_reason": finish,
        "text": "".join(pieces),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="library model id")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    args = parser.parse_args(argv)

    from llamadesk.core import library

    gguf = library.get_model(args.model).gguf_path
    file_bytes = gguf.stat().st_size if gguf else None

    port = free_port()
    command = server_command(port)
    launched = time.perf_counter()
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    poll = RssPoll(server.pid)
    runs: list[dict] = []
    try:
        serving_s = wait_until_serving(port, server)
        idle_rss = status_bytes("VmRSS", server.pid)
        started = time.perf_counter()
        warm = streamed(port, args.model, COUNT_PROMPT, 8)
        first_request_s = time.perf_counter() - started
        rss_after_load = status_bytes("VmRSS", server.pid)
        for index in range(args.repeats):
            whole(port, args.model, "Hello.", 1)
            runs.append(streamed(port, args.model, COUNT_PROMPT, args.max_new_tokens))
            emit(
                {"event": "reply", "index": index, "tokens_per_s": round(runs[-1]["decode_tokens_per_s"], 2)}
            )
        vm_hwm = status_bytes("VmHWM", server.pid) or 0
        vm_rss_end = status_bytes("VmRSS", server.pid)
    finally:
        polled = poll.stop()
        if server.poll() is None:
            server.send_signal(signal.SIGINT)  # Ctrl+C, as a user stops it
        try:
            _out, err = server.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            _out, err = server.communicate()
        sys.stderr.write(err or "")
    peak = max(vm_hwm, polled)
    text = runs[-1]["text"] if runs else ""
    same_text = len({run["text"] for run in runs}) <= 1  # greedy: every reply alike
    for run in runs:
        run.pop("text", None)
    emit(
        {
            "event": "result",
            "backend": "llamadesk serve",
            "command": " ".join(Path(c).name if i == 0 else c for i, c in enumerate(command)),
            "decode_tokens_per_s": statistics.median(r["decode_tokens_per_s"] for r in runs),
            "ttft_s": statistics.median(r["ttft_s"] for r in runs),
            "tokens": runs[-1]["tokens"],
            "prompt_tokens": runs[-1]["prompt_tokens"],
            "text": text,
            "same_text_every_reply": same_text,
            "runs": runs,
            "warm_up": {k: v for k, v in warm.items() if k != "text"},
            "serving_after_s": serving_s,
            "launch_to_first_reply_s": time.perf_counter() - launched,
            "first_request_s": first_request_s,
            "server_peak_rss_bytes": peak,
            "server_vm_hwm_bytes": vm_hwm,
            "server_polled_peak_rss_bytes": polled,
            "server_rss_serving_before_load_bytes": idle_rss,
            "server_rss_after_load_bytes": rss_after_load,
            "server_rss_end_bytes": vm_rss_end,
            "gguf_bytes": file_bytes,
            "gguf_path": str(gguf) if gguf else None,
            "peak_rss_over_file": peak / file_bytes if file_bytes else None,
            "requests": 1 + 2 * args.repeats,
            "server_exit": server.returncode,
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        }
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
