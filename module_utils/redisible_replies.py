# -*- coding: utf-8 -*-
# Copyright: redisible contributors
# Apache License 2.0 (see LICENSE)
"""Parsers of Redis replies, shared by every planner and executor (no I/O, no decisions).

``CLUSTER NODES``, ``INFO``, flat pair replies (SENTINEL MASTER and friends), the replica lines
of INFO replication, and slot-range arithmetic. Redis 5.0 to 7.x reply forms.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

SLOT_COUNT = 16384


class ReplyError(ValueError):
    """A reply that does not parse; the message quotes it."""


def reply_text(reply):
    """A reply as text (redis-py gives bytes unless asked to decode)."""
    return reply.decode() if isinstance(reply, bytes) else str(reply)




class NodeLine(object):
    """One line of ``CLUSTER NODES`` as seen by the node that printed it."""

    __slots__ = ("node_id", "host", "port", "cport", "flags", "master_id", "config_epoch",
                 "link_state", "slots", "migrating", "importing")

    def __init__(self, node_id, host, port, cport, flags, master_id, config_epoch, link_state,
                 slots, migrating, importing):
        self.node_id = node_id
        self.host = host
        self.port = port
        self.cport = cport
        self.flags = flags
        self.master_id = master_id
        self.config_epoch = config_epoch
        self.link_state = link_state
        self.slots = slots
        self.migrating = migrating
        self.importing = importing

    @property
    def address(self):
        return "%s:%d" % (self.host, self.port)

    @property
    def is_master(self):
        return "master" in self.flags

    @property
    def is_replica(self):
        return "slave" in self.flags

    @property
    def is_myself(self):
        return "myself" in self.flags

    @property
    def is_failing(self):
        return bool(self.flags & {"fail", "fail?", "handshake", "noaddr"})

    def __repr__(self):
        return "NodeLine(%s %s %s)" % (self.node_id[:8], self.address, ",".join(sorted(self.flags)))


def parse_cluster_nodes(text):
    """Parse ``CLUSTER NODES`` output (Redis 5.0 to 7.x) into ``{node_id: NodeLine}``.

    Address forms: ``ip:port@cport`` (5.0+), ``ip:port@cport,hostname`` (7.0+), ``:0@0`` for a
    node without address. Slot forms: ``N``, ``N-M``, ``[N->-id]`` (migrating), ``[N-<-id]``
    (importing).
    """
    nodes = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        fields = line.split(" ")
        if len(fields) < 8:
            raise ReplyError("unparseable CLUSTER NODES line: %r" % line)
        node_id, addr, flags, master, _ping, _pong, epoch, link = fields[:8]
        addr = addr.split(",", 1)[0]
        hostport, _, cport = addr.partition("@")
        host, _, port = hostport.rpartition(":")
        slots, migrating, importing = set(), {}, {}
        for item in fields[8:]:
            if item.startswith("["):
                body = item[1:-1]
                if "->-" in body:
                    slot, other = body.split("->-")
                    migrating[int(slot)] = other
                elif "-<-" in body:
                    slot, other = body.split("-<-")
                    importing[int(slot)] = other
                continue
            if "-" in item:
                first, last = item.split("-")
                slots.update(range(int(first), int(last) + 1))
            else:
                slots.add(int(item))
        nodes[node_id] = NodeLine(
            node_id=node_id, host=host, port=int(port or 0), cport=int(cport or 0),
            flags=frozenset(flags.split(",")), master_id=None if master == "-" else master,
            config_epoch=int(epoch), link_state=link, slots=frozenset(slots),
            migrating=migrating, importing=importing)
    return nodes


def parse_info(text):
    """Parse ``INFO`` output into a flat dict of strings."""
    result = {}
    for line in text.splitlines():
        if not line or line.startswith("#") or ":" not in line:
            continue
        key, _, value = line.partition(":")
        result[key.strip()] = value.strip()
    return result


def slot_ranges(slots):
    """``{0,1,2,5}`` -> ``[[0, 2], [5, 5]]`` (sorted, inclusive)."""
    ranges = []
    for slot in sorted(slots):
        if ranges and ranges[-1][1] == slot - 1:
            ranges[-1][1] = slot
        else:
            ranges.append([slot, slot])
    return ranges


def format_slot_ranges(slots):
    return format_ranges(slot_ranges(slots))


def format_ranges(ranges):
    """[[0, 5], [9, 9]] -> "0-5,9"."""
    return ",".join("%d" % a if a == b else "%d-%d" % (a, b) for a, b in ranges)


def pairs_to_dict(reply):
    """A flat ``[k1, v1, k2, v2, ...]`` reply (SENTINEL MASTER and friends) as a dict."""
    items = [item.decode() if isinstance(item, bytes) else str(item) for item in reply]
    return dict(zip(items[0::2], items[1::2]))


def parse_replica_lines(replication):
    """``slaveN:ip=..,port=..,state=..,offset=..,lag=..`` entries of INFO replication."""
    replicas = []
    for key in sorted(k for k in replication if k.startswith("slave") and k[5:].isdigit()):
        fields = dict(part.split("=", 1) for part in replication[key].split(",") if "=" in part)
        replicas.append({"ip": fields.get("ip"), "port": int(fields.get("port", 0)),
                         "state": fields.get("state"), "offset": int(fields.get("offset", 0)),
                         "lag": int(fields.get("lag", 0))})
    return replicas
