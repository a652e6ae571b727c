"""State files on a failing disk: the price anchor and the journal never leave half a file or
a temp file behind, and a journal that cannot be written becomes a safety stop, not an error
inside every send. No chain: the files and the journal are real, only `fsync` is made to fail.
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import pytest
from structlog.testing import capture_logs

import bots.atomicfile
import bots.chain.journal
from bots.chain.journal import TxJournal
from bots.errors import ConfigError
from bots.service.anchor import PriceAnchorFile
from bots.service.journalguard import GuardedJournal
from bots.service.state import KillSwitchFile
from bots.tick.pnl import KillSwitchTripped
from tests.diskfull import full_disk, temp_files

ADDRESS = "0x" + "ab" * 20


def test_the_price_anchor_round_trips_and_a_failed_write_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    anchor = PriceAnchorFile(tmp_path, ADDRESS)
    assert anchor.load() is None
    assert anchor.save(Decimal("101.25"))
    assert PriceAnchorFile(tmp_path, ADDRESS).load() == Decimal("101.25")

    full_disk(monkeypatch, bots.atomicfile)
    assert not anchor.save(Decimal("102")) and not anchor.save(Decimal("103"))
    assert temp_files(tmp_path) == []
    assert PriceAnchorFile(tmp_path, ADDRESS).load() == Decimal("101.25")  # the old record

    monkeypatch.undo()
    assert anchor.save(Decimal("103"))
    assert PriceAnchorFile(tmp_path, ADDRESS).load() == Decimal("103")


@pytest.mark.parametrize("text", ["", "{}", '{"price": "1e999999"}', '{"price": "-1"}', "[1]"])
def test_an_unreadable_price_anchor_refuses_the_start(tmp_path: Path, text: str) -> None:
    anchor = PriceAnchorFile(tmp_path, ADDRESS)
    anchor.path.write_text(text, encoding="utf-8")

    with pytest.raises(ConfigError, match="--reset-price-anchor") as raised:
        anchor.load()
    assert "\n" not in str(raised.value)


def test_a_journal_that_cannot_be_written_is_a_safety_stop_until_it_can(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failed journal write used to raise inside the send, so no cancel went out either."""
    journal = TxJournal(tmp_path / "journal.jsonl")
    guarded = GuardedJournal(journal)
    guarded.sent(0, "0xaa", b"\x01", "requote")
    size = journal.path.stat().st_size
    full_disk(monkeypatch, bots.chain.journal)

    guarded.sent(1, "0xbb", b"\x02", "requote")  # does not raise
    guarded.done("0xaa", used_nonce=0)

    assert journal.path.stat().st_size == size  # the failed lines were cut back
    assert "No space left on device" in guarded.stops()["journal"]
    assert [e.tx_hash for e in TxJournal(journal.path).open_entries(0)] == ["0xaa"]
    monkeypatch.undo()
    assert guarded.stops() == {}  # the probe got through: the stop lifts


def test_a_journal_rewrite_on_a_full_disk_keeps_the_old_file_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = TxJournal(tmp_path / "journal.jsonl")
    journal.sent(0, "0xaa", b"\x01", "requote")
    before = journal.path.read_bytes()
    full_disk(monkeypatch, bots.atomicfile)

    with pytest.raises(OSError, match="No space"):
        journal.compact()

    assert journal.path.read_bytes() == before and temp_files(tmp_path) == []


# --- what sits at a state file's path is not trusted (red team 2) -------------------------------


def _hostile(path: Path, kind: str) -> None:
    if kind == "fifo":
        os.mkfifo(path)  # reading it would block the start forever
    elif kind == "dev-zero":
        path.symlink_to("/dev/zero")  # reading it would eat the memory
    elif kind == "huge":
        with path.open("wb") as handle:
            handle.truncate(1 << 30)  # sparse: 1 GiB of nothing, no disk used
    elif kind == "nested":
        path.write_text("[" * 100_000)  # the C JSON scanner segfaulted on this
    elif kind == "directory":
        path.mkdir()


KINDS = ["fifo", "dev-zero", "huge", "nested", "directory"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_price_anchor_path_holding_something_else_refuses_in_one_line(
    tmp_path: Path, kind: str
) -> None:
    anchor = PriceAnchorFile(tmp_path, ADDRESS)
    _hostile(anchor.path, kind)
    with pytest.raises(ConfigError, match="price anchor .* is unreadable") as info:
        anchor.load()
    assert "\n" not in str(info.value) and "--reset-price-anchor" in str(info.value)


@pytest.mark.parametrize("kind", KINDS)
def test_a_kill_switch_path_holding_something_else_still_refuses_the_start(
    tmp_path: Path, kind: str
) -> None:
    switch = KillSwitchFile(tmp_path, ADDRESS)
    _hostile(switch.path, kind)
    with pytest.raises(KillSwitchTripped, match="unreadable record"):
        switch.check(clear=False)


@pytest.mark.parametrize("kind", ["fifo", "huge", "directory"])
def test_a_journal_path_holding_something_else_is_one_line(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "journal"
    _hostile(path, kind)
    with pytest.raises(ConfigError, match=f"journal {path}: "):
        TxJournal(path)


def test_damaged_journal_lines_are_skipped_and_the_good_ones_kept(tmp_path: Path) -> None:
    path = tmp_path / "journal"
    journal = TxJournal(path)
    journal.sent(7, "0x" + "aa" * 32, bytes.fromhex("02f8"), "requote")
    with path.open("ab") as handle:  # what the red team appended: each crashed the start
        handle.write(b"7\n\xff\xfe garbage\n")
        handle.write(b'{"e":"sent","nonce":8,"hash":"0xbb","raw":"zz","label":"x"}\n')
        handle.write(b'{"e":"sent","nonce":"9","hash":"0xcc","raw":"02","label":"x"}\n')

    with capture_logs() as logs:
        again = TxJournal(path)

    assert [(e.nonce, e.label) for e in again.open_entries(0)] == [(7, "requote")]
    (warning,) = [line for line in logs if line["event"].startswith("journal lines skipped")]
    assert warning["lines"] == 4


def test_the_journal_probe_needs_room_for_a_big_transaction(tmp_path: Path) -> None:
    """A tiny probe fit on a full disk where the next signed transaction did not, so the
    journal stop lifted a tick too early (red team 2): the probe is as big as a large one."""
    journal = TxJournal(tmp_path / "journal")
    journal.probe()
    assert (tmp_path / "journal").stat().st_size > 2 * 8 * 1024  # hex of an 8 KiB transaction
