# -*- coding: utf-8 -*-
# Copyright: redisible contributors
# Apache License 2.0 (see LICENSE)
"""Pure decisions about backups: the RDB header, the manifest, and what a restore may do.

No I/O here: the backup and restore code (``redisible_backup``, ``redisible_restore``) feeds
these functions bytes and parsed replies, and they answer with facts or with a ``BackupError``
a human can act on.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import struct

from ansible.module_utils.redisible_replies import format_ranges, slot_ranges

MANIFEST_FORMAT = 1
MANIFEST_NAME = "manifest.json"

# The newest RDB format each Redis release reads (rdb.h RDB_VERSION); a release refuses files
# written in a newer format, after it has already emptied itself, so we refuse first.
RDB_VERSIONS = ((7, 2, 11), (7, 0, 10), (5, 0, 9), (4, 0, 8), (3, 2, 7))

OP_FUNCTION2 = 0xF5
OP_MODULE_AUX = 0xF7
OP_AUX = 0xFA
OP_RESIZEDB = 0xFB
OP_SELECTDB = 0xFE
OP_EOF = 0xFF


class BackupError(Exception):
    """A backup or restore that must not go on; the message says why, for humans."""


def version_tuple(text):
    parts = []
    for item in str(text).split(".")[:3]:
        digits = "".join(ch for ch in item if ch.isdigit())
        parts.append(int(digits or 0))
    while len(parts) < 3:
        parts.append(0)
    return tuple(parts)


def max_rdb_version(redis_version):
    """The newest RDB format a Redis of this version loads."""
    wanted = version_tuple(redis_version)
    for major, minor, rdb in RDB_VERSIONS:
        if wanted[:2] >= (major, minor):
            return rdb
    return 6


class NeedMore(Exception):
    """The header is not complete in the bytes seen so far."""


class _Reader(object):
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def take(self, count):
        if self.pos + count > len(self.data):
            raise NeedMore()
        chunk = self.data[self.pos:self.pos + count]
        self.pos += count
        return chunk

    def byte(self):
        return self.take(1)[0]

    def length(self):
        """RDB length encoding: (value, is_special_encoding)."""
        first = self.byte()
        kind = first >> 6
        if kind == 0:
            return first & 0x3F, False
        if kind == 1:
            return ((first & 0x3F) << 8) | self.byte(), False
        if kind == 3:
            return first & 0x3F, True
        if first == 0x80:
            return struct.unpack(">I", self.take(4))[0], False
        if first == 0x81:
            return struct.unpack(">Q", self.take(8))[0], False
        raise BackupError("not an RDB file: bad length byte 0x%02x at offset %d"
                          % (first, self.pos - 1))

    def string(self):
        value, special = self.length()
        if not special:
            return self.take(value)
        if value == 0:
            return str(struct.unpack("b", self.take(1))[0]).encode()
        if value == 1:
            return str(struct.unpack("<h", self.take(2))[0]).encode()
        if value == 2:
            return str(struct.unpack("<i", self.take(4))[0]).encode()
        if value == 3:  # LZF: only the aux fields could be compressed, we skip their text
            compressed, _ = self.length()
            self.length()
            self.take(compressed)
            return b""
        raise BackupError("not an RDB file: unknown string encoding %d" % value)


def parse_rdb_header(data):
    """What an RDB says about itself before its first key: format version, the writer's aux
    fields (redis-ver, ...) and, per database announced before the first key, its key and
    expire counts (RESIZEDB: exact sizes at the moment of the snapshot).

    Returns a dict; raises NeedMore when ``data`` ends inside the header, BackupError when it
    is not an RDB at all. ``databases`` holds only what the header announces: a later database
    starts after the first one's keys, and its count is learnt when the backup is loaded."""
    reader = _Reader(data)
    magic = reader.take(9)
    if magic[:5] != b"REDIS" or not magic[5:].isdigit():
        raise BackupError("not an RDB file: it starts with %r" % magic[:9])
    header = {"rdb_version": int(magic[5:]), "aux": {}, "databases": {}, "empty": False}
    current_db = None
    while True:
        opcode = reader.byte()
        if opcode == OP_AUX:
            key = reader.string().decode("utf-8", "replace")
            value = reader.string().decode("utf-8", "replace")
            header["aux"][key] = value
        elif opcode == OP_FUNCTION2:
            reader.string()
        elif opcode == OP_SELECTDB:
            current_db = reader.length()[0]
        elif opcode == OP_RESIZEDB:
            keys = reader.length()[0]
            expires = reader.length()[0]
            header["databases"][current_db or 0] = {"keys": keys, "expires": expires}
            return header
        elif opcode == OP_EOF:
            header["empty"] = True
            return header
        else:
            # A key (or module data) before any RESIZEDB: an old or unusual writer.
            return header


def rdb_trailer_ok(tail, rdb_version):
    """An RDB ends with EOF and (format 5+) an 8-byte checksum: a cut-off stream does not."""
    if rdb_version >= 5:
        return len(tail) >= 9 and tail[-9] == OP_EOF
    return len(tail) >= 1 and tail[-1] == OP_EOF


