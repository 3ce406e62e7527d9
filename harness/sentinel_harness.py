"""Real Redis pods and real sentinels on loopback, started the way the pods start them.

Redis pods start parked (a replica of nothing, see PARKING_HOST) with replica-announce-ip; each
sentinel starts with an empty config of its own (an emptyDir in the pods), so a restarted
sentinel has forgotten everything, as it does on Kubernetes.
"""

import os
import random
import shutil
import subprocess
import tempfile
import threading
import time

import redis
from ansible.module_utils.redisible_sentinel_converge import converge, parking_directive
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis_harness import PASSWORD, RedisProcess, free_port, server_binary

MASTER_NAME = "mymaster"
# Fast enough for tests, the same meaning as spec.sentinel on the cluster.
SETTINGS = {"down-after-milliseconds": 1500, "failover-timeout": 6000, "parallel-syncs": 1}
# Memory-backed work dirs: with AOF on and two test workers a disk-backed /tmp stalls fsyncs
# for seconds, and a stalled sentinel enters TILT mode and stops acting for 30 s.
WORK_ROOT = "/dev/shm" if os.path.isdir("/dev/shm") else None
_used_hosts = set()
_host_lock = threading.Lock()


def loopback_host():
    """A fresh 127.x.y.z address: a 'pod IP' no other test or restart uses."""
    with _host_lock:
        while True:
            host = "127.%d.%d.%d" % (random.randint(1, 250), random.randint(0, 250),
                                     random.randint(2, 250))
            if host not in _used_hosts:
                _used_hosts.add(host)
                return host


class RedisPod(RedisProcess):
    """A Redis pod of a Sentinel deployment (same directives as the pods' runtime.conf)."""

    def __init__(self, version, ordinal, host=None, workdir=None):
        host = host or loopback_host()
        workdir = workdir or tempfile.mkdtemp(prefix="redisible-%s-" % version, dir=WORK_ROOT)
        super(RedisPod, self).__init__(version, host=host, workdir=workdir, cluster=False,
                                       node_timeout=0)
        self.ordinal = ordinal
        self.extra = ["replica-announce-ip %s" % host, parking_directive(),
                      "appendonly yes", "repl-diskless-sync yes", "repl-diskless-sync-delay 0"]

    def move(self, host=None):
        """Restart on a new address with the same data, as a pod that was re-created."""
        self.stop()
        self.host = host or loopback_host()
        self.port = free_port(self.host)
        self.extra[0] = "replica-announce-ip %s" % self.host
        return self.start()


