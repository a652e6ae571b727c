"""State files on a failing disk: the price anchor and the journal never leave half a file or
a temp file behind, and a journal that cannot be written becomes a safety stop, not an error
inside every send. No chain: the files and the journal are real, only `fsync` is made to fail.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

import bots.atomicfile
import bots.chain.journal
from bots.chain.journal import TxJournal
from bots.errors import ConfigError
from bots.service.anchor import PriceAnchorFile
from bots.service.journalguard import GuardedJournal
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
