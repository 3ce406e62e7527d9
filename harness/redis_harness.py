"""Real redis-server processes on loopback for the tests: single servers, cluster pods, writers.

Nothing here imitates Redis: every helper starts or talks to a real server of the version under
test (binaries installed by hack/install-redis-versions.sh).
"""

import importlib.util
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import jinja2
import redis
import yaml
from redis.cluster import ClusterNode, RedisCluster

CACHE = os.environ.get("REDISIBLE_CACHE", os.path.expanduser("~/.cache/redisible"))
ALL_VERSIONS = ("5.0", "6.0", "6.2", "7.0")
PASSWORD = "s3cret-for-tests"
REDIS_CLI = shutil.which("redis-cli") or os.path.join(CACHE, "redis", "7.0", "redis-cli")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMMON_ROLE = os.path.join(ROOT, "roles", "common")


def versions():
    """Versions under test: REDIS_VERSIONS (comma separated) or every installed one."""
    wanted = os.environ.get("REDIS_VERSIONS")
    chosen = wanted.split(",") if wanted else ALL_VERSIONS
    return [v for v in chosen if os.path.exists(server_binary(v))]


def server_binary(version):
    return os.path.join(CACHE, "redis", version, "redis-server")


def version_tuple(version):
    return tuple(int(x) for x in version.split("."))


_used_ports = set()
_port_lock = threading.Lock()


def _port_range():
    """Each pytest-xdist worker draws from its own slice of 12000-19999, so parallel tests
    never collide (a modulo over a fixed count did, once there were more workers); the slices
    and their cluster bus ports (+10000) stay below the ephemeral ports."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    span = 8000 // max(workers, 1)
    assert span >= 100, "too many pytest-xdist workers for the port range: %d" % workers
    low = 12000 + index * span
    return low, low + span - 1


def free_port(host="127.0.0.1"):
    """A port free for the client and for the cluster bus (port + 10000)."""
    low, high = _port_range()
    with _port_lock:
        for _ in range(500):
            port = random.randint(low, high)
            if port in _used_ports:
                continue
            ok = True
            for candidate in (port, port + 10000):
                with socket.socket() as sock:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    try:
                        sock.bind((host, candidate))
                    except OSError:
                        ok = False
            if ok:
                _used_ports.add(port)
                return port
    raise RuntimeError("no free port")


def cluster_config(version, node_timeout=2000):
    """The cluster directives the operator owns (mirrors roles/common/templates/redis.conf.j2)."""
    lines = [
        "cluster-enabled yes",
        "cluster-config-file nodes.conf",
        "cluster-node-timeout %d" % node_timeout,
        # Replicas stay in their shard (one StatefulSet per shard): never migrate them.
        "cluster-migration-barrier 999",
        "cluster-require-full-coverage yes",
        "appendonly no",
        'save ""',
        "repl-diskless-sync yes",
        "repl-diskless-sync-delay 0",
    ]
    if version_tuple(version) >= (7, 0):
        # A drained master stays a master (6.2's version of this flag does not cover it).
        lines.append("cluster-allow-replica-migration no")
    return lines


class RedisProcess(object):
    def __init__(self, version, host="127.0.0.1", port=None, workdir=None, cluster=True,
                 password=PASSWORD, extra=(), node_timeout=2000):
        self.version = version
        self.host = host
        self.port = port or free_port(host)
        self.workdir = workdir or tempfile.mkdtemp(prefix="redisible-%s-" % version)
        self.cluster = cluster
        self.password = password
        self.extra = list(extra)
        self.node_timeout = node_timeout
        self.proc = None

    @property
    def address(self):
        return "%s:%d" % (self.host, self.port)

    def write_config(self):
        lines = ["bind %s" % self.host, "port %d" % self.port, "dir %s" % self.workdir,
                 "daemonize no", "logfile %s/redis.log" % self.workdir, "protected-mode no"]
        if self.password:
            lines += ["requirepass %s" % self.password, "masterauth %s" % self.password]
        if self.cluster:
            lines += cluster_config(self.version, self.node_timeout)
            # As the pods do with their pod IP: peers must not guess it from the socket.
            lines.append("cluster-announce-ip %s" % self.host)
        lines += self.extra
        path = os.path.join(self.workdir, "redis.conf")
        with open(path, "w") as handle:
            handle.write("\n".join(lines) + "\n")
        return path

    def start(self):
        config = self.write_config()
        self.proc = subprocess.Popen([server_binary(self.version), config],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("redis %s on %s exited: %s" % (self.version, self.address,
                                                                  self.log_tail()))
            try:
                if self.client().ping():
                    return self
            except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
                time.sleep(0.05)
        raise RuntimeError("redis on %s did not answer: %s" % (self.address, self.log_tail()))

    def log_tail(self):
        try:
            with open(os.path.join(self.workdir, "redis.log")) as handle:
                return handle.read()[-2000:]
        except OSError:
            return ""

    def client(self, **kw):
        return redis.Redis(host=self.host, port=self.port, password=self.password,
                           socket_timeout=10, **kw)

    def kill(self):
        """kill -9: no shutdown save, like a crashed container."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def restart(self, host=None):
        """Start again on the same data dir (nodes.conf kept), optionally on another address."""
        self.stop()
        if host and host != self.host:
            self.host = host
            self.port = free_port(host)
        return self.start()

    def lose_volume(self, host=None):
        """kill -9, then start on an empty volume: no data, no nodes.conf (a new node id); on
        the same address, or on ``host`` (a re-created pod gets a new IP)."""
        self.kill()
        for name in os.listdir(self.workdir):
            path = os.path.join(self.workdir, name)
            if name not in ("redis.conf", "redis.log"):
                if os.path.isdir(path):
                    shutil.rmtree(path)
                else:
                    os.remove(path)
        if host:
            self.host, self.port = host, free_port(host)
        return self.start()

    def node_id(self):
        return self.client().execute_command("CLUSTER", "MYID").decode()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


