"""Fixtures shared by the backup tests: a real S3-compatible server (moto) per worker (a
bucket per test), and each test run against both kinds of store."""

import pytest
from ansible.module_utils.redisible_backup_store import DirectoryStore, open_store
from s3_harness import MotoServer


@pytest.fixture(scope="session")
def moto():
    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture(params=["directory", "s3"])
def store(request, tmp_path):
    if request.param == "directory":
        return DirectoryStore(str(tmp_path / "backups"))
    server = request.getfixturevalue("moto")
    return open_store(server.storage(server.new_bucket()))
