# -*- coding: utf-8 -*-
# Copyright: redisible contributors
# Apache License 2.0 (see LICENSE)
"""Moving hash slots with their keys between masters, fast and without losing writes.

The per-slot protocol is the standard one (IMPORTING on the target, MIGRATING on the source,
MIGRATE the keys, SETSLOT NODE on target, source, then everyone). What makes it fast is doing it
for a window of slots at a time: each step is one pipeline for the whole window, so a window
costs a handful of round trips instead of several per slot, and Redis saves nodes.conf once per
pipeline rather than once per slot. Windows are bounded by key count, which bounds how long a
window blocks the source (MIGRATE is synchronous there). Different (source, target) pairs run
in parallel threads.

Why no write is lost: while a slot is MIGRATING, the source serves keys it still has and
redirects (ASK) writes for keys it no longer has to the target, which accepts them because it is
IMPORTING. MIGRATE deletes a key at the source only after the target stored it. REPLACE is used
because the source's copy is authoritative whenever it still has the key (that is where clients
wrote it); the target can only hold an older copy of such a key after a crash.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import threading
import time
from concurrent.futures import ThreadPoolExecutor

# Measured in bench/: 20,000-key windows move ~1.35x faster than 5,000 and no slower for
# clients, because Redis serves other clients between each 16 KiB of a pipeline anyway.
MIGRATION_DEFAULTS = {
    "key_batch": 1000,            # keys per MIGRATE call
    "window_keys": 20000,         # keys per pipelined window
    "window_slots": 512,          # slots per window at most
    "migrate_timeout_ms": 60000,  # MIGRATE timeout (very large keys need more)
    "parallel": 4,                # (source, target) pairs moved at once
}


class MigrationError(Exception):
    pass


def group_moves_by_pair(moves):
    """``[(slot, src, dst)]`` -> ``[((src, dst), [slots])]`` keeping first-seen pair order."""
    pairs = {}
    order = []
    for slot, src, dst in moves:
        key = (src, dst)
        if key not in pairs:
            pairs[key] = []
            order.append(key)
        pairs[key].append(slot)
    return [(key, pairs[key]) for key in order]


def windows_by_keys(slot_counts, window_keys, max_slots):
    """Split ``[(slot, key_count)]`` into windows of at most ``window_keys`` keys (a slot bigger
    than that is a window of its own) and at most ``max_slots`` slots."""
    windows, current, keys = [], [], 0
    for slot, count in slot_counts:
        if current and (keys + count > window_keys or len(current) >= max_slots):
            windows.append(current)
            current, keys = [], 0
        current.append(slot)
        keys += count
    if current:
        windows.append(current)
    return windows


# Retries of a failing MIGRATE: about 15 s of back-off for transient cluster states, or
# batches down to one key for big keys.
MIGRATE_ATTEMPTS = 10


def is_transient(reason):
    """Errors that clear by themselves once the cluster view settles."""
    return "CLUSTERDOWN" in reason or "TRYAGAIN" in reason


def _is_error(reply):
    return isinstance(reply, Exception)


def _msg(reply):
    text = str(reply)
    return text.splitlines()[0] if text else type(reply).__name__


class SlotMover(object):
    """Moves slots between the masters in ``nodes`` (node id -> ``redisible_redis.Node``)."""

    def __init__(self, nodes, addresses, password=None, progress=None, **tuning):
        settings = dict(MIGRATION_DEFAULTS)
        settings.update((k, v) for k, v in tuning.items() if v is not None)
        self.nodes = nodes
        self.addresses = addresses  # node id -> (host, port) as the source must reach it
        self.password = password
        self.key_batch = settings["key_batch"]
        self.window_keys = settings["window_keys"]
        self.window_slots = settings["window_slots"]
        self.migrate_timeout_ms = settings["migrate_timeout_ms"]
        self.parallel = max(1, settings["parallel"])
        self.progress = progress
        self._lock = threading.Lock()
        self.slots_moved = 0
        self.keys_moved = 0

    # -- public ---------------------------------------------------------------------------------

    def move(self, moves):
        """Run every move; returns ``(slots_moved, keys_moved)``. Raises MigrationError."""
        pairs = group_moves_by_pair(moves)
        if not pairs:
            return 0, 0
        if self.parallel == 1 or len(pairs) == 1:
            for (src, dst), slots in pairs:
                self._move_pair(src, dst, slots)
        else:
            with ThreadPoolExecutor(max_workers=min(self.parallel, len(pairs))) as pool:
                futures = [pool.submit(self._move_pair, src, dst, slots)
                           for (src, dst), slots in pairs]
                errors = []
                for future in futures:
                    try:
                        future.result()
                    except MigrationError as exc:
                        errors.append(str(exc))
                if errors:
                    raise MigrationError("; ".join(errors))
        return self.slots_moved, self.keys_moved

    def finish_slot(self, slot, owner, target):
        """Resume a migration a crash left open: re-open both sides and move what is left."""
        self._move_pair(owner, target, [slot])

    # -- one pair -------------------------------------------------------------------------------

    def _move_pair(self, src_id, dst_id, slots):
        try:
            self._move_pair_unsafe(src_id, dst_id, slots)
        except MigrationError:
            raise
        except Exception as exc:  # a peer went away mid-move: say which, keep the slot open
            raise MigrationError("%s -> %s: %s: %s" % (
                "%s:%s" % self.addresses[src_id], "%s:%s" % self.addresses[dst_id],
                type(exc).__name__, str(exc).splitlines()[0] if str(exc) else ""))

    def _move_pair_unsafe(self, src_id, dst_id, slots):
        src, dst = self.nodes[src_id], self.nodes[dst_id]
        others = [n for nid, n in self.nodes.items() if nid not in (src_id, dst_id)]
        for start in range(0, len(slots), self.window_slots * 4):
            chunk = slots[start:start + self.window_slots * 4]
            pipe = src.pipeline()
            for slot in chunk:
                pipe.execute_command("CLUSTER", "COUNTKEYSINSLOT", slot)
            counts = pipe.execute()
            for window in windows_by_keys(list(zip(chunk, counts)), self.window_keys,
                                          self.window_slots):
                moved = self._move_window(src, dst, others, src_id, dst_id, window)
                with self._lock:
                    self.slots_moved += len(window)
                    self.keys_moved += moved
                    if self.progress:
                        self.progress(self.slots_moved, self.keys_moved)

    def _move_window(self, src, dst, others, src_id, dst_id, window):
        self._pipeline_checked(dst, [("CLUSTER", "SETSLOT", s, "IMPORTING", src_id)
                                     for s in window], "open import on target %s" % dst.address)
        pipe = src.pipeline()
        for slot in window:
            pipe.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", dst_id)
            pipe.execute_command("CLUSTER", "GETKEYSINSLOT", slot, self.key_batch)
        replies = pipe.execute(raise_on_error=False)
        pending = {}
        for index, slot in enumerate(window):
            opened, keys = replies[2 * index], replies[2 * index + 1]
            if _is_error(opened):
                raise MigrationError("slot %d: open migration on source %s: %s" % (
                    slot, src.address, _msg(opened)))
            if _is_error(keys):
                raise MigrationError("slot %d: list keys on %s: %s" % (slot, src.address,
                                                                         _msg(keys)))
            if keys:
                pending[slot] = keys
        moved = 0
        batch = self.key_batch
        attempts = 0
        while pending:
            moved_now, pending, failures = self._migrate_round(src, dst_id, pending, batch)
            moved += moved_now
            if failures:
                attempts += 1
                if attempts > MIGRATE_ATTEMPTS:
                    raise MigrationError("slot(s) %s: MIGRATE %s -> %s keeps failing: %s" % (
                        ",".join(str(s) for s in sorted(failures)), src.address,
                        "%s:%s" % self.addresses[dst_id], "; ".join(
                            sorted(set(failures.values())))))
                if any(is_transient(reason) for reason in failures.values()):
                    # The target is settling its cluster view (CLUSTERDOWN/TRYAGAIN): wait.
                    time.sleep(min(2.0, 0.25 * 2 ** attempts))
                else:
                    batch = max(1, batch // 4)  # big keys: fewer per call, same long timeout
        self._pipeline_checked(dst, [("CLUSTER", "SETSLOT", s, "NODE", dst_id) for s in window],
                               "assign to target %s" % dst.address)
        # The target's epoch bump is authoritative; the source and the others learn it by
        # gossip anyway, so telling them is only to be quick. A source that gave away its last
        # slot may already have turned into a replica (Redis < 6.2) and refuses: that is fine.
        for node in [src] + others:
            pipe = node.pipeline()
            for slot in window:
                pipe.execute_command("CLUSTER", "SETSLOT", slot, "NODE", dst_id)
            try:
                pipe.execute(raise_on_error=False)
            except Exception:  # unreachable peer: gossip will tell it
                pass
        return moved

    def _migrate_round(self, src, dst_id, pending, batch):
        host, port = self.addresses[dst_id]
        auth = ("AUTH", self.password) if self.password else ()
        pipe = src.pipeline()
        plan = []
        for slot, keys in pending.items():
            for start in range(0, len(keys), batch):
                part = keys[start:start + batch]
                pipe.execute_command("MIGRATE", host, port, "", 0, self.migrate_timeout_ms,
                                     "REPLACE", *(auth + ("KEYS",) + tuple(part)))
                plan.append((slot, len(part)))
            pipe.execute_command("CLUSTER", "GETKEYSINSLOT", slot, self.key_batch)
            plan.append((slot, None))
        replies = pipe.execute(raise_on_error=False)
        moved = 0
        still = {}
        failures = {}
        for (slot, count), reply in zip(plan, replies):
            if count is None:
                if _is_error(reply):
                    raise MigrationError("slot %d: list keys on %s: %s" % (slot, src.address,
                                                                             _msg(reply)))
                if reply:
                    still[slot] = reply
                continue
            if _is_error(reply):
                failures[slot] = _msg(reply).replace(self.password or "\0", "***")
            elif reply == b"OK":
                moved += count
        return moved, still, failures

    @staticmethod
    def _pipeline_checked(node, commands, what):
        pipe = node.pipeline()
        for command in commands:
            pipe.execute_command(*command)
        for command, reply in zip(commands, pipe.execute(raise_on_error=False)):
            if _is_error(reply):
                raise MigrationError("slot %s: %s: %s" % (command[2], what, _msg(reply)))
