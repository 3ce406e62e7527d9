# -*- coding: utf-8 -*-
# Copyright: redisible contributors
# Apache License 2.0 (see LICENSE)
"""Backup and restore of live Redis pods (the I/O side; decisions live in ``redisible_rdb``).

Backup: each shard's RDB is taken over the replication protocol (SYNC, as a replica would),
from a replica when the shard has one in sync (the fork happens there, the master serves on),
streamed to the store chunk by chunk and checksummed on the way. The manifest is written last:
a backup without one is incomplete.

Restore: the manifest and every file (size and SHA-256) are checked, and the RDB format is
compared with what the target can read, before the target is touched. Then either the target
loads the file itself as a replica of a short-lived feeder that speaks the replication protocol
(a standalone target: native loading speed), or each file is loaded into a scratch redis-server
and its keys are sent with MIGRATE to the master owning their slot (clusters, other shapes).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import contextlib
import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid

from ansible.module_utils.redisible_backup_store import CHUNK
from ansible.module_utils.redisible_cluster_state import (
    parse_cluster_nodes,
    parse_info,
    slot_ranges,
)
from ansible.module_utils.redisible_rdb import (
    MANIFEST_NAME,
    PLACED_FILE,
    RELEASE_MARKER,
    BackupError,
    NeedMore,
    backups_to_prune,
    build_manifest,
    choose_backup_sources,
    choose_scratch_server,
    expected_key_range,
    parse_rdb_header,
    rdb_trailer_ok,
    restore_method,
    restore_refusals,
    restore_targets,
    shard_file_name,
    status_files,
    version_tuple,
)
from ansible.module_utils.redisible_redis import Node, error_text, reply_text

try:
    from redis.crc import key_slot
except ImportError:  # reported through Node when redis-py is missing
    key_slot = None

# Options the backup and restore modules share (one definition for both).
INSTANCE_KINDS = ["Redis", "RedisSentinel", "RedisCluster"]
POD_OPTIONS = dict(name=dict(type="str", required=True), host=dict(type="str", required=True),
                   port=dict(type="int", default=6379), shard=dict(type="int", default=0))

HEADER_BYTES = 64 * 1024
COALESCE = 256 * 1024


def _now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


# ---------------------------------------------------------------------------------------------
# The replication protocol, client side: SYNC and read the RDB payload.
# ---------------------------------------------------------------------------------------------

class ReplicationStream(object):
    """One RDB snapshot read from a Redis server as a replica reads it."""

    def __init__(self, host, port, password=None, timeout=60.0):
        self.host = host
        self.port = int(port)
        self.password = password
        self.timeout = timeout
        self.sock = None
        self.reader = None

    def _command(self, *args):
        parts = [b"*%d\r\n" % len(args)]
        for arg in args:
            arg = arg if isinstance(arg, bytes) else str(arg).encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
        self.sock.sendall(b"".join(parts))
        return self.reader.readline()

    def open(self):
        """Connects and starts the transfer; returns the payload size (None: EOF-marked)."""
        try:
            self.sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
            self.reader = self.sock.makefile("rb", buffering=CHUNK)
            if self.password:
                reply = self._command("AUTH", self.password)
                if not reply.startswith(b"+"):
                    raise BackupError("%s:%d refused the password" % (self.host, self.port))
            # capa eof: a diskless master streams to us without writing a file first;
            # rdb-only (7.0+): no replication stream after the snapshot. Older servers say
            # -ERR to rdb-only, which changes nothing for a client that leaves after the RDB.
            self._command("REPLCONF", "capa", "eof")
            self._command("REPLCONF", "rdb-only", "1")
            self.sock.sendall(b"SYNC\r\n")
            while True:
                line = self.reader.readline()
                if not line:
                    raise BackupError("%s:%d closed the connection before sending the RDB"
                                      % (self.host, self.port))
                if line in (b"\n", b"\r\n"):  # keep-alives while the server forks
                    continue
                if line.startswith(b"-"):
                    raise BackupError("%s:%d refused SYNC: %s" % (
                        self.host, self.port, line[1:].strip().decode("utf-8", "replace")))
                if line.startswith(b"$EOF:"):
                    self.mark = line[5:45]
                    return None
                if line.startswith(b"$"):
                    self.mark = None
                    return int(line[1:])
                # +FULLRESYNC / +CONTINUE lines precede the payload for PSYNC; SYNC sends none
                # on most versions, ignore if it does.
        except (socket.error, socket.timeout) as exc:
            self.close()
            raise BackupError("cannot read the RDB from %s:%d: %s" % (self.host, self.port, exc))

    def chunks(self, size):
        """The payload, in pieces of at least COALESCE bytes (except the last): a server
        writes in small pieces, and per-piece work in Python would cost more than the copy."""
        try:
            if size is not None:
                left = size
                pending = bytearray()
                while left:
                    piece = self.reader.read1(min(CHUNK, left))
                    if not piece:
                        raise BackupError("%s:%d closed the connection %d bytes before the end "
                                          "of the RDB" % (self.host, self.port, left))
                    left -= len(piece)
                    pending += piece
                    if len(pending) >= COALESCE:
                        yield bytes(pending)
                        pending = bytearray()
                if pending:
                    yield bytes(pending)
                return
            # EOF-marked: the last 40 bytes are the mark, so 40 bytes are always held back.
            pending = bytearray()
            while True:
                piece = self.reader.read1(CHUNK)
                if not piece:
                    raise BackupError("%s:%d closed the connection before the end of the RDB"
                                      % (self.host, self.port))
                pending += piece
                if pending.endswith(self.mark):
                    if len(pending) > 40:
                        yield bytes(pending[:-40])
                    return
                if len(pending) >= COALESCE + 40:
                    yield bytes(pending[:-40])
                    del pending[:-40]
        except (socket.error, socket.timeout) as exc:
            raise BackupError("reading the RDB from %s:%d failed: %s" % (self.host, self.port,
                                                                          exc))

    def close(self):
        for item in (self.reader, self.sock):
            try:
                if item is not None:
                    item.close()
            except Exception:  # closing is best effort
                pass


# ---------------------------------------------------------------------------------------------
# Backup
# ---------------------------------------------------------------------------------------------

def _info(node, section):
    return parse_info(reply_text(node.call("INFO", section)))


def wait_replica_caught_up(replica, master, timeout):
    """Everything the master acknowledged before the backup started must be in the snapshot:
    wait until the replica has processed the master's offset of this moment."""
    target = int(_info(master, "replication").get("master_repl_offset", 0))
    deadline = time.time() + timeout
    while True:
        info = _info(replica, "replication")
        if info.get("master_link_status") == "up" and \
                int(info.get("slave_repl_offset", -1)) >= target:
            return target
        if time.time() > deadline:
            raise BackupError("replica %s did not catch up with its master within %ds "
                              "(offset %s of %d)" % (replica.address, timeout,
                                                     info.get("slave_repl_offset"), target))
        time.sleep(0.05)


