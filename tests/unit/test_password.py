"""The password out of its Secret: what makes it unusable is said without echoing it."""

import base64

import pytest
from ansible.module_utils.redisible_spec import password_of
from redis_harness import redisible_filters


def secret(**data):
    return [{"data": {k: base64.b64encode(v).decode() for k, v in data.items()}}]


@pytest.mark.parametrize("resources, key, problem", [
    ([], "password", "the Secret does not exist"),
    (secret(other=b"s3cret-pass"), "password", "the Secret has no key 'password'"),
    (secret(password=b"\xff\xfe-not-text"), "password", "the value is not UTF-8 text"),
    (secret(password=b""), "password", "the password is empty"),
    (secret(password=b"has blank 123"), "password",
     "the password must be 8 to 512 characters without blanks, quotes or backslashes"),
    (secret(password=b"short"), "password",
     "the password must be 8 to 512 characters without blanks, quotes or backslashes"),
])
def test_an_unusable_password_says_why_without_the_password(resources, key, problem):
    result = password_of(resources, key)
    assert result == {"problem": problem}


def test_a_usable_password_comes_out_decoded_through_the_filter():
    resources = secret(token=b"Xy7-long_enough.pass")
    assert password_of(resources, "token") == {"problem": None,
                                               "password": "Xy7-long_enough.pass"}
    assert redisible_filters()["redisible_password_of"](resources, "token") == {
        "problem": None, "password": "Xy7-long_enough.pass"}


def test_the_spec_check_is_reachable_through_the_filter():
    errors = redisible_filters()["redisible_spec_errors"](
        {"version": "4.0"}, "Redis", "r")
    assert any("version" in e for e in errors), errors
