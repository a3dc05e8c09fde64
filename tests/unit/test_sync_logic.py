"""Pure pieces of the sync: where each DAG starts reading, and change fingerprints."""

from datetime import datetime, timezone

from orcai.graph.load import batches, fingerprint
from orcai.sync import WATERMARK_OVERLAP_MS, since_for

NOW = 1_800_000_000_000


def test_new_dag_reads_the_lookback_window():
    since = since_for("new", {}, NOW, lookback_days=30)
    assert since == datetime.fromtimestamp((NOW - 30 * 86_400_000) / 1000, tz=timezone.utc)


def test_known_dag_reads_from_its_watermark_with_overlap():
    since = since_for("old", {"old": NOW - 60_000}, NOW, lookback_days=30)
    assert int(since.timestamp() * 1000) == NOW - 60_000 - WATERMARK_OVERLAP_MS


def test_fingerprint_is_stable_and_sensitive():
    props = {"state": "success", "duration_s": 1.5, "tags": ["a"]}
    assert fingerprint(props) == fingerprint(dict(reversed(props.items())))
    assert fingerprint(props) != fingerprint({**props, "state": "failed"})


def test_batches_cover_every_row_once():
    rows = list(range(12_345))
    chunks = list(batches(rows, 5_000))
    assert [len(c) for c in chunks] == [5_000, 5_000, 2_345]
    assert [x for c in chunks for x in c] == rows
