"""The real window, started the way `llamadesk` starts it, with timestamps: cold start and GUI stalls.

    python bench/gui_probe.py cold  --t0 T [--max-new-tokens N] [--engine app|torch]
    python bench/gui_probe.py stall [--max-new-tokens N] [--engine app|torch]

Run by `bench/run_all.py` in a subprocess with QT_QPA_PLATFORM=offscreen and LLAMADESK_HOME
holding the starter model. It repeats what `llamadesk.ui.app.run_app` does (the application with
its translator, the single-instance guard, the exception hook, `MainWindow`, `show`, the queued
starter check) and only watches from outside: an event filter notes the window's first paint, the
chat controller's signals note the model being loaded and the tokens arriving. Nothing in the app
is changed for it. The chat runs on the engine the app picks (llama.cpp for the starter's GGUF on a
CPU); `--engine torch` makes `SwitchingEngine` pick the torch engine instead, for the figures kept
beside the app's. The result says which engine answered and, for llama.cpp, with how many threads
(the app's default here: no thread count is configured, as for a user who never opened Settings).

cold   `--t0` is the parent's `time.time()` just before it started this process, so interpreter
       start and every import count. A question is sent the moment the window has painted, as a
       user typing at once would (it queues behind the model load the Chat tab starts on show):
       the figures are seconds from t0 to the first paint and to the first token's arrival on
       the GUI thread (the next paint follows within ChatView's 40 ms flush interval).
stall  a 1 ms precise QTimer on the GUI thread; the longest gap between two of its ticks is the
       longest time the event loop could not react: during the model load (from show until the
       model is loaded) and during streaming (from Send until the reply is saved and drawn). The
       question is sent only after the load, so the two phases stay apart.

Prints one JSON line `{"event": "result", ...}`."""

import argparse
import json
import sys
import time

QUESTION = "Count from 1 to 300, separated by commas."


def emit(record: dict) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["cold", "stall"])
    parser.add_argument("--t0", type=float, default=None, help="the parent's time.time() at launch")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--engine", choices=["app", "torch"], default="app")
    args = parser.parse_args(argv)
    t0 = args.t0 if args.t0 is not None else time.time()
    marks: dict[str, float] = {"imports_started": time.time() - t0}

    from PySide6.QtCore import QEvent, QObject, Qt, QTimer

    from llamadesk.core.generation import GenerationSettings
    from llamadesk.ui import app as app_module
    from llamadesk.ui.main_window import MainWindow

    marks["imports_done"] = time.time() - t0
    if args.engine == "torch":
        from engine_probe import _force_torch

        _force_torch()
    # run_app's steps, in its order.
    application = app_module.create_application([sys.argv[0]])
    if app_module.notify_running():
        emit({"event": "error", "message": "another LlamaDesk is running on this data folder"})
        return 1
    instance = app_module.SingleInstance(parent=application)
    instance.listen()
    app_module._install_excepthook()
    window = MainWindow()
    chat = window.chat_view
    chat.set_settings(
        GenerationSettings(temperature=0.0, repetition_penalty=1.0, max_new_tokens=args.max_new_tokens)
    )

    gaps: dict[str, list[tuple[float, float]]] = {"load": [], "stream": []}  # (ms, s after t0)
    phase = {"name": "load"}
    last_tick = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        if phase["name"] in gaps:
            gaps[phase["name"]].append(((now - last_tick[0]) * 1000, time.time() - t0))
        last_tick[0] = now

    ticker = QTimer()
    ticker.setTimerType(Qt.TimerType.PreciseTimer)
    ticker.setInterval(1)
    ticker.timeout.connect(tick)

    def send() -> None:
        marks["sent"] = time.time() - t0
        phase["name"] = "stream"
        chat.input.setPlainText(QUESTION)
        chat.send()

    class FirstPaint(QObject):
        def eventFilter(self, _watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
            if event.type() == QEvent.Type.Paint and "window_painted" not in marks:
                marks["window_painted"] = time.time() - t0
                if args.mode == "cold":
                    QTimer.singleShot(0, send)
            return False

    painted = FirstPaint()
    window.installEventFilter(painted)

    engine_info: dict = {}

    def loaded(info: dict) -> None:
        marks["model_loaded"] = time.time() - t0
        engine_info.update(engine=info.get("engine"), engine_reason=info.get("engine_reason"))
        if args.mode == "stall":
            phase["name"] = "between"
            QTimer.singleShot(200, send)

    def first_token(_request: int, _piece: str) -> None:
        marks.setdefault("first_token", time.time() - t0)

    def finished(*_args: object) -> None:
        marks["reply_done"] = time.time() - t0
        llm = getattr(chat.controller.worker.engine, "llm", None)  # the worker is idle now
        if llm is not None:
            import llama_cpp

            engine_info["engine_threads"] = int(llama_cpp.llama_n_threads(llm.ctx))
        # The saved reply was drawn before this signal; the next tick still counts, closing not.
        QTimer.singleShot(0, lambda: phase.update(name="done"))
        QTimer.singleShot(50, window.close)

    def failed(message: str) -> None:
        marks["error"] = message
        window.close()

    chat.controller.model_loaded.connect(loaded)
    chat.controller.token_received.connect(first_token)
    chat.reply_finished.connect(finished)
    chat.reply_failed.connect(failed)
    chat.controller.load_failed.connect(failed)
    if args.mode == "stall":
        ticker.start()
    window.show()
    marks["show_called"] = time.time() - t0
    QTimer.singleShot(0, window.import_starter_if_needed)
    QTimer.singleShot(300_000, window.close)  # a hung run still ends and says so
    application.exec()
    ticker.stop()
    result = {"event": "result", "mode": args.mode, "marks_s": marks} | engine_info
    result["torch_imported"] = "torch" in sys.modules
    if args.mode == "cold":
        result["cold_start_window_s"] = marks.get("window_painted")
        result["first_token_s"] = marks.get("first_token")
    else:
        for name, values in gaps.items():
            values = sorted(values)
            result[f"{name}_max_stall_ms"] = values[-1][0] if values else None
            result[f"{name}_p99_stall_ms"] = values[int(0.99 * (len(values) - 1))][0] if values else None
            result[f"{name}_ticks"] = len(values)
            # The five longest, with the moment each ended: matched against marks_s, they say which
            # step of the load or the reply held the event loop.
            result[f"{name}_worst"] = [
                {"ms": round(ms, 1), "ended_s": round(at, 3)} for ms, at in values[-5:]
            ]
        result["gui_max_stall_ms"] = max(
            (result[f"{n}_max_stall_ms"] for n in gaps if result[f"{n}_max_stall_ms"] is not None),
            default=None,
        )
    emit(result)
    return 0 if "error" not in marks else 1


if __name__ == "__main__":
    raise SystemExit(main())
