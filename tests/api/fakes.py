"""A fake LingmaPool and ChatStream implementing exactly the contract in docs/architecture.md."""

from __future__ import annotations

import time

from lingma_flask.lingma.models import ModelInfo
from lingma_flask.lingma.settings import CoreSettings
from lingma_flask.lingma.stream import Thought

TICK = object()  # a script item: one quiet interval (events() yields None)

DEFAULT_MODELS = (
    ModelInfo("qwen3-coder", "Qwen3-Coder", ("chat",), is_default=True),
    ModelInfo("auto", "Auto", ("chat",)),
    ModelInfo("kmodel", "Kimi-K2", ("chat",), is_reasoning=True),
    ModelInfo("vl", "Qwen-VL", ("chat",), is_vl=True),
)


class FakeStream:
    """A ChatStream scripted with chunks, TICKs (quiet intervals), delays and errors."""

    def __init__(self, script, *, model_key=None, instance_name="fake-0"):
        self.script = list(script)
        self.request_id = "r-1"
        self.session_id = "s-1"
        self.model_key = model_key
        self.instance_name = instance_name
        self.text = ""
        self.finish = None
        self.done = False
        self.cancel_calls: list[str] = []
        self.close_calls = 0
        self.waits: list = []

    def __iter__(self):
        for item in self.events(None):
            if item is not None:
                yield item

    def events(self, wait, coalesce=False, reasoning=False):
        """Play the script: str -> chunk, Thought -> reasoning, TICK -> None, float -> sleep,
        exception -> raise."""
        self.waits.append(wait)
        while self.script and not self.done:
            item = self.script.pop(0)
            if item is TICK:
                yield None
            elif isinstance(item, Thought):
                if reasoning:
                    yield item
            elif isinstance(item, float):
                time.sleep(item)
            elif isinstance(item, BaseException):
                self.done = True
                raise item
            else:
                self.text += item
                yield item
        self.done = True

    def cancel(self, reason=""):
        self.cancel_calls.append(reason)
        self.done = True

    def close(self):
        self.close_calls += 1
        self.done = True


class FakePool:
    """A LingmaPool stand-in: `ask` returns the next scripted FakeStream, or raises.

    Like FakeStream, it implements the pipeline's Protocols (pipeline/ports.py: test_ports.py).
    """

    def __init__(self, models=DEFAULT_MODELS, *, ready=True, simulator=False, settings=None):
        self.settings = settings if settings is not None else CoreSettings()
        self._models = list(models)
        self.ready = ready
        self.using_simulator = simulator
        self.asks: list[tuple] = []
        self.images: list[tuple] = []
        self.awaited: list[float] = []
        self.open = 0                   # chats open (what open_streams reports)
        self.streams: list[FakeStream] = []
        self.scripts: list = []
        self.ask_error: BaseException | None = None
        self.models_error: BaseException | None = None
        self.started = self.stopped = 0
        self.drained: list[str] = []
        self.context_limit: int | None = None   # what an instance reported (ACP limitTokens)

    def script(self, *items) -> None:
        """Queue the script of the next stream."""
        self.scripts.append(items)

    def start(self):
        self.started += 1

    def stop(self, timeout=10.0):
        self.stopped += 1

    def begin_shutdown(self):
        self.shutting_down = True

    def drain(self, message="The gateway is shutting down"):
        self.drained.append(message)
        return self.open

    def open_streams(self):
        return self.open

    def wait_ready(self, timeout):
        return self.ready

    def await_ready(self, timeout):
        self.awaited.append(timeout)
        return self.ready

    def ask(self, prompt, model_key, *, ask_mode=None, images=(), tenant=None):
        self.asks.append((prompt, model_key, ask_mode))
        self.images.append(tuple(images))
        if self.ask_error is not None:
            raise self.ask_error
        script = self.scripts.pop(0) if self.scripts else ("Hello", " world")
        stream = FakeStream(script, model_key=model_key)
        self.streams.append(stream)
        return stream

    def models(self):
        if self.models_error is not None:
            raise self.models_error
        return list(self._models)

    def refresh_models(self):
        return self.models()

    def context_window(self, model_key):
        for info in self._models:
            if info.key == model_key and info.max_input_tokens:
                return info.max_input_tokens
        return self.context_limit

    def health(self):
        return {"ready": self.ready, "simulator": self.using_simulator,
                "instances": [{"name": "fake-0", "state": "ready" if self.ready else "starting"}]}

    @property
    def last(self) -> FakeStream:
        """The most recent stream."""
        return self.streams[-1]

