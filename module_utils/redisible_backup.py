# -*- coding: utf-8 -*-
# Copyright: redisible contributors
# Apache License 2.0 (see LICENSE)
"""Backups of live Redis pods (the I/O side; decisions live in ``redisible_rdb``).

Each shard's RDB is taken over the replication protocol (SYNC, as a replica would), from a
replica when the shard has one in sync (the fork happens there, the master serves on),
streamed to the store chunk by chunk and checksummed on the way. The manifest is written last:
a backup without one is incomplete. Also here: what backup and restore both read of a live
instance (:func:`observe_pods`, key counts) and run (:func:`in_parallel`).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import threading
import time

from ansible.module_utils.redisible_backup_store import copy_checked
from ansible.module_utils.redisible_rdb import (
    MANIFEST_NAME,
    BackupError,
    NeedMore,
    build_manifest,
    choose_backup_sources,
    parse_rdb_header,
    rdb_trailer_ok,
    shard_file_name,
    status_files,
)
from ansible.module_utils.redisible_redis import Node, error_text
from ansible.module_utils.redisible_replication import (
    ReplicationStream,
    diskless_delay_off,
    info_section,
    wait_replica_caught_up,
)
from ansible.module_utils.redisible_replies import parse_cluster_nodes, reply_text, slot_ranges

# The kinds the backup and restore modules take (one definition for both).
INSTANCE_KINDS = ["Redis", "RedisSentinel", "RedisCluster"]

HEADER_BYTES = 64 * 1024


def utc_now():
    """Now, as the manifests and release markers write it (UTC, seconds)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class _RdbWatch(object):
    """Reads the header of an RDB going by and keeps its last bytes for the end marker."""

    def __init__(self, source_name):
        self.source_name = source_name
        self.head = bytearray()
        self.header = None
        self.tail = b""

    def see(self, chunk):
        self.tail = chunk[-16:] if len(chunk) >= 16 else (self.tail + chunk)[-16:]
        if self.header is not None:
            return
        self.head += chunk
        try:
            self.header = parse_rdb_header(bytes(self.head[:HEADER_BYTES]))
            self.head = None
        except NeedMore:
            if len(self.head) >= HEADER_BYTES:
                raise BackupError("the RDB of %s has no readable header" % self.source_name)

    def check(self, total, sha256):
        if self.header is None:
            self.header = parse_rdb_header(bytes(self.head))
        if not rdb_trailer_ok(self.tail, self.header["rdb_version"]):
            raise BackupError("the RDB from %s ended without its end marker (%d bytes)"
                              % (self.source_name, total))


def backup_shard(store, backup_name, shard, password=None, timeout=600):
    """Streams one shard's RDB into ``store``. ``shard``: index, source {name, host, port},
    optional master {name, host, port} (the source is then its replica), optional slots.
    Returns the manifest entry."""
    source = shard["source"]
    node = Node(source["host"], source["port"], password, timeout=30)
    master = None
    try:
        offset = None
        if shard.get("master"):
            master = Node(shard["master"]["host"], shard["master"]["port"], password, timeout=30)
            offset = wait_replica_caught_up(node, master, min(timeout, 60))
        server = info_section(node, "server")
        keyspace = info_section(node, "keyspace")
        file_name = "%s/%s" % (backup_name, shard_file_name(shard["index"]))
        stream = ReplicationStream(source["host"], source["port"], password, timeout=timeout)
        with diskless_delay_off(node):
            size = stream.open()
        watch = _RdbWatch(source["name"])
        try:
            total, sha256 = copy_checked(stream.chunks(size), store.open_writer(file_name),
                                         watch.check, watch.see)
        finally:
            stream.close()
        header = watch.header
        databases = _database_counts(header, keyspace)
        return {
            "index": shard["index"],
            "file": shard_file_name(shard["index"]),
            "bytes": total,
            "sha256": sha256,
            "rdb_version": header["rdb_version"],
            "redis_version": header["aux"].get("redis-ver") or server.get("redis_version"),
            "keys": sum(db["keys"] for db in databases.values()),
            "expires": sum(db["expires"] for db in databases.values()),
            "databases": databases,
            "source": {"pod": source["name"], "role": "replica" if master else "master",
                       "masterOffset": offset},
            "slots": shard.get("slots"),
        }
    finally:
        node.close()
        if master is not None:
            master.close()


def _database_counts(header, keyspace):
    """Keys per database: exact from the RDB header for the database it announces; for any
    other database (standalone only) the server's count at the time of the snapshot."""
    counts = {}
    for db, sizes in header["databases"].items():
        counts[str(db)] = {"keys": sizes["keys"], "expires": sizes["expires"], "exact": True}
    if header["empty"]:
        return counts
    for db, sizes in keyspace_sizes(keyspace).items():
        if db not in counts:
            counts[db] = dict(sizes, exact=False)
    return counts