class ClusterPods(object):
    """A set of cluster-enabled pods keyed like the operator's StatefulSets: shard, ordinal."""

    def __init__(self, version, host="127.0.0.1"):
        self.version = version
        self.host = host
        self.pods = {}  # (shard, ordinal) -> RedisProcess

    def ensure(self, shards, replicas_per_shard):
        """Start the pods the StatefulSets would have (missing ones only)."""
        for shard in range(shards):
            for ordinal in range(replicas_per_shard + 1):
                if (shard, ordinal) not in self.pods:
                    self.pods[(shard, ordinal)] = RedisProcess(self.version, self.host).start()

    def drop(self, shards, replicas_per_shard):
        """Stop the pods a StatefulSet scale-down deletes (their volumes go too)."""
        for (shard, ordinal) in list(self.pods):
            if shard >= shards or ordinal > replicas_per_shard:
                self.pods.pop((shard, ordinal)).cleanup()

    def specs(self):
        return [{"name": "c-shard-%d-%d" % (shard, ordinal), "host": p.host, "port": p.port,
                 "shard": shard, "ordinal": ordinal, "node_name": None}
                for (shard, ordinal), p in sorted(self.pods.items())]

    def any(self):
        return next(iter(self.pods.values()))

    def cluster_client(self):
        return RedisCluster(startup_nodes=[ClusterNode(p.host, p.port) for p in
                                           self.pods.values()],
                            password=PASSWORD, socket_timeout=5)

    def cleanup(self):
        for proc in self.pods.values():
            proc.cleanup()
        self.pods.clear()