def shard_file_name(index):
    return "shard-%d.rdb" % index


def build_manifest(name, kind, instance, started, completed, shards, spec=None):
    """The manifest stored next to the data; ``shards``: one dict per file, as
    ``backup_shard`` returns them; ``spec``: the instance's spec, to create a copy from."""
    versions = sorted({s["redis_version"] for s in shards}, key=version_tuple)
    return {
        "format": MANIFEST_FORMAT,
        "name": name,
        "kind": kind,
        "instance": instance,
        "spec": spec or {},
        "startedAt": started,
        "completedAt": completed,
        "redisVersion": versions[-1] if versions else None,
        "rdbVersion": max(s["rdb_version"] for s in shards) if shards else None,
        "totalBytes": sum(s["bytes"] for s in shards),
        "keys": sum(s["keys"] for s in shards),
        "shards": [{
            "index": s["index"],
            "file": s["file"],
            "bytes": s["bytes"],
            "sha256": s["sha256"],
            "rdbVersion": s["rdb_version"],
            "redisVersion": s["redis_version"],
            "keys": s["keys"],
            "expires": s["expires"],
            "databases": s["databases"],
            "source": s["source"],
            "slots": s.get("slots"),
        } for s in sorted(shards, key=lambda item: item["index"])],
    }


def manifest_problems(manifest):
    """What makes a manifest unusable (empty list when it is fine)."""
    if not isinstance(manifest, dict):
        return ["the manifest is not a JSON object"]
    problems = []
    if manifest.get("format") != MANIFEST_FORMAT:
        problems.append("manifest format %r is not %d" % (manifest.get("format"),
                                                          MANIFEST_FORMAT))
    shards = manifest.get("shards")
    if not isinstance(shards, list) or not shards:
        return problems + ["the manifest lists no files"]
    indexes = []
    for shard in shards:
        for field in ("index", "file", "bytes", "sha256", "rdbVersion"):
            if not isinstance(shard, dict) or field not in shard:
                problems.append("a file entry lacks %r" % field)
                break
        else:
            indexes.append(shard["index"])
    if sorted(indexes) != list(range(len(shards))):
        problems.append("shard indexes %s are not 0..%d" % (sorted(indexes), len(shards) - 1))
    return problems


def restore_refusals(manifest, target_kind, target_version, target_shards):
    """Why this backup must not be restored into the target (empty list: go ahead). Checked
    before anything in the target is touched."""
    problems = manifest_problems(manifest)
    if problems:
        return problems
    limit = max_rdb_version(target_version)
    for shard in manifest["shards"]:
        if shard["rdbVersion"] > limit:
            problems.append(
                "%s is RDB format %d (written by Redis %s); the target runs Redis %s, which "
                "reads RDB format %d at most: restore into Redis %s or newer" % (
                    shard["file"], shard["rdbVersion"], shard.get("redisVersion"),
                    target_version, limit, shard.get("redisVersion")))
    if target_kind == "RedisCluster":
        for shard in manifest["shards"]:
            other = [db for db in (shard.get("databases") or {}) if str(db) != "0"
                     and (shard["databases"][db] or {}).get("keys")]
            if other:
                problems.append("%s holds keys in database %s; Redis Cluster has database 0 "
                                "only" % (shard["file"], ", ".join(sorted(map(str, other)))))
    if target_shards < 1:
        problems.append("the target has no master to restore into")
    return problems


def can_place(manifest, target_kind, target_shards):
    """Whether each file can go as it is into the volume of one master of a target that has
    not started yet: one file into a standalone, or one file per shard of a cluster (a
    cluster node loading keys claims their slots, so every shard serves what its file holds).
    A RedisSentinel is not placed: its first master is chosen by the sentinel converge."""
    files = len(manifest["shards"])
    if target_kind == "Redis":
        return target_shards == 1 and files == 1
    if target_kind == "RedisCluster":
        return files == target_shards
    return False


def restore_method(manifest, target_kind, target_shards, waiting=False):
    """How to load: 'placement' (``waiting``: the target was created for this restore and its
    pods wait for their files; each master loads its file at its first start, native speed),
    'replication' (the target loads the file itself, as a replica would: one file into one
    standalone Redis) or 'keys' (files loaded aside, keys sent to the master owning their
    slot: several files, clusters, a change of shape). A RedisSentinel master is never made a
    replica, even briefly: its sentinels would see a master reporting itself as a replica
    and, if loading outlasted down-after + 20 s, fail over in the middle of it."""
    if waiting and can_place(manifest, target_kind, target_shards):
        return "placement"
    if target_kind == "Redis" and target_shards == 1 and len(manifest["shards"]) == 1:
        return "replication"
    return "keys"