class _TemporaryConfig(object):
    """One CONFIG value set for the duration of a block and put back after it (left alone
    when it already has that value, or when CONFIG is renamed or refused: only slower)."""

    def __init__(self, node, name, value):
        self.node = node
        self.name = name
        self.value = value
        self.saved = None

    def __enter__(self):
        try:
            reply = self.node.call("CONFIG", "GET", self.name)
            current = reply_text(reply[1]) if len(reply) > 1 else None
            if current is not None and current != self.value:
                self.node.call("CONFIG", "SET", self.name, self.value)
                self.saved = current
        except Exception:
            self.saved = None
        return self

    def __exit__(self, *exc):
        if self.saved is not None:
            try:
                self.node.call("CONFIG", "SET", self.name, self.saved)
            except Exception:
                pass


def _diskless_delay_off(node):
    """A diskless master waits repl-diskless-sync-delay seconds for more replicas before it
    forks (5 s by default in 7.0): a backup has nobody to wait for, so 0 while it starts."""
    return _TemporaryConfig(node, "repl-diskless-sync-delay", "0")


def _prompt_replica_connect(node, version):
    """Before 6.0 a new replica connects to its master only from the replication cron, once a
    second (up to a second lost per load). The cron runs on every serverCron while hz is 1,
    and the serverCron already scheduled comes within 1000/hz ms: so hz 1 until connected."""
    if version_tuple(version) >= (6, 0, 0):
        return contextlib.nullcontext()
    return _TemporaryConfig(node, "hz", "1")


