#!/usr/bin/env python3
"""Write or verify numbered keys through a cluster-aware client (molecule helper).
The password comes from REDIS_PASSWORD, never from the command line."""

import argparse
import os
import sys

from redis.cluster import ClusterNode, RedisCluster


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("action", choices=["write", "verify"])
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--nodes", required=True)
    args = parser.parse_args()
    client = RedisCluster(startup_nodes=[ClusterNode(ip, 6379) for ip in args.nodes.split(",")],
                          password=os.environ["REDIS_PASSWORD"], socket_timeout=10)
    keys = ["%s:%d" % (args.prefix, index) for index in range(args.count)]
    for start in range(0, len(keys), 5000):
        chunk = keys[start:start + 5000]
        pipe = client.pipeline()
        for key in chunk:
            if args.action == "write":
                pipe.set(key, key)
            else:
                pipe.get(key)
        replies = pipe.execute()
        if args.action == "verify":
            wrong = [k for k, v in zip(chunk, replies) if v is None or v.decode() != k]
            if wrong:
                print("%d keys missing or wrong, first %s" % (len(wrong), wrong[0]))
                return 1
    print("%s %d keys" % ("wrote" if args.action == "write" else "verified", args.count))
    return 0


if __name__ == "__main__":
    sys.exit(main())
