"""The directory store: parallel shard writers, visibility only once committed."""

import threading

from ansible.module_utils.redisible_backup_store import DirectoryStore


def test_parallel_writers_share_a_new_backup_directory(tmp_path):
    store = DirectoryStore(str(tmp_path / "backups"))
    for attempt in range(20):
        name = "b%d" % attempt
        start = threading.Barrier(8)
        errors = []

        def write(index, name=name, start=start, errors=errors):
            start.wait()
            try:
                writer = store.open_writer("%s/shard-%d.rdb" % (name, index))
                writer.write(b"x" * index)
                writer.commit()
            except Exception as exc:  # collected: a thread's exception is otherwise lost
                errors.append(exc)

        threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert [store.size("%s/shard-%d.rdb" % (name, i)) for i in range(8)] == list(range(8))


def test_a_file_is_visible_only_once_committed(tmp_path):
    store = DirectoryStore(str(tmp_path / "backups"))
    writer = store.open_writer("b/shard-0.rdb")
    writer.write(b"partial")
    assert store.size("b/shard-0.rdb") is None
    writer.abort()
    assert store.size("b/shard-0.rdb") is None and store.list_backups() == []