def copy_checked(chunks, writer, check, see=None):
    """Streams ``chunks`` into ``writer`` with their SHA-256 (``see(chunk)`` watches each one);
    ``check(total, sha256)`` raises to refuse the file before it is committed. Any failure
    aborts the writer: nothing partial becomes visible. Returns (total bytes, sha256)."""
    digest = hashlib.sha256()
    total = 0
    try:
        for chunk in chunks:
            digest.update(chunk)
            writer.write(chunk)
            total += len(chunk)
            if see is not None:
                see(chunk)
        check(total, digest.hexdigest())
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    return total, digest.hexdigest()


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
        server = _info(node, "server")
        keyspace = _info(node, "keyspace")
        file_name = "%s/%s" % (backup_name, shard_file_name(shard["index"]))
        stream = ReplicationStream(source["host"], source["port"], password, timeout=timeout)
        with _diskless_delay_off(node):
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
    started = _now()

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
    manifest = build_manifest(name, kind, instance, started, _now(), results, spec)
    store.write_json("%s/%s" % (name, MANIFEST_NAME), manifest)
    return manifest


# ---------------------------------------------------------------------------------------------
# Restore: checks first
# ---------------------------------------------------------------------------------------------

def read_manifest(store, name):
    if store.size("%s/%s" % (name, MANIFEST_NAME)) is None:
        raise BackupError("no backup named %s in %s (its manifest is missing: it does not "
                          "exist or never completed)" % (name, store.describe()))
    return store.read_json("%s/%s" % (name, MANIFEST_NAME))


def file_problems(store, name, manifest, checksums=True):
    """Every file present, of the recorded size and SHA-256 (each read once, streamed).
    ``checksums=False``: presence and size only, for a copy that checks each SHA-256 itself."""
    problems = []
    for shard in manifest["shards"]:
        path = "%s/%s" % (name, shard["file"])
        size = store.size(path)
        if size is None:
            problems.append("%s is missing" % store.describe(path))
            continue
        if size != shard["bytes"]:
            problems.append("%s has %d bytes, the manifest says %d (truncated or replaced)"
                            % (store.describe(path), size, shard["bytes"]))
            continue
        if not checksums:
            continue
        digest = hashlib.sha256()
        for chunk in store.read_chunks(path):
            digest.update(chunk)
        if digest.hexdigest() != shard["sha256"]:
            problems.append("%s does not match its SHA-256 (corrupted)" % store.describe(path))
    return problems


def target_version(masters, password):
    versions = []
    for master in masters:
        node = Node(master["host"], master["port"], password, timeout=10)
        try:
            versions.append(_info(node, "server")["redis_version"])
        finally:
            node.close()
    return min(versions, key=lambda v: tuple(int(x) for x in v.split(".")[:3]))


def check_restore(store, name, target_kind, masters, password=None):
    """Everything that can refuse a restore, done before the target is touched. Returns the
    manifest, the chosen method and the target's Redis version."""
    manifest = read_manifest(store, name)
    version = target_version(masters, password)
    problems = restore_refusals(manifest, target_kind, version, len(masters))
    if not problems:
        problems = file_problems(store, name, manifest)
    if problems:
        raise BackupError("restore of %s refused, the target was not touched: %s"
                          % (name, "; ".join(problems)))
    return manifest, restore_method(manifest, target_kind, len(masters)), version


# ---------------------------------------------------------------------------------------------
# Restore by replication: the target loads the RDB itself
# ---------------------------------------------------------------------------------------------

