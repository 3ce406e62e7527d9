"""The stores on their own: a file of several pieces (S3 parts) round-trips byte for byte, and
one cut short is never visible. The pod store is covered on the local Kubernetes (e2e)."""

import hashlib
import os

import pytest
from ansible.module_utils.redisible_backup_store import PART_SIZE
from ansible.module_utils.redisible_rdb import BackupError


def test_a_file_of_several_pieces_round_trips(store):
    data = os.urandom(2 * PART_SIZE + 12345)
    writer = store.open_writer("b/shard-0.rdb")
    for offset in range(0, len(data), 1 << 20):  # as the replication stream delivers it
        writer.write(data[offset:offset + (1 << 20)])
    writer.commit()
    store.write_json("b/manifest.json", {"files": 1})
    assert store.size("b/shard-0.rdb") == len(data)
    digest = hashlib.sha256()
    for chunk in store.read_chunks("b/shard-0.rdb"):
        digest.update(chunk)
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest()
    assert store.list_backups() == ["b"] and store.read_json("b/manifest.json") == {"files": 1}
    assert store.delete_backup("b") and not store.has_data("b")


def test_an_aborted_file_of_several_pieces_leaves_nothing(store):
    writer = store.open_writer("b/shard-0.rdb")
    writer.write(os.urandom(PART_SIZE + 1))
    writer.abort()
    assert store.size("b/shard-0.rdb") is None and store.list_backups() == []
    with pytest.raises(BackupError):
        list(store.read_chunks("b/shard-0.rdb"))