class SentinelProcess(object):
    def __init__(self, version, ordinal, host=None):
        self.version = version
        self.ordinal = ordinal
        self.host = host or loopback_host()
        self.port = free_port(self.host)
        self.workdir = tempfile.mkdtemp(prefix="redisible-sentinel-%s-" % version,
                                        dir=WORK_ROOT)
        self.proc = None

    @property
    def address(self):
        return "%s:%d" % (self.host, self.port)

    def start(self):
        config = os.path.join(self.workdir, "sentinel.conf")
        with open(config, "w") as handle:  # what the sentinel pods write at start
            handle.write("\n".join([
                "port %d" % self.port, "bind %s" % self.host, "dir %s" % self.workdir,
                "logfile %s/sentinel.log" % self.workdir, "daemonize no",
                "protected-mode no", "requirepass %s" % PASSWORD,
                "sentinel announce-ip %s" % self.host]) + "\n")
        self.proc = subprocess.Popen([server_binary(self.version), config, "--sentinel"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                if self.client().ping():
                    return self
            except (redis.ConnectionError, redis.TimeoutError):
                time.sleep(0.05)
        raise RuntimeError("sentinel on %s did not answer" % self.address)

    def client(self):
        return redis.Redis(host=self.host, port=self.port, password=PASSWORD,
                           socket_timeout=5, decode_responses=True)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def move(self):
        """A re-created sentinel pod: new address, empty config."""
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)
        os.makedirs(self.workdir)
        self.host = loopback_host()
        self.port = free_port(self.host)
        return self.start()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


class SentinelDeployment(object):
    """Redis pods by ordinal (a StatefulSet) and sentinels (another one)."""

    def __init__(self, version, redis_count=3, sentinel_count=3):
        self.version = version
        self.pods = {}
        self.sentinels = [SentinelProcess(version, i).start() for i in range(sentinel_count)]
        self.scale(redis_count)

    def scale(self, count):
        """Start missing pods (parked) or stop and delete the ones above ``count``."""
        for ordinal in range(count):
            if ordinal not in self.pods:
                self.pods[ordinal] = RedisPod(self.version, ordinal).start()
        for ordinal in [o for o in self.pods if o >= count]:
            self.pods.pop(ordinal).cleanup()

    def redis_specs(self):
        return [{"name": "s-redis-%d" % o, "host": p.host, "port": p.port, "ordinal": o}
                for o, p in sorted(self.pods.items())]

    def sentinel_specs(self):
        return [{"name": "s-sentinel-%d" % s.ordinal, "host": s.host, "port": s.port,
                 "ordinal": s.ordinal} for s in self.sentinels]

    def converge(self, replicas=None, quorum=2, **kw):
        kw.setdefault("timeout", 120)
        return converge(self.redis_specs(), self.sentinel_specs(), MASTER_NAME,
                        replicas if replicas is not None else len(self.pods), quorum,
                        settings=SETTINGS, password=PASSWORD, **kw)

    def pod_named(self, name):
        return self.pods[int(name.rsplit("-", 1)[1])]

    def master(self):
        """The pod the sentinels name (through a sentinel-aware lookup)."""
        host, port = self.discover()
        for pod in self.pods.values():
            if (pod.host, pod.port) == (host, port):
                return pod
        raise AssertionError("the sentinels name %s:%d, which is no pod" % (host, port))

    def discover(self):
        for sentinel in self.sentinels:
            try:
                reply = sentinel.client().execute_command(
                    "SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME)
                if reply:
                    return reply[0], int(reply[1])
            except redis.RedisError:
                continue
        raise AssertionError("no sentinel names a master")

    def logs(self, tail=3000):
        out = []
        for sentinel in self.sentinels:
            try:
                with open(os.path.join(sentinel.workdir, "sentinel.log")) as handle:
                    out.append("--- sentinel %s\n%s" % (sentinel.address, handle.read()[-tail:]))
            except OSError:
                pass
        for ordinal, pod in sorted(self.pods.items()):
            out.append("--- redis %d %s\n%s" % (ordinal, pod.address, pod.log_tail()[-tail:]))
        return "\n".join(out)

    def cleanup(self):
        for pod in self.pods.values():
            pod.cleanup()
        for sentinel in self.sentinels:
            sentinel.cleanup()


class SentinelWriter(threading.Thread):
    """A client that finds the master through the sentinels, as applications do, and keeps
    overwriting its keys with increasing counters. It records which address acknowledged each
    write, so a test can tell writes the new master acknowledged from writes only a killed
    master ever saw."""

    def __init__(self, deployment, keys=500, max_seconds=300, password=PASSWORD):
        super(SentinelWriter, self).__init__(daemon=True)
        self.deployment = deployment
        self.password = password
        self.keys = ["sw:%d" % i for i in range(keys)]
        self.acked = {}        # key -> [(counter, address)] in order
        self.attempted = {}
        self.errors = 0
        self.ops = 0
        self._stop_event = threading.Event()
        self.max_seconds = max_seconds

    def run(self):
        counter = 0
        client, address = None, None
        deadline = time.time() + self.max_seconds
        while not self._stop_event.is_set() and time.time() < deadline:
            if client is None:
                try:
                    host, port = self.deployment.discover()
                    # No retries inside the client: on any error it asks the sentinels again,
                    # as a sentinel-aware application does.
                    client = redis.Redis(host=host, port=port, password=self.password,
                                         socket_timeout=2, socket_connect_timeout=1,
                                         retry=Retry(NoBackoff(), 0))
                    address = "%s:%d" % (host, port)
                except Exception:
                    time.sleep(0.05)
                    continue
            counter += 1
            key = self.keys[counter % len(self.keys)]
            self.attempted[key] = counter
            try:
                client.set(key, counter)
                self.acked.setdefault(key, []).append((counter, address))
                self.ops += 1
            except Exception:
                self.errors += 1
                client = None
                time.sleep(0.05)

    def stop(self):
        self._stop_event.set()
        self.join(30)

    def verify(self, client, lost_addresses=()):
        """Keys whose value is older than the last write acknowledged by a master that was
        not lost (or newer than anything attempted)."""
        bad = {}
        for key, acks in self.acked.items():
            kept = [counter for counter, address in acks if address not in lost_addresses]
            raw = client.get(key)
            value = int(raw) if raw is not None else None
            floor = max(kept) if kept else None
            if floor is not None and (value is None or value < floor):
                bad[key] = (value, floor)
            if value is not None and value > self.attempted[key]:
                bad[key] = (value, self.attempted[key])
        return bad
