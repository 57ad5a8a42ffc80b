"""The Firefox test driver's reading of "A ServiceWorker intercepted the request and
encountered an unexpected error" (tests/browser/firefox.py, ``FirefoxPage.abandoned``): a
report with a URL is an error unless BiDi says the page aborted that request, before or after
the report."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from tests.browser.browsers import ErrorLog
from tests.browser.firefox import FirefoxPage

URL = "http://127.0.0.1:1/planktos/agent.0123456789abcdef.js"
TEXT = (
    f"Failed to load \u2018{URL}\u2019. "
    "A ServiceWorker intercepted the request and encountered an unexpected error."
)


def page() -> tuple[FirefoxPage, ErrorLog]:
    errors = ErrorLog()
    context: Any = SimpleNamespace(errors=errors, who="A")
    return FirefoxPage(context=context, id="tab"), errors


def test_an_abort_before_the_report_explains_it() -> None:
    tab, errors = page()
    tab.gave_up(URL)
    assert tab.abandoned({"text": TEXT})
    assert not errors.failed()


def test_an_abort_after_the_report_explains_it() -> None:
    tab, errors = page()
    assert tab.abandoned({"text": TEXT})
    assert errors.failed()  # until the abort comes
    tab.gave_up(URL)
    assert not errors.failed()


def test_a_report_no_abort_explains_is_an_error() -> None:
    tab, errors = page()
    tab.gave_up("http://127.0.0.1:1/other.js")
    assert tab.abandoned({"text": TEXT})
    assert errors.failed()
    assert URL in errors.report()


def test_other_messages_are_not_handled_here() -> None:
    tab, errors = page()
    assert not tab.abandoned({"text": "TypeError: x is undefined"})
    assert not errors.failed()
