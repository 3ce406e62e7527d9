# -*- coding: utf-8 -*-
# Copyright: redisible contributors
# Apache License 2.0 (see LICENSE)
"""The replication protocol, both sides, and the live-server helpers around it.

Client side: :class:`ReplicationStream` reads one RDB snapshot from a server as a replica does
(SYNC), for backups. Server side: :class:`RdbFeeder` serves one RDB to the one replica that
connects, so that a target loads a backup with its own loader (:func:`load_by_replication`).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import socket
import threading
import time
import uuid

from ansible.module_utils.redisible_backup_store import CHUNK
from ansible.module_utils.redisible_rdb import BackupError, version_tuple
from ansible.module_utils.redisible_redis import error_text
from ansible.module_utils.redisible_replies import parse_info, reply_text

COALESCE = 256 * 1024


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


def info_section(node, section):
    """One INFO section of ``node``, parsed."""
    return parse_info(reply_text(node.call("INFO", section)))


def wait_replica_caught_up(replica, master, timeout):
    """Everything the master acknowledged before the backup started must be in the snapshot:
    wait until the replica has processed the master's offset of this moment."""
    target = int(info_section(master, "replication").get("master_repl_offset", 0))
    deadline = time.time() + timeout
    while True:
        info = info_section(replica, "replication")
        if info.get("master_link_status") == "up" and \
                int(info.get("slave_repl_offset", -1)) >= target:
            return target
        if time.time() > deadline:
            raise BackupError("replica %s did not catch up with its master within %ds "
                              "(offset %s of %d)" % (replica.address, timeout,
                                                     info.get("slave_repl_offset"), target))
        time.sleep(0.05)


class TemporaryConfig(object):
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


def diskless_delay_off(node):
    """A diskless master waits repl-diskless-sync-delay seconds for more replicas before it
    forks (5 s by default in 7.0): a backup has nobody to wait for, so 0 while it starts."""
    return TemporaryConfig(node, "repl-diskless-sync-delay", "0")


def prompt_replica_connect(node, version):
    """Before 6.0 a new replica connects to its master only from the replication cron, once a
    second (up to a second lost per load). The cron runs on every serverCron while hz is 1,
    and the serverCron already scheduled comes within 1000/hz ms: so hz 1 until connected."""
    if version_tuple(version) >= (6, 0, 0):
        return contextlib.nullcontext()
    return TemporaryConfig(node, "hz", "1")


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
        with prompt_replica_connect(node, info_section(node, "server").get("redis_version", "")):
            node.call("REPLICAOF", feeder.address[0], str(feeder.address[1]))
            feeder.connected.wait(2)
        deadline = time.time() + timeout
        while True:
            if feeder.error is not None:
                raise BackupError("feeding %s to %s failed: %s" % (
                    name, node.address, error_text(feeder.error)))
            info = info_section(node, "replication")
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
