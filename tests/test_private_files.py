"""`chat-service privacy export -o` and `chat-service check`: files of personal data and key age warnings."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chat_service.crypto import KeyRing
from tests.helpers import SecantusProcess
from tests.retention_helpers import NOW, RetentionEnv, Visitor, days_ago


@pytest.fixture
def renv(secantus: SecantusProcess, tmp_path: Path) -> RetentionEnv:
    return RetentionEnv(secantus.uri, tmp_path / "files")


async def _one(renv: RetentionEnv) -> str:
    async with renv.open() as (_, seed):
        return await seed.conversation(days_ago(1), ["Geheim 0611112222"], visitor=Visitor(name="Fenna Export"))


async def test_export_refuses_an_existing_file_unless_asked_and_never_follows_a_symlink(renv: RetentionEnv) -> None:
    conversation = await _one(renv)
    existing = renv.workdir / "existing.json"
    existing.write_text("earlier export")
    existing.chmod(0o644)
    refused = renv.privacy("export", "--conversation", conversation, "-o", str(existing))
    assert refused.returncode == 1 and "already exists" in refused.stderr and "--overwrite" in refused.stderr
    assert existing.read_text() == "earlier export"

    victim = renv.workdir / "victim.txt"
    victim.write_text("not yours")
    link = renv.workdir / "link.json"
    link.symlink_to(victim)
    for extra in ((), ("--overwrite",)):
        result = renv.privacy("export", "--conversation", conversation, "-o", str(link), *extra)
        assert result.returncode == 1 and "symbolic link" in result.stderr
        assert victim.read_text() == "not yours" and link.is_symlink()
    dangling = renv.workdir / "dangling.json"
    dangling.symlink_to(renv.workdir / "planted.json")
    result = renv.privacy("export", "--conversation", conversation, "-o", str(dangling))
    assert result.returncode == 1 and not (renv.workdir / "planted.json").exists()

    replaced = renv.privacy("export", "--conversation", conversation, "-o", str(existing), "--overwrite")
    assert replaced.returncode == 0, replaced.stderr
    assert "Fenna Export" in existing.read_text() and existing.stat().st_mode & 0o777 == 0o600
    fresh = renv.workdir / "fresh.json"
    created = renv.privacy("export", "--conversation", conversation, "-o", str(fresh))
    assert created.returncode == 0 and fresh.stat().st_mode & 0o777 == 0o600
    assert json.loads(fresh.read_text())["conversations"][0]["id"] == conversation


def test_check_warns_about_a_master_key_kept_past_the_window(renv: RetentionEnv) -> None:
    now = datetime.now(UTC)
    fresh = KeyRing.generate(now - timedelta(days=2))
    fresh.save(renv.master_keys)
    quiet = renv.chat_service("check")
    assert "warning" not in quiet.stderr, quiet.stderr

    # Created 50 days ago, retired 40 days ago: the 30-day window has passed and it is still here.
    stale = KeyRing.generate(now - timedelta(days=50)).with_new_key(now - timedelta(days=40))
    stale.save(renv.master_keys)
    warned = renv.chat_service("check")
    old_id = next(k for k in stale.key_ids if k != stale.active_id)
    assert f"warning: master key {old_id} was retired" in warned.stderr
    renv.extra_env["CHAT_SHREDDING_WINDOW_DAYS"] = "60"
    assert "warning" not in renv.chat_service("check").stderr


async def test_a_key_ring_that_cannot_be_written_fails_the_key_step_not_the_run(renv: RetentionEnv) -> None:
    """The ring is read through a symlink but never written through one: the policies still run,
    the rotation is reported as a failure (exit 1) and the ring is left exactly as it was."""
    async with renv.open() as (_, seed):
        await seed.conversation(days_ago(40), ["Bel me op 0611112222"], visitor=Visitor(name="Fenna Ring"))
    real = renv.workdir / "elsewhere.keys"
    renv.master_keys.rename(real)
    renv.master_keys.symlink_to(real)
    before = real.read_bytes()

    result = renv.retention("run", "--now", NOW.isoformat(), "--json")
    assert result.returncode == 1, result.stderr
    run = json.loads(result.stdout)
    assert run["policies"]["pseudonymise-30d"]["done"] == 1  # the policies ran
    assert run["keys"]["rotated_to"] is None and "symbolic link" in run["keys"]["skipped"]
    assert [f["policy"] for f in run["failures"]] == ["key-epochs"]
    assert real.read_bytes() == before and renv.master_keys.is_symlink()