class RdbFeeder(threading.Thread):
    """Serves one RDB over the replication protocol to the one replica that connects."""

    def __init__(self, chunks, size, bind_host):
        super(RdbFeeder, self).__init__()
        self.daemon = True
        self.chunks = chunks
        self.size = size
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((bind_host, 0))
        self.listener.listen(1)
        self.listener.settimeout(60)
        self.address = self.listener.getsockname()
        self.sent = 0
        self.error = None
        self.connected = threading.Event()
        self.done = threading.Event()
        self.stopping = threading.Event()

    def run(self):
        conn = None
        try:
            conn, _ = self.listener.accept()
            self.connected.set()
            conn.settimeout(60)
            reader = conn.makefile("rb")
            while True:
                command = _read_command(reader)
                if command is None:
                    raise BackupError("the target closed the replication link before SYNC")
                verb = command[0].upper() if command else b""
                if verb in (b"PSYNC", b"SYNC"):
                    break
                conn.sendall(b"+PONG\r\n" if verb == b"PING" else b"+OK\r\n")
            replid = uuid.uuid4().hex + uuid.uuid4().hex[:8]
            if verb == b"PSYNC":
                conn.sendall(b"+FULLRESYNC %s 0\r\n" % replid.encode())
            conn.sendall(b"$%d\r\n" % self.size)
            for chunk in self.chunks:
                conn.sendall(chunk)
                self.sent += len(chunk)
            self.done.set()
            # Stay the target's master until it is promoted (it reports ACKs meanwhile).
            conn.settimeout(1)
            while not self.stopping.is_set():
                try:
                    if not conn.recv(65536):
                        break
                except socket.timeout:
                    continue
        except Exception as exc:
            self.error = exc
            self.done.set()
        finally:
            if conn is not None:
                conn.close()
            self.listener.close()

    def stop(self):
        self.stopping.set()
        self.join(10)


def _read_command(reader):
    line = reader.readline()
    if not line:
        return None
    if not line.startswith(b"*"):
        return line.split()
    args = []
    for _ in range(int(line[1:])):
        length = int(reader.readline()[1:])
        args.append(reader.read(length + 2)[:-2])
    return args


