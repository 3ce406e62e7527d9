"""Data the backup tests write and compare: every Redis data type, with and without TTLs.

A snapshot reads every key of the given clients (masters) back with its type, value and TTL,
so two snapshots compare key for key.
"""

import time


class Snapshot(dict):
    """key -> (type, value, has TTL, TTL ms), and when it was read."""

    def __init__(self):
        super(Snapshot, self).__init__()
        self.started = time.time()
        self.finished = None


def write_every_type(client, prefix, count=40):
    """Every data type, small (compact encodings) and large (full encodings), some with TTLs."""
    for i in range(count):
        key = "%s:%d" % (prefix, i)
        client.set(key + ":str", "value-%d" % i)
        client.set(key + ":int", i * 1000)
        client.set(key + ":ttl", "expires", ex=3600 + i)
        client.hset(key + ":hash", mapping={"f%d" % j: "v%d" % j for j in range(3 + i)})
        client.rpush(key + ":list", *["item-%d" % j for j in range(2 + i)])
        client.sadd(key + ":set", *["m%d" % j for j in range(2 + i)])
        client.sadd(key + ":intset", *range(2 + i))
        client.zadd(key + ":zset", {"z%d" % j: j * 1.5 for j in range(2 + i)})
        client.xadd(key + ":stream", {"field": "v%d" % i})
        client.xadd(key + ":stream", {"field": "w%d" % i})
        client.pexpire(key + ":hash", 7200000)
    big = prefix + ":big"
    client.hset(big + ":hash", mapping={"field-%d" % j: "x" * 80 for j in range(700)})
    client.rpush(big + ":list", *["element-%d" % j for j in range(3000)])
    client.sadd(big + ":set", *["member-%d" % j for j in range(700)])
    client.zadd(big + ":zset", {"member-%d" % j: j for j in range(300)})
    client.set(big + ":str", "s" * 100000)
    for j in range(200):
        client.xadd(big + ":stream", {"n": j, "payload": "p" * 50})


def snapshot(clients):
    """Every key of the given masters (see Snapshot)."""
    result = Snapshot()
    for client in clients:
        for key in client.scan_iter(count=1000):
            kind = client.type(key).decode()
            if kind == "string":
                value = client.get(key)
            elif kind == "hash":
                value = client.hgetall(key)
            elif kind == "list":
                value = client.lrange(key, 0, -1)
            elif kind == "set":
                value = sorted(client.smembers(key))
            elif kind == "zset":
                value = client.zrange(key, 0, -1, withscores=True)
            elif kind == "stream":
                value = client.xrange(key)
            else:
                raise AssertionError("unexpected type %s" % kind)
            ttl = client.pttl(key)
            result[key] = (kind, value, ttl > 0, ttl)
    result.finished = time.time()
    return result


def assert_same_data(before, after):
    assert set(before) == set(after), (sorted(set(before) ^ set(after))[:10])
    # Absolute expiry times are kept: a TTL may shrink by the time between the two reads only.
    elapsed_ms = (after.finished - before.started) * 1000 + 1000
    for key, (kind, value, has_ttl, ttl) in before.items():
        kind2, value2, has_ttl2, ttl2 = after[key]
        assert (kind, value, has_ttl) == (kind2, value2, has_ttl2), key
        if has_ttl:
            assert ttl - elapsed_ms < ttl2 <= ttl, (key, ttl, ttl2, elapsed_ms)