def wait_flagged_failed(pods, node_id, seconds=30):
    """Until every pod that knows the node flags it failed or address-less (a new node
    answered at its address: Redis then drops the old one's address)."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        flags = []
        for proc in pods.pods.values():
            for line in proc.client().execute_command("CLUSTER", "NODES").decode().splitlines():
                if line.startswith(node_id):
                    flags.append(set(line.split()[2].split(",")))
        if all(f & {"fail", "noaddr"} for f in flags):
            return
        time.sleep(0.2)
    raise AssertionError("%s never flagged failed" % node_id)


def cluster_check(proc):
    """`redis-cli --cluster check`: the outside judge. Returns (ok, output)."""
    env = dict(os.environ, REDISCLI_AUTH=PASSWORD)
    out = subprocess.run([REDIS_CLI, "--cluster", "check", proc.address], env=env,
                         capture_output=True, text=True, timeout=60)
    text = out.stdout + out.stderr
    ok = out.returncode == 0 and "[ERR]" not in text and "[WARNING]" not in text
    return ok, text


def load_keys(cluster, count, prefix="k", value_size=32):
    """Write ``count`` keys through a cluster client; returns {key: value}."""
    written = {}
    pipe = cluster.pipeline()
    for index in range(count):
        key = "%s:%d" % (prefix, index)
        value = ("%d-" % index).ljust(value_size, "x")
        pipe.set(key, value)
        written[key] = value
        if index % 5000 == 4999:
            pipe.execute()
            pipe = cluster.pipeline()
    pipe.execute()
    return written


def missing_or_wrong(cluster, expected):
    """Keys whose value is not the expected one (None means missing)."""
    bad = {}
    keys = list(expected)
    for start in range(0, len(keys), 5000):
        chunk = keys[start:start + 5000]
        pipe = cluster.pipeline()
        for key in chunk:
            pipe.get(key)
        for key, value in zip(chunk, pipe.execute()):
            value = value.decode() if isinstance(value, bytes) else value
            if value != expected[key]:
                bad[key] = value
    return bad


class Writer(threading.Thread):
    """A client that keeps overwriting its own keys with increasing counters and reads them back.

    Only acknowledged writes count: at the end every key must hold a value at least as new as
    its last acknowledged write and no newer than its last attempt.
    """

    def __init__(self, cluster, keys=2000, prefix="w", max_seconds=300):
        super(Writer, self).__init__(daemon=True)
        self.cluster = cluster
        self.keys = ["%s:{%d}:%d" % (prefix, i % 997, i) for i in range(keys)]
        self.acked = {}
        self.attempted = {}
        self.errors = 0
        self.ops = 0
        self.read_mismatches = []
        self._stop_event = threading.Event()
        self.max_seconds = max_seconds

    def run(self):
        counter = 0
        deadline = time.time() + self.max_seconds
        while not self._stop_event.is_set() and time.time() < deadline:
            counter += 1
            key = self.keys[counter % len(self.keys)]
            self.attempted[key] = counter
            try:
                self.cluster.set(key, counter)
                self.acked[key] = counter
                self.ops += 1
                if counter % 7 == 0:
                    value = int(self.cluster.get(key))
                    if value < self.acked[key]:
                        self.read_mismatches.append((key, value, self.acked[key]))
            except Exception:
                self.errors += 1
                time.sleep(0.01)

    def stop(self):
        self._stop_event.set()
        self.join(30)

    def verify(self, cluster):
        """Returns the keys whose final value breaks acked <= value <= attempted."""
        bad = {}
        for key, acked in self.acked.items():
            raw = cluster.get(key)
            value = int(raw) if raw is not None else None
            if value is None or value < acked or value > self.attempted[key]:
                bad[key] = (value, acked, self.attempted[key])
        return bad


def common_defaults():
    """roles/common/defaults/main.yml."""
    with open(os.path.join(COMMON_ROLE, "defaults", "main.yml")) as handle:
        return yaml.safe_load(handle)


def redisible_filters():
    """The roles' own filters (plugins/filter/redisible.py), as Ansible loads them."""
    spec = importlib.util.spec_from_file_location(
        "redisible_filters", os.path.join(ROOT, "plugins", "filter", "redisible.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.FilterModule().filters()


def restore_wait_script(directory):
    """The pods' restore-wait script (roles/common/templates/restore-wait.sh.j2) rendered as
    their ConfigMap carries it, written into ``directory``; returns its path."""
    environment = jinja2.Environment()
    environment.filters.update(redisible_filters())
    with open(os.path.join(COMMON_ROLE, "templates", "restore-wait.sh.j2")) as handle:
        text = environment.from_string(handle.read()).render(**common_defaults())
    path = os.path.join(str(directory), "restore-wait.sh")
    with open(path, "w") as handle:
        handle.write(text)
    return path
