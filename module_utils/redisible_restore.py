# -*- coding: utf-8 -*-
# Copyright: redisible contributors
# Apache License 2.0 (see LICENSE)
"""Restores of a backup into a live or a waiting target (decisions in ``redisible_rdb``).

The manifest and every file (size and SHA-256) are checked, and the RDB format is compared with
what the target can read, before the target is touched. Then, by the method
``redisible_rdb.restore_method`` chose: the target loads the file itself as a replica of a
short-lived feeder (replication: native loading speed); each file goes into a waiting pod's
volume before Redis first starts (placement); or each file is loaded into a scratch or loader
server and its keys are sent with MIGRATE to the master owning their slot (keys).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid

from ansible.module_utils.redisible_backup import count_keys, in_parallel, observe_pods, utc_now
from ansible.module_utils.redisible_backup_store import copy_checked, file_problems, read_manifest
from ansible.module_utils.redisible_placement import PLACED_FILE, RELEASE_MARKER, WAIT_CONTAINER
from ansible.module_utils.redisible_rdb import (
    BackupError,
    choose_scratch_server,
    expected_key_range,
    restore_method,
    restore_refusals,
    restore_targets,
)
from ansible.module_utils.redisible_redis import Node
from ansible.module_utils.redisible_replication import info_section, load_by_replication
from ansible.module_utils.redisible_replies import parse_cluster_nodes, reply_text

try:
    from redis.crc import key_slot
except ImportError:  # reported through Node when redis-py is missing
    key_slot = None


# ---------------------------------------------------------------------------------------------
# Checks first: nothing is touched before they pass
# ---------------------------------------------------------------------------------------------

def target_version(masters, password):
    versions = []
    for master in masters:
        node = Node(master["host"], master["port"], password, timeout=10)
        try:
            versions.append(info_section(node, "server")["redis_version"])
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

def pod_volumes(pods, volume_storage, redis_container="redis"):
    """The data volumes of a target's pods (descriptions of redisible_pods.describe_pods) for
    :func:`place_backup`: each pod's volume is ``volume_storage`` (a pod store) reached
    through the pod's restore-wait init container while it waits, through Redis once it has
    started; the pod of ordinal 0 is its shard's primary (the one that loads the file)."""
    volumes = []
    for pod in pods:
        waiting = (pod.get("init_containers") or {}).get(WAIT_CONTAINER) == "running"
        volumes.append({
            "name": pod["name"], "shard": pod.get("shard") or 0,
            "primary": (pod.get("ordinal") or 0) == 0,
            "storage": dict(volume_storage, pod=pod["name"],
                            container=WAIT_CONTAINER if waiting else redis_container)})
    return volumes


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
    marker = {"restore": restore_name, "backup": name, "releasedAt": utc_now()}
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
    dbs = [name[2:] for name in info_section(scratch, "keyspace") if name.startswith("db")]
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


# ---------------------------------------------------------------------------------------------
# Entry points for the modules
# ---------------------------------------------------------------------------------------------

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


def restore_instance(store, name, kind, pods, password=None, redis_server="redis-server",
                     check_mode=False, timeout=600, bind_host=None, log=None, loader=None):
    """Restores backup ``name`` into the instance made of ``pods``."""
    cluster = kind == "RedisCluster"
    masters = restore_targets(observe_pods(pods, password, cluster), cluster)
    return restore(store, name, kind, masters, password, redis_server, check_mode, timeout,
                   bind_host, log, loader)