def load_plan(manifest, target_kind):
    """How a backup goes into a running target (placement, into a target that waits for it,
    is decided when the pods are released): the method, and whether it needs a loader pod on
    the target's image to hold each file while its keys are sent ('keys'). One file into a
    standalone loads by replication, anything else key by key."""
    method = restore_method(manifest, target_kind, 1)
    return {"method": method, "needs_loader": method == "keys"}


def backups_to_prune(backups, keep_last=None, keep_days=None, now=None):
    """Which completed backups a retention policy removes. ``backups``: (name, completed epoch
    seconds). A backup is kept when it is among the newest ``keep_last`` or younger than
    ``keep_days``; with neither set nothing is pruned. The newest backup is always kept."""
    if not keep_last and not keep_days:
        return []
    ordered = sorted(backups, key=lambda item: item[1], reverse=True)
    prune = []
    for position, (name, completed) in enumerate(ordered):
        if position == 0:
            continue
        within_count = bool(keep_last) and position < keep_last
        within_age = bool(keep_days) and now is not None and \
            now - completed < keep_days * 86400
        if not (within_count or within_age):
            prune.append(name)
    return prune


def expected_key_range(manifest):
    """(at least, at most) keys a complete restore yields: keys with a TTL may expire between
    the backup and the restore, nothing else may be missing."""
    keys = sum(s.get("keys") or 0 for s in manifest["shards"])
    expires = sum(s.get("expires") or 0 for s in manifest["shards"])
    return keys - expires, keys


def choose_backup_sources(observed, cluster):
    """Per shard, the pod the RDB is read from: a replica whose link to the shard's master is up
    (the fork happens there), the master when it has none. ``observed``: dicts name, host,
    port, shard, role ('master'/'slave'), master_host, master_port, link ('up'/...), slots
    (a cluster master's slots). Returns [{index, source, master, slots}] in shard order."""
    shards = {}
    for pod in observed:
        shards.setdefault(pod["shard"] if cluster else 0, []).append(pod)
    chosen = []
    for index, (shard, pods) in enumerate(sorted(shards.items())):
        if cluster:
            masters = [p for p in pods if p["role"] == "master" and p.get("slots")]
        else:
            masters = [p for p in pods if p["role"] == "master"]
        if len(masters) != 1:
            raise BackupError(
                "shard %d has %d masters (%s); a backup needs exactly one: wait until the "
                "instance is Ready" % (shard, len(masters),
                                       ", ".join(p["name"] for p in masters) or "none"))
        master = masters[0]
        replicas = [p for p in pods if p["role"] == "slave" and p.get("link") == "up" and
                    (p.get("master_host"), str(p.get("master_port"))) ==
                    (master["host"], str(master["port"]))]
        replicas.sort(key=lambda p: (-int(p.get("offset") or 0), p["name"]))
        source = replicas[0] if replicas else master
        chosen.append({
            "index": index,
            "source": {"name": source["name"], "host": source["host"], "port": source["port"]},
            "master": None if source is master else {
                "name": master["name"], "host": master["host"], "port": master["port"]},
            "slots": slot_ranges(master.get("slots") or ()) if cluster else None,
        })
    return chosen


def restore_targets(observed, cluster):
    """The masters a restore writes to: every cluster master serving slots, or the one master
    of a standalone/sentinel instance."""
    if cluster:
        masters = [p for p in observed if p["role"] == "master" and p.get("slots")]
        if not masters:
            raise BackupError("the target cluster has no master serving slots: wait until it "
                              "is Ready")
        return masters
    masters = [p for p in observed if p["role"] == "master"]
    if len(masters) != 1:
        raise BackupError("the target has %d masters (%s); a restore needs exactly one: wait "
                          "until it is Ready" % (len(masters), ", ".join(
                              p["name"] for p in masters) or "none"))
    return masters



def choose_scratch_server(binaries, target_version):
    """The redis-server that loads backup files aside for a key-by-key restore. MIGRATE sends
    values in the loading server's own encoding, which an older target refuses ("DUMP payload
    version ... wrong"), so: the target's major.minor, else the newest release older than it.
    ``binaries``: {"7.0": path, ...}."""
    wanted = version_tuple(target_version)[:2]
    usable = sorted((version_tuple(v)[:2], path) for v, path in binaries.items()
                    if version_tuple(v)[:2] <= wanted)
    if not usable:
        raise BackupError("no redis-server of version %d.%d or older is available to load the "
                          "backup aside (have: %s)" % (wanted + (", ".join(sorted(binaries))
                                                                  or "none",)))
    return usable[-1][1]


def status_files(manifest):
    """The manifest's files as the RedisBackup status lists them (slot ranges as text)."""
    files = []
    for shard in manifest.get("shards", []):
        slots = shard.get("slots")
        files.append({
            "shard": shard["index"], "file": shard["file"], "bytes": shard["bytes"],
            "sha256": shard["sha256"], "keys": shard.get("keys", 0),
            "sourcePod": (shard.get("source") or {}).get("pod", ""),
            "slots": format_ranges(slots) if slots else ""})
    return files