def keyspace_sizes(keyspace):
    """{db: {keys, expires}} from parsed INFO keyspace ("db0": "keys=3,expires=1,...")."""
    sizes = {}
    for name, value in keyspace.items():
        if name.startswith("db"):
            fields = dict(item.split("=", 1) for item in str(value).split(",") if "=" in item)
            sizes[name[2:]] = {"keys": int(fields.get("keys", 0)),
                               "expires": int(fields.get("expires", 0))}
    return sizes


def count_keys(masters, password):
    total = 0
    for master in masters:
        node = Node(master["host"], master["port"], password, timeout=30)
        try:
            sizes = keyspace_sizes(info_section(node, "keyspace"))
            total += sum(db["keys"] for db in sizes.values())
        finally:
            node.close()
    return total


def cluster_slots_of(host, port, password=None):
    """The slots the master at host:port serves, as it sees itself."""
    node = Node(host, port, password, timeout=10)
    try:
        nodes = parse_cluster_nodes(reply_text(node.call("CLUSTER", "NODES")))
    finally:
        node.close()
    for line in nodes.values():
        if line.is_myself:
            return sorted(line.slots)
    return []


def in_parallel(work, items, describe):
    """Runs ``work(item)`` for every item at once. Returns (results in item order, errors:
    "<describe(item)>: <why>" for every item that raised)."""
    results = [None] * len(items)
    errors = []

    def run(position, item):
        try:
            results[position] = work(item)
        except Exception as exc:  # reported with every other item's failure
            errors.append("%s: %s" % (describe(item), str(exc) if isinstance(exc, BackupError)
                                      else error_text(exc)))

    threads = [threading.Thread(target=run, args=(i, item)) for i, item in enumerate(items)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, errors


def take_backup(store, name, kind, instance, shards, password=None, timeout=600, log=None,
                spec=None):
    """Backs up every shard in parallel and writes the manifest; returns it. ``shards`` as
    for ``backup_shard``; for a cluster each carries ``slots`` (checked again at the end: a
    slot that moved during the backup could be in no file or in two)."""
    log = log or (lambda message: None)
    if store.size("%s/%s" % (name, MANIFEST_NAME)) is not None:
        raise BackupError("a backup named %s already exists in %s" % (name, store.describe()))
    started = utc_now()

    def run(shard):
        result = backup_shard(store, name, shard, password, timeout)
        log("shard %d: %d bytes from %s" % (shard["index"], result["bytes"],
                                            shard["source"]["name"]))
        return result

    results, errors = in_parallel(run, shards, lambda shard: "shard %d (%s)" % (
        shard["index"], shard["source"]["name"]))
    if not errors:
        for shard in shards:
            if shard.get("slots") is None:
                continue
            master = shard.get("master") or shard["source"]
            now = cluster_slots_of(master["host"], master["port"], password)
            if slot_ranges(now) != shard["slots"]:
                errors.append("shard %d: its slots changed while the backup ran (resharding?);"
                              " take the backup again" % shard["index"])
    if errors:
        store.delete_backup(name)
        raise BackupError("; ".join(errors))
    manifest = build_manifest(name, kind, instance, started, utc_now(), results, spec)
    store.write_json("%s/%s" % (name, MANIFEST_NAME), manifest)
    return manifest


def observe_pods(pods, password, cluster):
    """Role, master link and (cluster) served slots of each pod: dicts for the pure choosers."""
    observed = []
    for pod in pods:
        node = Node(pod["host"], pod.get("port") or 6379, password, timeout=10, retry=False)
        try:
            info = info_section(node, "replication")
            entry = {"name": pod["name"], "host": pod["host"], "port": int(pod.get("port") or 6379),
                     "shard": pod.get("shard", 0), "role": info.get("role"),
                     "master_host": info.get("master_host"),
                     "master_port": info.get("master_port"),
                     "link": info.get("master_link_status"),
                     "offset": info.get("slave_repl_offset"), "slots": None}
            if cluster and entry["role"] == "master":
                nodes = parse_cluster_nodes(reply_text(node.call("CLUSTER", "NODES")))
                entry["slots"] = sorted(next((n.slots for n in nodes.values() if n.is_myself),
                                             ()))
        except Exception as exc:
            raise BackupError("cannot observe %s: %s" % (pod["name"], error_text(exc)))
        finally:
            node.close()
        observed.append(entry)
    return observed


def backup_instance(store, name, kind, instance, pods, password=None, timeout=600,
                    check_mode=False, log=None, spec=None):
    """Backs up the instance made of ``pods`` (dicts name, host, port, shard)."""
    cluster = kind == "RedisCluster"
    sources = choose_backup_sources(observe_pods(pods, password, cluster), cluster)
    if check_mode:
        return {"changed": True, "sources": sources}
    manifest = take_backup(store, name, kind, instance, sources, password, timeout, log, spec)
    return {"changed": True, "manifest": manifest, "location": store.describe(name),
            "files": status_files(manifest)}
