"""GatewayFlask.ensure_sync: what Flask itself would return or raise, for every kind of callable."""

from __future__ import annotations

import functools

import pytest
from flask import Flask

from lingma_flask import create_app
from lingma_flask.web.flaskapp import GatewayFlask


def plain(x=None):
    return x


async def coroutine_function(x=None):
    return x


class Holder:
    def method(self):
        return "method"

    async def async_method(self):
        return "async method"

    def __call__(self):
        return "callable object"


CALLABLES = {
    "plain function": plain,
    "lambda": lambda: None,
    "async function": coroutine_function,
    "partial of an async function": functools.partial(coroutine_function, 1),
    "bound method": Holder().method,
    "bound async method": Holder().async_method,
    "callable object": Holder(),
    "builtin": len,
}


def _outcome(app, func):
    try:
        result = app.ensure_sync(func)
    except Exception as exc:   # Flask without its "async" extra refuses async views
        return ("raises", type(exc))
    return ("same", None) if result is func else ("wrapped", None)


@pytest.mark.parametrize("name", list(CALLABLES))
def test_each_callable_is_treated_as_flask_treats_it(name):
    func = CALLABLES[name]
    assert _outcome(GatewayFlask(__name__), func) == _outcome(Flask(__name__), func)


def test_plain_functions_come_back_as_they_are_and_async_ones_do_not():
    app = GatewayFlask(__name__)
    assert app.ensure_sync(plain) is plain
    assert _outcome(app, coroutine_function)[0] != "same"


def test_the_factory_builds_a_gateway_flask():
    assert isinstance(create_app({"LINGMA_API_KEYS": "sk-test"}), GatewayFlask)