def _local_address_towards(host):
    """The address of this machine that the target reaches us on."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect((host, 9))
        return probe.getsockname()[0]
    finally:
        probe.close()


def load_by_replication(node, name, chunks, size, timeout=600, bind_host=None):
    """Makes ``node`` load one RDB as a replica would (its own loader: native speed, and its
    data replaced), then a master again. ``name`` is for messages."""
    bind_host = bind_host or _local_address_towards(node.host)
    feeder = RdbFeeder(chunks, size, bind_host)
    feeder.start()
    try:
        with _prompt_replica_connect(node, _info(node, "server").get("redis_version", "")):
            node.call("REPLICAOF", feeder.address[0], str(feeder.address[1]))
            feeder.connected.wait(2)
        deadline = time.time() + timeout
        while True:
            if feeder.error is not None:
                raise BackupError("feeding %s to %s failed: %s" % (
                    name, node.address, error_text(feeder.error)))
            info = _info(node, "replication")
            if feeder.done.is_set() and info.get("master_link_status") == "up" and \
                    info.get("master_sync_in_progress") in ("0", None):
                return
            if time.time() > deadline:
                raise BackupError("%s did not finish loading %s within %ds" % (
                    node.address, name, timeout))
            time.sleep(0.02)
    finally:
        # Whatever happened, the node serves as a master again.
        try:
            node.call("REPLICAOF", "NO", "ONE")
        finally:
            feeder.stop()


def restore_by_replication(store, name, manifest, master, password=None, timeout=600,
                           bind_host=None):
    shard = manifest["shards"][0]
    node = Node(master["host"], master["port"], password, timeout=30)
    try:
        path = "%s/%s" % (name, shard["file"])
        load_by_replication(node, path, store.read_chunks(path), shard["bytes"], timeout,
                            bind_host)
    finally:
        node.close()


# ---------------------------------------------------------------------------------------------
# Restore by placement: each file put in a master's volume before Redis first starts
# ---------------------------------------------------------------------------------------------

def _place_file(store, path, shard, volume):
    """Copies one backup file into ``volume`` as PLACED_FILE, checking its SHA-256 on the
    way; the file is renamed into place only when size and digest match the manifest."""
    def check(total, sha256):
        if total != shard["bytes"] or sha256 != shard["sha256"]:
            raise BackupError("%s does not match its manifest (%d bytes, SHA-256 %s): corrupted "
                              "or replaced" % (store.describe(path), total, sha256))

    return copy_checked(store.read_chunks(path), volume["store"].open_writer(PLACED_FILE),
                        check)[0]


def place_backup(store, name, volumes, target_kind, target_version, restore_name="",
                 check_mode=False, log=None):
    """Puts backup ``name`` into a target created for this restore whose pods wait in their
    restore-wait init container: each shard's file goes into the volume of the shard's
    ``primary`` pod as PLACED_FILE; once every file is there and matches its manifest, every
    volume gets RELEASE_MARKER and its pod starts (the init container puts the file where
    Redis loads it; a cluster node claims the slots of the keys it loads, replicas start empty
    and sync). Nothing is released when any file fails: the placed ones are removed.

    When the shapes do not allow placement (restore_method says 'keys') every pod is released
    empty and the result's method tells the caller to load key by key once the target runs.

    ``volumes``: dicts {shard, primary, name, store (the volume's root)}. A run after the
    release (an interrupted reconcile) only releases volumes still waiting."""
    log = log or (lambda message: None)
    manifest = read_manifest(store, name)
    primaries = dict((v["shard"], v) for v in volumes if v.get("primary"))
    method = restore_method(manifest, target_kind, len(primaries), waiting=True)
    problems = []
    if method == "placement":
        problems = restore_refusals(manifest, target_kind, target_version, len(primaries))
        if not problems and sorted(primaries) != list(range(len(primaries))):
            problems.append("no primary volume for shard(s) %s" % ", ".join(
                str(i) for i in range(max(primaries) + 1) if i not in primaries))
        if not problems:
            # Each file's SHA-256 is checked while it is copied, before any pod is released.
            problems = file_problems(store, name, manifest, checksums=False)
    if problems:
        raise BackupError("restore of %s refused, the target was not touched: %s"
                          % (name, "; ".join(problems)))
    released = [v["name"] for v in volumes if v["store"].size(RELEASE_MARKER) is not None]
    waiting = [v for v in volumes if v["name"] not in released]
    result = {"backup": name, "method": method, "files": len(manifest["shards"]),
              "bytes": manifest["totalBytes"], "released": sorted(v["name"] for v in waiting),
              "changed": bool(waiting)}
    if check_mode or not waiting:
        return result
    if method == "placement" and not released:  # an earlier release placed every file first
        started = time.time()

        def place(shard):
            volume = primaries[shard["index"]]
            size = _place_file(store, "%s/%s" % (name, shard["file"]), shard, volume)
            log("%s: %d bytes placed in %s" % (shard["file"], size, volume["name"]))

        _, errors = in_parallel(place, manifest["shards"], lambda shard: shard["file"])
        if errors:
            for volume in primaries.values():
                try:
                    volume["store"].delete_backup(PLACED_FILE)
                except BackupError:
                    pass
            raise BackupError("placing %s failed, nothing was released: %s" % (
                name, "; ".join(errors)))
        result["seconds"] = round(time.time() - started, 3)
    marker = {"restore": restore_name, "backup": name, "releasedAt": _now()}
    _, errors = in_parallel(lambda v: v["store"].write_json(RELEASE_MARKER, dict(
        marker, placed=method == "placement" and bool(v.get("primary")))), waiting,
        lambda v: v["name"])
    if errors:
        raise BackupError("every file of %s is in place, releasing the pods failed: %s" % (
            name, "; ".join(errors)))
    return result


def verify_restore(store, name, kind, pods, password=None):
    """Compares the key count of a restored target (started, Ready) with the backup's."""
    manifest = read_manifest(store, name)
    masters = restore_targets(observe_pods(pods, password, kind == "RedisCluster"),
                              kind == "RedisCluster")
    return _checked_key_count(name, manifest, masters, password)


def _checked_key_count(name, manifest, masters, password):
    keys = count_keys(masters, password)
    least, most = expected_key_range(manifest)
    if not least <= keys <= most:
        raise BackupError("restore of %s finished with %d keys; the backup holds %d (%d with a "
                          "TTL that may have expired since)" % (name, keys, most, most - least))
    return keys


# ---------------------------------------------------------------------------------------------
# Restore by keys: each file loaded aside, keys sent to the master owning their slot
# ---------------------------------------------------------------------------------------------

class ScratchServer(object):
    """An empty private redis-server on loopback to load backup files aside, when no loader
    pod is given (playbook runs on a machine with Redis installed; the tests)."""

    def __init__(self, binary):
        self.binary = binary
        self.password = uuid.uuid4().hex
        self.workdir = tempfile.mkdtemp(prefix="redisible-restore-")
        self.port = _free_loopback_port()
        self.proc = None

    def start(self):
        config = os.path.join(self.workdir, "scratch.conf")
        with open(config, "w") as handle:
            handle.write("\n".join([
                "bind 127.0.0.1", "port %d" % self.port, "dir %s" % self.workdir,
                "appendonly no", 'save ""', "daemonize no", "databases 256",
                "logfile %s/redis.log" % self.workdir,
                "requirepass %s" % self.password, "masterauth %s" % self.password]) + "\n")
        try:
            self.proc = subprocess.Popen([self.binary, config], stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
        except OSError as exc:
            raise BackupError("cannot start %s for the restore: %s" % (self.binary, exc))
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise BackupError("%s exited at start: %s" % (self.binary, self._log_tail()))
            node = Node("127.0.0.1", self.port, self.password, timeout=600, retry=False)
            try:
                node.call("PING")
                return node
            except Exception:  # not listening yet
                node.close()
            time.sleep(0.05)
        raise BackupError("%s did not start: %s" % (self.binary, self._log_tail()))

    def _log_tail(self):
        try:
            with open(os.path.join(self.workdir, "redis.log")) as handle:
                lines = [line.strip() for line in handle.readlines()[-5:] if line.strip()]
            return " / ".join(lines) or "no log"
        except (IOError, OSError):
            return "no log"

    def cleanup(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)


def _free_loopback_port():
    sock = socket.socket()
    try:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
    finally:
        sock.close()


class KeyRouter(object):
    """Where each key goes: the master that owns its slot (a cluster), or the one master."""

    def __init__(self, masters, password, cluster):
        self.cluster = cluster
        self.masters = masters
        self.owner_of_slot = None
        if cluster:
            node = Node(masters[0]["host"], masters[0]["port"], password, timeout=10)
            try:
                nodes = parse_cluster_nodes(reply_text(node.call("CLUSTER", "NODES")))
            finally:
                node.close()
            self.owner_of_slot = {}
            for line in nodes.values():
                if line.is_master and not line.is_failing:
                    for slot in line.slots:
                        self.owner_of_slot[slot] = (line.host, line.port)
            if len(self.owner_of_slot) != 16384:
                raise BackupError("the target cluster does not serve all 16384 slots (%d): "
                                  "converge it first" % len(self.owner_of_slot))

    def group(self, keys):
        if not self.cluster:
            return {(self.masters[0]["host"], int(self.masters[0]["port"])): keys}
        groups = {}
        for key in keys:
            groups.setdefault(self.owner_of_slot[key_slot(key)], []).append(key)
        return groups


def flush_targets(masters, password):
    for master in masters:
        node = Node(master["host"], master["port"], password, timeout=120)
        try:
            node.call("FLUSHALL")
        finally:
            node.close()


def move_keys(scratch, router, password, batch=1000):
    """SCAN the scratch server and MIGRATE every key (TTL included, REPLACE) to its owner.
    Returns the number of keys sent."""
    sent = 0
    dbs = [name[2:] for name in _info(scratch, "keyspace") if name.startswith("db")]
    for db in dbs:
        if router.cluster and db != "0":
            raise BackupError("the backup holds keys in database %s; a cluster has only 0" % db)
        scratch.call("SELECT", db)
        cursor = b"0"
        while True:
            cursor, keys = scratch.call("SCAN", cursor, "COUNT", batch)
            for (host, port), group in router.group(keys).items():
                auth = ["AUTH", password] if password else []
                reply = scratch.call("MIGRATE", host, port, "", db, 60000, "COPY", "REPLACE",
                                     *(auth + ["KEYS"] + group))
                if reply not in (b"OK", b"NOKEY"):
                    raise BackupError("MIGRATE to %s:%s answered %r" % (host, port, reply))
                sent += len(group)
            if cursor in (b"0", 0, "0"):
                break
    return sent


def restore_by_keys(store, name, manifest, masters, password, cluster, loader, timeout=600,
                    bind_host=None, log=None):
    """``loader``: a Node to load files into (a loader pod on the target's image), or the path
    of a redis-server binary for a private scratch server."""
    log = log or (lambda message: None)
    router = KeyRouter(masters, password, cluster)
    scratch = None
    if not isinstance(loader, Node):
        scratch = ScratchServer(loader)
    try:
        node = scratch.start() if scratch else loader
        flush_targets(masters, password)
        sent = 0
        for shard in manifest["shards"]:
            path = "%s/%s" % (name, shard["file"])
            load_by_replication(node, path, store.read_chunks(path), shard["bytes"], timeout,
                                bind_host)
            count = move_keys(node, router, password)
            log("%s: %d keys restored" % (shard["file"], count))
            sent += count
        return sent
    finally:
        if scratch is not None:
            scratch.cleanup()


def count_keys(masters, password):
    total = 0
    for master in masters:
        node = Node(master["host"], master["port"], password, timeout=30)
        try:
            total += sum(db["keys"] for db in keyspace_sizes(_info(node, "keyspace")).values())
        finally:
            node.close()
    return total


def restore(store, name, target_kind, masters, password=None, redis_server="redis-server",
            check_mode=False, timeout=600, bind_host=None, log=None, loader=None):
    """Restores backup ``name`` into the target's masters (dicts name/host/port; for a cluster
    every master, any order). Returns a result dict; raises BackupError (target untouched when
    the refusal comes from the checks)."""
    manifest, method, version = check_restore(store, name, target_kind, masters, password)
    loader_binary = None
    if method == "keys" and loader is None:
        # Chosen before anything is touched: no usable server is a refusal too.
        binaries = redis_server if isinstance(redis_server, dict) else {version: redis_server}
        loader_binary = choose_scratch_server(binaries, version)
    result = {"backup": name, "method": method, "files": len(manifest["shards"]),
              "bytes": manifest["totalBytes"]}
    if check_mode:
        return dict(result, changed=True)
    started = time.time()
    if method == "replication":
        restore_by_replication(store, name, manifest, masters[0], password, timeout, bind_host)
    else:
        loader_node = Node(loader["host"], loader.get("port") or 6379, loader.get("password"),
                           timeout=600) if loader else None
        try:
            restore_by_keys(store, name, manifest, masters, password,
                            target_kind == "RedisCluster", loader_node or loader_binary,
                            timeout, bind_host, log)
        finally:
            if loader_node is not None:
                loader_node.close()
    keys = _checked_key_count(name, manifest, masters, password)
    return dict(result, changed=True, keys=keys, seconds=round(time.time() - started, 3))


# ---------------------------------------------------------------------------------------------
# Entry points for the modules: pods in, everything else observed
# ---------------------------------------------------------------------------------------------

def observe_pods(pods, password, cluster):
    """Role, master link and (cluster) served slots of each pod: dicts for the pure choosers."""
    observed = []
    for pod in pods:
        node = Node(pod["host"], pod.get("port") or 6379, password, timeout=10, retry=False)
        try:
            info = _info(node, "replication")
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


def restore_instance(store, name, kind, pods, password=None, redis_server="redis-server",
                     check_mode=False, timeout=600, bind_host=None, log=None, loader=None):
    """Restores backup ``name`` into the instance made of ``pods``."""
    cluster = kind == "RedisCluster"
    masters = restore_targets(observe_pods(pods, password, cluster), cluster)
    return restore(store, name, kind, masters, password, redis_server, check_mode, timeout,
                   bind_host, log, loader)


def _completed_epoch(manifest):
    try:
        return calendar.timegm(time.strptime(manifest.get("completedAt") or "",
                                             "%Y-%m-%dT%H:%M:%SZ"))
    except ValueError:
        return 0


def prune_backups(store, name_prefix, keep_last=None, keep_days=None, check_mode=False,
                  now=None):
    """Deletes the backups of one schedule (named <name_prefix><digits>) that the retention
    policy does not keep. Returns (pruned names, kept names)."""
    # <prefix><digits> only: "nightly-" must not reach the backups of "nightly-eu-".
    names = [n for n in store.list_backups()
             if n.startswith(name_prefix) and n[len(name_prefix):].isdigit()]
    completed = [(n, _completed_epoch(read_manifest(store, n))) for n in names]
    pruned = backups_to_prune(completed, keep_last, keep_days,
                              time.time() if now is None else now)
    if not check_mode:
        for name in pruned:
            store.delete_backup(name)
    return sorted(pruned), sorted(set(names) - set(pruned))
