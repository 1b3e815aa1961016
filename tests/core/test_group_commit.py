"""The group commit's hand-off, without a database: each request gets its own row, a failure reaches only
the requests of its batch, and the writer thread survives it. (On PostgreSQL:
``tests/integration/test_postback_group_commit.py``.)"""

from __future__ import annotations

import threading

import pytest

from contentflow.services.group_commit import GroupCommit, GroupCommitFailed


class EchoCommit(GroupCommit):
    """Answers each statement with its own parameters; fails batches holding ``fail``."""

    def __init__(self, writers: int = 1) -> None:
        super().__init__("postgresql://unused", writers=writers)
        self.batches: list[int] = []

    def _run_in_one_transaction(self, batch):
        self.batches.append(len(batch))
        if any(item.params.get("fail") for item in batch):
            raise RuntimeError("this statement breaks a constraint")
        return [(item.params["n"],) for item in batch]


@pytest.fixture(params=[1, 2], ids=["one writer", "two writers"])
def echo(request):
    writer = EchoCommit(writers=request.param)
    yield writer
    writer.close()


def test_each_request_gets_its_own_row(echo):
    rows: dict[int, tuple] = {}

    def send(number: int) -> None:
        rows[number] = echo.execute("SELECT", {"n": number})

    threads = [threading.Thread(target=send, args=(number,)) for number in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert rows == {number: (number,) for number in range(40)}
    assert sum(echo.batches) == 40


def test_bad_statement_fails_alone_after_its_batch_is_retried_one_by_one(echo):
    batch = [echo_item(1), echo_item(2, fail=True), echo_item(3)]
    echo.commit_batch(batch)
    assert [(item.row, type(item.error).__name__) for item in batch] == [
        ((1,), "NoneType"),
        (None, "RuntimeError"),
        ((3,), "NoneType"),
    ]
    assert echo.batches == [3, 1, 1, 1]


def test_failed_statement_raises_for_its_request_and_the_writer_goes_on(echo):
    with pytest.raises(GroupCommitFailed):
        echo.execute("SELECT", {"n": 1, "fail": True})
    assert echo.execute("SELECT", {"n": 2}) == (2,)


def test_writer_survives_a_bug_in_its_own_code(echo, monkeypatch, caplog):
    original = echo.commit_batch
    monkeypatch.setattr(echo, "commit_batch", lambda batch: 1 / 0)
    with pytest.raises(GroupCommitFailed):
        echo.execute("SELECT", {"n": 1})
    monkeypatch.setattr(echo, "commit_batch", original)
    assert echo.execute("SELECT", {"n": 2}) == (2,)
    assert "could not be handled" in caplog.text


def echo_item(number: int, fail: bool = False):
    from contentflow.services.group_commit import _Item

    return _Item("SELECT", {"n": number, "fail": fail}, (number,))
