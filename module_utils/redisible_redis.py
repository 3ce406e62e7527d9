# -*- coding: utf-8 -*-
# Copyright: redisible contributors
# Apache License 2.0 (see LICENSE)
"""Connections to single Redis pods (the I/O edge shared by every module).

Replies come back raw (bytes): keys are binary-safe, and text replies are parsed by the pure
functions in ``redisible_replies``. Works with Redis 5.0 (AUTH <password>) to 7.x.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.redisible_replies import parse_info, reply_text

try:
    import redis
    HAS_REDIS = True
    REDIS_IMPORT_ERROR = None
except ImportError as exc:  # reported by the module, not raised at import
    redis = None
    HAS_REDIS = False
    REDIS_IMPORT_ERROR = exc


class RedisUnavailable(Exception):
    pass


class Node(object):
    """One Redis server at host:port, with raw replies and no client-side parsing."""

    def __init__(self, host, port, password=None, timeout=10.0, connect_timeout=5.0,
                 retry=True):
        if not HAS_REDIS:
            raise RedisUnavailable("the Python package 'redis' is required: %s"
                                   % REDIS_IMPORT_ERROR)
        self.host = host
        self.port = int(port)
        options = {}
        if not retry:
            # redis-py retries a failed connection 3 times with back-off up to 10 s: a pod that
            # is gone would hold every observation for half a minute.
            from redis.backoff import NoBackoff
            from redis.retry import Retry
            options["retry"] = Retry(NoBackoff(), 0)
        self.client = redis.Redis(
            host=host, port=self.port, password=password or None, socket_timeout=timeout,
            socket_connect_timeout=connect_timeout, decode_responses=False, **options)
        # Raw replies everywhere: our parsers read them, and MIGRATE keys stay bytes.
        self.client.response_callbacks = {}

    @property
    def address(self):
        return "%s:%d" % (self.host, self.port)

    def call(self, *args):
        return self.client.execute_command(*args)

    def pipeline(self):
        return self.client.pipeline(transaction=False)

    def close(self):
        try:
            self.client.close()
        except Exception:  # closing is best effort
            pass


def error_text(exc):
    """A one-line reason for a Redis error, with the password never in it."""
    return "%s: %s" % (type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")


def instance_info(host, port, password=None):
    """Role, version, memory and key count of one Redis, for status (read-only)."""
    node = Node(host, port, password)
    try:
        pipe = node.pipeline()
        pipe.execute_command("INFO", "server")
        pipe.execute_command("INFO", "memory")
        pipe.execute_command("INFO", "replication")
        pipe.execute_command("DBSIZE")
        server, memory, replication, dbsize = pipe.execute()
    finally:
        node.close()
    fields = {}
    for text in (server, memory, replication):
        fields.update(parse_info(reply_text(text)))
    return {
        "role": fields.get("role"),
        "redis_version": fields.get("redis_version"),
        "used_memory": int(fields.get("used_memory", 0)),
        "keys": int(dbsize),
        "connected_replicas": int(fields.get("connected_slaves", 0)),
    }
