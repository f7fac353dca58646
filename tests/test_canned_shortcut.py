"""A canned response's shortcut in a bad format is refused with a message that says the format."""

from __future__ import annotations

from tests.helpers import ServerProcess
from tests.test_console_api import admin_api


async def test_a_bad_shortcut_is_refused_with_the_expected_format(server: ServerProcess) -> None:
    api = await admin_api(server)
    for bad in ("Hello", "-x", "with space", "a" * 33, ""):
        status, problem = await api.request("POST", "/api/canned", {"shortcut": bad, "title": "T", "text": "x"})
        assert status == 400 and problem["code"] == "invalid_input", bad
        assert problem["details"]["field"] == "shortcut", bad
        if len(bad) <= 32:
            assert "lower-case letters, digits, '_' or '-'" in problem["message"], problem
    assert server.db().canned.count_documents({}) == 0
    status, _ = await api.request("POST", "/api/canned", {"shortcut": "ship-times_2", "title": "T", "text": "x"})
    assert status == 200
