"""The serving commands: ``jifen audit verify|head`` and ``jifen keys create|list|revoke``."""

import pytest
from typer.testing import CliRunner

from jifen.cli import app
from serving.core.config import PostgresTarget, SqliteTarget
from serving.core.db import Store
from tests.serving.conftest import Backend, make_draft

runner = CliRunner()


def _dsn(backend: Backend) -> str:
    if isinstance(backend.target, SqliteTarget):
        return f"sqlite:///{backend.target.path}"
    assert isinstance(backend.target, PostgresTarget)
    return backend.target.dsn


def test_audit_verify_exits_0_when_chain_is_intact(backend: Backend, store: Store) -> None:
    """An untouched log passes and reports its record count and head."""
    last = [store.append(make_draft(i)) for i in range(3)][-1]
    result = runner.invoke(app, ["audit", "verify", "--dsn", _dsn(backend)])
    assert result.exit_code == 0, result.output
    assert "audit chain intact: 3 records in 1 lane(s); lane 0 head #3" in result.output
    assert last.hash in result.output


def test_audit_verify_exits_1_and_names_records_when_chain_is_tampered(
    backend: Backend, store: Store
) -> None:
    """A deleted and an altered record are both named with sequence, decision id and problem."""
    ids = [store.append(make_draft(i)).decision_id for i in range(5)]
    backend.tamper(
        "DELETE FROM audit_records WHERE sequence = 2",
        "UPDATE audit_records SET body = replace(body, 'approve', 'decline') WHERE sequence = 4",
    )
    result = runner.invoke(app, ["audit", "verify", "--dsn", _dsn(backend)], terminal_width=200)
    assert result.exit_code == 1, result.output
    assert "audit chain broken: 2 problem(s) in 4 records" in result.output
    lines = result.output.splitlines()
    assert any(ids[2] in line and "removed" in line and "#2 missing" in line for line in lines)
    assert any(ids[3] in line and "altered" in line for line in lines)


def test_audit_verify_with_anchor_exits_1_when_tail_was_truncated(
    sqlite_backend: Backend,
) -> None:
    """`audit head` prints an anchor; `verify --anchor` catches the loss of the last record."""
    store = sqlite_backend.open()
    for i in range(3):
        store.append(make_draft(i))
    dsn = _dsn(sqlite_backend)
    anchor = runner.invoke(app, ["audit", "head", "--dsn", dsn]).stdout.strip()
    assert anchor.startswith("0:3:")
    sqlite_backend.tamper("DELETE FROM audit_records WHERE sequence = 3")
    assert runner.invoke(app, ["audit", "verify", "--dsn", dsn]).exit_code == 0
    result = runner.invoke(app, ["audit", "verify", "--dsn", dsn, "--anchor", anchor])
    assert result.exit_code == 1
    assert "truncated" in result.output
    store.close()


def test_audit_verify_exits_2_with_a_message_when_dsn_is_invalid() -> None:
    """A DSN with an unknown scheme is one red line, not a traceback."""
    result = runner.invoke(app, ["audit", "verify", "--dsn", "mysql://db/x"])
    assert result.exit_code == 2
    assert "audit_dsn must start with 'sqlite:///'" in result.output


def test_keys_create_prints_the_key_once_and_list_shows_it_without_secret(
    sqlite_backend: Backend,
) -> None:
    """The key goes to stdout once; list and revoke use the key id only."""
    dsn = _dsn(sqlite_backend)
    created = runner.invoke(
        app, ["keys", "create", "--role", "scorer", "--name", "bank A", "--dsn", dsn]
    )
    assert created.exit_code == 0, created.output
    full = created.stdout.strip()
    assert full.startswith("jf_")
    key_id, secret = full.split("_", 2)[1:]
    listed = runner.invoke(app, ["keys", "list", "--dsn", dsn], terminal_width=200)
    assert key_id in listed.output and "bank A" in listed.output and "scorer" in listed.output
    assert secret not in listed.output
    revoked = runner.invoke(app, ["keys", "revoke", key_id, "--dsn", dsn])
    assert revoked.exit_code == 0 and f"revoked key {key_id}" in revoked.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["keys", "create", "--role", "root"], "must be one of scorer, auditor, admin"),
        (["keys", "revoke", "nope"], "API key 'nope' does not exist"),
    ],
)
def test_keys_commands_explain_bad_input(
    sqlite_backend: Backend, args: list[str], message: str
) -> None:
    """An unknown role or key id is named in the error."""
    result = runner.invoke(app, [*args, "--dsn", _dsn(sqlite_backend)], terminal_width=200)
    assert result.exit_code == 2
    assert message in result.output


def test_every_serving_command_has_help() -> None:
    """--help works on each command and group."""
    for args in (
        ["serve"],
        ["audit"],
        ["audit", "verify"],
        ["audit", "head"],
        ["keys"],
        ["keys", "create"],
        ["keys", "list"],
        ["keys", "revoke"],
    ):
        result = runner.invoke(app, [*args, "--help"])
        assert result.exit_code == 0, (args, result.output)
        assert "Usage:" in result.output


def test_audit_verify_and_head_cover_every_lane(sqlite_backend: Backend) -> None:
    """Two writers, two lanes: head prints an anchor per lane; verify names a lane's tampered
    record by lane, then the lane file's disappearance."""
    owner, second = sqlite_backend.open(), sqlite_backend.open()
    for i in range(3):
        owner.append(make_draft(i))
        second.append(make_draft(10 + i))
    second.close()
    owner.close()
    dsn = _dsn(sqlite_backend)
    heads = runner.invoke(app, ["audit", "head", "--dsn", dsn]).stdout.split()
    assert [h.split(":")[:2] for h in heads] == [["0", "3"], ["1", "3"]]
    result = runner.invoke(
        app, ["audit", "verify", "--dsn", dsn, *(arg for h in heads for arg in ("--anchor", h))]
    )
    assert result.exit_code == 0, result.output
    assert "audit chain intact: 6 records in 2 lane(s)" in result.output

    assert isinstance(sqlite_backend.target, SqliteTarget)
    path = sqlite_backend.target.path
    lane1 = path.with_name(f"{path.stem}.lane1{path.suffix}")
    Backend("sqlite", SqliteTarget(lane1)).tamper("DELETE FROM audit_records WHERE sequence = 3")
    result = runner.invoke(
        app, ["audit", "verify", "--dsn", dsn, "--anchor", heads[1]], terminal_width=200
    )
    assert result.exit_code == 1, result.output
    assert "lane 1 #3" in result.output and "truncated" in result.output

    lane1.unlink()
    result = runner.invoke(app, ["audit", "verify", "--dsn", dsn], terminal_width=200)
    assert result.exit_code == 1, result.output
    assert "lane 1: its file" in result.output and "is missing" in result.output
