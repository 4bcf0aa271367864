"""The helpers the services' HTTP tests check answers with."""

from __future__ import annotations

import httpx
import pytest

from crm_runtime.testing import assert_shows_none

SECRETS = ["ada@example.com", "+4930901820"]


def answered(url: str, text: str, body: bytes = b"") -> httpx.Response:
    return httpx.Response(404, text=text, request=httpx.Request("POST", url, content=body))


def test_an_answer_that_shows_a_secret_the_caller_did_not_send_fails() -> None:
    answer = answered("http://t/customers/cus_ada", '{"detail": "ada@example.com"}')
    with pytest.raises(AssertionError):
        assert_shows_none(answer, SECRETS)


def test_an_answer_may_echo_a_secret_the_request_carried_in_its_path_or_body() -> None:
    """A 404 names the id asked for: a fuzzer asking for ``+493090182099`` gets it back."""
    by_path = answered(
        "http://t/customers/%2B493090182099/erasure", '{"detail": "no customer +493090182099"}'
    )
    by_body = answered("http://t/customers", '{"detail": "ada@example.com"}', b"ada@example.com")
    assert_shows_none(by_path, SECRETS)
    assert_shows_none(by_body, SECRETS)
    with pytest.raises(AssertionError):  # what it did not send is still a leak
        assert_shows_none(
            answered("http://t/x/%2B4930901820", "+4930901820 ada@example.com"), SECRETS
        )
