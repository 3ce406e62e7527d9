"""Deploy -> back up -> restore for every mode under the real operator, from the samples in
config/samples/backup-restore, with a real S3-compatible server (moto) as the storage."""

import base64
import json
import os
import time

import pytest
import redis
import yaml
from data_harness import assert_same_data, snapshot, write_every_type  # noqa: E402
from redis.cluster import ClusterNode, RedisCluster
from s3_harness import MotoServer  # noqa: E402
from test_operator import log_lines, wait_ready
from test_rediscluster_playbook import E2E_MARKS, ROOT, condition, get_json, kubectl

pytestmark = E2E_MARKS


@pytest.fixture(scope="module")
def moto():
    server = MotoServer().start()
    yield server
    server.stop()


def whole(status):
    """A status for an assertion message, in full (pytest shortens a dict's repr, and with it
    the condition message that says what went wrong)."""
    return json.dumps(status, indent=1, sort_keys=True)


def sample_documents(mode, namespace, moto, bucket):
    """The sample, pointed at this namespace and at the moto bucket."""
    path = os.path.join(ROOT, "config", "samples", "backup-restore", "%s.yaml" % mode)
    with open(path) as handle:
        documents = list(yaml.safe_load_all(handle))
    for document in documents:
        document["metadata"]["namespace"] = namespace
        if document["kind"] == "Secret":
            document["stringData"] = {"AWS_ACCESS_KEY_ID": moto.ACCESS_KEY,
                                      "AWS_SECRET_ACCESS_KEY": moto.SECRET_KEY}
        elif document["kind"] == "RedisBackup":
            document["spec"]["storage"]["s3"].update(endpoint=moto.endpoint, bucket=bucket)
            document["spec"]["deletePolicy"] = "Delete"
        elif document["kind"] != "RedisRestore":
            document["spec"].update(resources={"requests": {"cpu": "10m"}},
                                    storage={"size": "1Gi", "reclaimPolicy": "Delete"})
    return {d["kind"]: d for d in documents}


def wait_log(path, *needles, timeout=120):
    """Until one line of the operator log holds every needle."""
    deadline = time.time() + timeout
    while True:
        if log_lines(path, *needles):
            return
        assert time.time() < deadline, "no operator log line with %s" % (needles,)
        time.sleep(2)


def apply(*documents):
    kubectl("apply", "-f", "-", stdin="\n---\n".join(json.dumps(d) for d in documents))


def password_of(namespace, name):
    secret = get_json("secret", "%s-password" % name, "-n", namespace)
    return base64.b64decode(secret["data"]["password"]).decode()


def redis_pod_ips(namespace, name, extra_selector=""):
    pods = get_json("pods", "-n", namespace, "-l",
                    "app.kubernetes.io/instance=%s%s" % (name, extra_selector))["items"]
    return [p["status"]["podIP"] for p in pods if p["status"].get("podIP")]


def master_clients(namespace, name, password, kind):
    selector = ",app.kubernetes.io/component=redis" if kind == "RedisSentinel" else ""
    clients = []
    for ip in redis_pod_ips(namespace, name, selector):
        client = redis.Redis(host=ip, port=6379, password=password, socket_timeout=10)
        if client.info("replication")["role"] == "master":
            clients.append(client)
    return clients


def wait_phase(namespace, kind, name, phases=("Completed", "Failed"), timeout=900):
    deadline = time.time() + timeout
    resource = {}
    while time.time() < deadline:
        resource = get_json(kind, name, "-n", namespace)
        if resource.get("status", {}).get("phase") in phases:
            return resource
        time.sleep(3)
    raise AssertionError("%s %s never reached %s: %s" % (kind, name, phases,
                                                         whole(resource.get("status"))))


@pytest.mark.parametrize("mode", ["redis", "redissentinel", "rediscluster"])
def test_deploy_backup_restore(mode, operator_namespace, moto):
    namespace, log_path = operator_namespace
    bucket = moto.new_bucket()
    docs = sample_documents(mode, namespace, moto, bucket)
    instance = next(d for k, d in docs.items() if k not in ("Secret", "RedisBackup",
                                                            "RedisRestore"))
    kind, name = instance["kind"], instance["metadata"]["name"]
    restore = docs["RedisRestore"]
    target = restore["spec"]["target"]["name"]
    if kind == "Redis":
        # One file into a new standalone: placed in its volume, here across versions.
        restore["spec"]["target"]["overrides"]["version"] = "7.0"
    # A new cluster of the same shards (and a replica each): every shard's file placed in its
    # first pod's volume. A new RedisSentinel: keys through a loader pod.
    overrides = restore["spec"]["target"]["overrides"]
    overrides.update(resources={"requests": {"cpu": "10m"}})

    apply(docs["Secret"], instance)
    wait_ready(namespace, name, kind=kind.lower())
    password = password_of(namespace, name)
    masters = master_clients(namespace, name, password, kind)
    if kind == "RedisCluster":
        writer = RedisCluster(startup_nodes=[ClusterNode(c.connection_pool.connection_kwargs[
            "host"], 6379) for c in masters], password=password, socket_timeout=10)
    else:
        writer = masters[0]
    write_every_type(writer, mode, count=25)
    time.sleep(1)  # replicas catch up; the backup waits for its source anyway
    before = snapshot(masters)

    if kind == "Redis":
        # A schedule every minute keeping the last one, beside the one-off backup and the
        # restore (its minute boundaries are waited for while they run): two runs, the first
        # pruned (checked after the restore into a new target).
        scheduled = json.loads(json.dumps(docs["RedisBackup"]))
        scheduled["metadata"]["name"] = "every-minute"
        scheduled["spec"].update(schedule="* * * * *", retention={"keepLast": 1})
        apply(scheduled)

    started = time.time()
    apply(docs["RedisBackup"], restore)  # the restore waits for the backup to complete
    backup = wait_phase(namespace, "redisbackup", docs["RedisBackup"]["metadata"]["name"])
    assert backup["status"]["phase"] == "Completed", whole(backup["status"])
    status = backup["status"]
    assert status["keys"] == len(before)
    assert condition(backup, "Ready").get("status") == "True"
    assert len(status["files"]) == (3 if kind == "RedisCluster" else 1)
    assert all(len(f["sha256"]) == 64 and f["bytes"] > 0 for f in status["files"])
    if kind != "Redis":  # a replica exists: the RDB comes from it, not from the master
        master_ips = {c.connection_pool.connection_kwargs["host"] for c in masters}
        pods = get_json("pods", "-n", namespace, "-l", "app.kubernetes.io/instance=%s" % name)
        master_pods = {p["metadata"]["name"] for p in pods["items"]
                       if p["status"].get("podIP") in master_ips}
        sources = {f["sourcePod"] for f in status["files"]}
        assert sources and not sources & master_pods, (sources, master_pods)
    objects = moto.client().list_objects_v2(Bucket=bucket)["Contents"]
    stored = sorted(o["Key"] for o in objects)
    assert any(k.endswith("/manifest.json") for k in stored), stored
    assert all(k.startswith("redisible/%s/" % namespace) for k in stored), stored

    done = wait_phase(namespace, "redisrestore", restore["metadata"]["name"])
    assert done["status"]["phase"] == "Completed", whole(done["status"])
    print("%s: backup + restore into a new %s in %.0fs, method %s, %s" % (
        mode, kind, time.time() - started, done["status"]["method"],
        done["status"]["message"]))
    assert done["status"]["method"] == ("keys" if kind == "RedisSentinel" else "placement")
    # It waited for the backup and was woken when that finished, not at its next period.
    assert done["metadata"]["annotations"]["redis.redisible.io/backup-finished"] == \
        status["backupName"], done["metadata"]
    restored = get_json(kind.lower(), target, "-n", namespace)
    annotations = restored["metadata"]["annotations"]
    assert annotations["redis.redisible.io/restored-from"] == status["backupName"]
    # The pods were released: a pod added later does not wait for a restore (the flag leaves
    # the ConfigMap at the target's next reconcile).
    assert "redis.redisible.io/restore-placement" not in annotations
    deadline = time.time() + 180
    while "restore-pending" in get_json("configmap", "%s-config" % target, "-n",
                                        namespace)["data"]:
        assert time.time() < deadline, "the restore-pending flag stayed in the ConfigMap"
        time.sleep(3)
    target_password = password_of(namespace, target)
    after = snapshot(master_clients(namespace, target, target_password, kind))
    assert_same_data(before, after)
    if kind == "Redis":
        assert master_clients(namespace, target, target_password, kind)[0].info(
            "server")["redis_version"].startswith("7.0")
    assert get_json("pods", "-n", namespace, "-l",
                    "app.kubernetes.io/name=redis-restore-loader")["items"] == []

    if kind == "Redis":
        # The schedule's two runs; deleted before the restore into its source replaces the
        # data it backs up.
        seen = []
        deadline = time.time() + 240
        while time.time() < deadline and len(seen) < 2:
            current = get_json("redisbackup", "every-minute", "-n", namespace).get("status", {})
            if current.get("phase") == "Completed" and current["backupName"] not in seen:
                seen.append(current["backupName"])
                assert current["backups"] == [current["backupName"]], current
                assert current["lastScheduleTime"] < current["nextScheduleTime"]
            time.sleep(3)
        assert len(seen) == 2, seen
        assert all(n.startswith("every-minute-") and n[13:].isdigit() for n in seen), seen
        keys = [o["Key"] for o in moto.client().list_objects_v2(
            Bucket=bucket, Prefix="redisible/%s/every-minute-" % namespace)["Contents"]]
        assert {k.split("/")[2] for k in keys} == {seen[1]}, keys
        kubectl("delete", "redisbackup", "every-minute", "-n", namespace, "--timeout=120s")

    if kind == "Redis":
        # Into an existing instance: its data is replaced, and it is told so in an Event.
        masters[0].set("written-after-the-backup", "gone after the restore")
        again = json.loads(json.dumps(restore))
        again["metadata"]["name"] = "back-into-source"
        again["spec"]["target"] = {"kind": kind, "name": name}
        apply(again)
        done = wait_phase(namespace, "redisrestore", "back-into-source")
        assert done["status"]["phase"] == "Completed", whole(done["status"])
        assert_same_data(before, snapshot(master_clients(namespace, name, password, kind)))
        events = get_json("events", "-n", namespace, "--field-selector",
                          "involvedObject.name=%s,reason=RestoreReplacesData" % name)["items"]
        assert events and "back-into-source" in events[0]["message"], events
        assert get_json("events", "-n", namespace, "--field-selector",
                        "involvedObject.name=%s,reason=RestoreReplacesData" % target)[
                            "items"] == [], "a target the restore created has no data to lose"

    with open(log_path) as handle:
        log = handle.read()
    for secret in (password, target_password, moto.SECRET_KEY):
        assert secret not in log, "a secret leaked into the operator log"
    # A finished one-off backup and restore are not looked at every 30 s any more: the
    # runtime honours the roles' requeue_after (its next reconcile says so in its log).
    for finished in (docs["RedisBackup"]["metadata"]["name"], restore["metadata"]["name"]):
        wait_log(log_path, '"name":"%s"' % finished, '"namespace":"%s"' % namespace,
                 "Set the reconciliation to occur after 1h0m0s")

    # deletePolicy Delete: the stored backup goes with the RedisBackup.
    kubectl("delete", "redisbackup", docs["RedisBackup"]["metadata"]["name"], "-n", namespace,
            "--timeout=120s")
    assert moto.client().list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0
    for resource_name in (name, target):
        kubectl("delete", kind.lower(), resource_name, "-n", namespace, "--wait=false")


def test_blocked_backup_and_damaged_backup_are_reported(operator_namespace, moto):
    namespace, _ = operator_namespace
    bucket = moto.new_bucket()
    docs = sample_documents("redis", namespace, moto, bucket)
    apply(docs["Secret"])

    orphan = docs["RedisBackup"]
    orphan["metadata"]["name"] = "orphan"
    orphan["spec"]["instance"]["name"] = "nothing-here"
    apply(orphan)
    deadline = time.time() + 180
    while time.time() < deadline:
        resource = get_json("redisbackup", "orphan", "-n", namespace)
        if "not found" in resource.get("status", {}).get("message", ""):
            break
        time.sleep(2)
    status = resource.get("status", {})
    assert status.get("phase") == "Pending", status
    degraded = condition(resource, "Degraded")
    assert degraded.get("status") == "True" and degraded.get("reason") == "InstanceNotReady"
    assert "Redis nothing-here not found" in degraded.get("message", "")
    # Degraded comes with a Warning Event on the RedisBackup, counted up on repeats.
    events = get_json("events", "-n", namespace, "--field-selector",
                      "involvedObject.name=orphan,reason=InstanceNotReady")["items"]
    assert [e["type"] for e in events] == ["Warning"], events
    assert "Redis nothing-here not found" in events[0]["message"], events

    # A backup whose file does not match its manifest: refused before any target exists.
    body = b"REDIS0009" + b"\0" * 100
    prefix = "redisible/%s/broken/" % namespace
    manifest = {"format": 1, "name": "broken", "kind": "Redis", "spec": {}, "shards": [{
        "index": 0, "file": "shard-0.rdb", "bytes": len(body), "sha256": "0" * 64,
        "rdbVersion": 9, "redisVersion": "5.0.6", "keys": 1, "expires": 0}]}
    s3 = moto.client()
    s3.put_object(Bucket=bucket, Key=prefix + "shard-0.rdb", Body=body)
    s3.put_object(Bucket=bucket, Key=prefix + "manifest.json", Body=json.dumps(manifest))
    restore = docs["RedisRestore"]
    restore["metadata"]["name"] = "from-broken"
    restore["spec"]["source"] = {"s3": orphan["spec"]["storage"]["s3"], "backupName": "broken"}
    restore["spec"]["target"]["name"] = "never-created"
    apply(restore)
    done = wait_phase(namespace, "redisrestore", "from-broken", timeout=300)
    assert done["status"]["phase"] == "Failed", whole(done["status"])
    message = done["status"]["message"]
    assert "SHA-256" in message and "nothing was touched" in message, message
    assert condition(done, "Degraded").get("reason") == "BackupDamaged"
    assert kubectl("get", "redis", "never-created", "-n", namespace, check=False).returncode != 0


def volume_pod(namespace, name, claim):
    """A pod holding ``claim`` (the role's template, rendered here by hand), for the test to
    look at the volume the way the operator does."""
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": namespace},
           "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 1,
                    "containers": [{
                        "name": "volume", "image": "docker.io/library/redis:7.0.15",
                        "imagePullPolicy": "IfNotPresent",
                        "command": ["sh", "-c", "trap 'exit 0' TERM; "
                                    "while true; do sleep 3600 & wait $!; done"],
                        "volumeMounts": [{"name": "backups", "mountPath": "/backups"}]}],
                    "volumes": [{"name": "backups",
                                 "persistentVolumeClaim": {"claimName": claim}}]}}
    apply(pod)
    waited = kubectl("wait", "--for=condition=Ready", "pod/%s" % name, "-n", namespace,
                     "--timeout=120s", check=False)
    assert waited.returncode == 0, kubectl("describe", "pod", name, "-n", namespace).stdout
    from ansible.module_utils.redisible_backup_store import open_store
    return open_store({"type": "pod", "namespace": namespace, "pod": name, "path": "/backups",
                       "container": "volume"})


def test_pod_store_on_a_pvc_round_trips_and_refuses_damage(operator_namespace):
    """The store under a PVC backup: a file of several exec pieces comes back byte for byte;
    a truncated file is caught by the restore's verification."""
    import hashlib

    from ansible.module_utils.redisible_backup_store import file_problems
    namespace, _ = operator_namespace
    apply({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
           "metadata": {"name": "store-check", "namespace": namespace},
           "spec": {"accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": "1Gi"}}}})
    store = volume_pod(namespace, "store-check", "store-check")
    data = os.urandom(2 * store.EXEC_BYTES + 4321)
    writer = store.open_writer("b/shard-0.rdb")
    for offset in range(0, len(data), 1 << 20):
        writer.write(data[offset:offset + (1 << 20)])
    writer.commit()
    digest = hashlib.sha256(b"".join(store.read_chunks("b/shard-0.rdb"))).hexdigest()
    assert digest == hashlib.sha256(data).hexdigest()
    manifest = {"shards": [{"index": 0, "file": "shard-0.rdb", "bytes": len(data),
                            "sha256": digest}]}
    store.write_json("b/manifest.json", manifest)
    assert store.list_backups() == ["b"] and file_problems(store, "b", manifest) == []
    store.run('head -c 1000 "$1" > "$1.cut" && mv "$1.cut" "$1" && echo cut',
              "/backups/b/shard-0.rdb")
    problems = file_problems(store, "b", manifest)
    assert problems and "shard-0.rdb" in problems[0], problems
    assert store.delete_backup("b") and store.list_backups() == []
    kubectl("delete", "pod", "store-check", "-n", namespace, "--wait=false")


def test_backup_to_a_pvc_and_restore_from_it(operator_namespace, moto):
    """Deploy -> back up onto a PVC the backup creates -> restore by location into a new
    instance; the pod holding the claim is gone after each step; Delete removes the data."""
    namespace, log_path = operator_namespace
    docs = sample_documents("redis", namespace, moto, moto.new_bucket())
    instance = docs["Redis"]
    instance["metadata"]["name"] = "pvc-source"
    apply(instance)
    wait_ready(namespace, "pvc-source", kind="redis")
    password = password_of(namespace, "pvc-source")
    master = master_clients(namespace, "pvc-source", password, "Redis")[0]
    write_every_type(master, "redis", count=25)
    before = snapshot([master])

    backup = docs["RedisBackup"]
    backup["metadata"]["name"] = "to-pvc"
    backup["spec"]["instance"]["name"] = "pvc-source"
    backup["spec"]["storage"] = {"pvc": {"claimName": "backups", "size": "1Gi",
                                         "path": "cache"}}
    apply(backup)
    done = wait_phase(namespace, "redisbackup", "to-pvc")
    status = done["status"]
    assert status["phase"] == "Completed", status
    assert status["keys"] == len(before)
    assert status["location"] == "pvc://backups/cache/%s" % status["backupName"], status
    claim = get_json("pvc", "backups", "-n", namespace)
    assert claim["metadata"]["annotations"]["redis.redisible.io/created-by"] == \
        "RedisBackup/to-pvc"
    volume_pods = "app.kubernetes.io/name=redis-backup-volume"

    restore = docs["RedisRestore"]
    restore["metadata"]["name"] = "from-pvc"
    restore["spec"]["source"] = {"pvc": {"claimName": "backups", "path": "cache"},
                                 "backupName": status["backupName"]}
    restore["spec"]["target"].update(name="pvc-restored", overrides={
        "resources": {"requests": {"cpu": "10m"}}})
    apply(restore)
    restored = wait_phase(namespace, "redisrestore", "from-pvc")
    assert restored["status"]["phase"] == "Completed", whole(restored["status"])
    assert restored["status"]["location"] == status["location"]
    target_password = password_of(namespace, "pvc-restored")
    assert_same_data(before, snapshot(master_clients(namespace, "pvc-restored",
                                                     target_password, "Redis")))
    wait_gone = time.time() + 60
    while get_json("pods", "-n", namespace, "-l", volume_pods)["items"] and \
            time.time() < wait_gone:
        time.sleep(2)
    assert get_json("pods", "-n", namespace, "-l", volume_pods)["items"] == []
    # What a backup or a restore created outlives it: nothing is owned by the CR.
    assert "ownerReferences" not in claim["metadata"], claim["metadata"]
    assert "ownerReferences" not in get_json("redis", "pvc-restored", "-n", namespace)[
        "metadata"]
    kubectl("delete", "redisrestore", "from-pvc", "-n", namespace, "--timeout=60s")

    kubectl("delete", "redisbackup", "to-pvc", "-n", namespace, "--timeout=180s")
    store = volume_pod(namespace, "after-delete", "backups")
    assert store.run('ls -A /backups/cache; true') == b""  # the backup went, the claim stayed
    kubectl("delete", "pod", "after-delete", "-n", namespace, "--wait=false")
    assert_same_data(before, snapshot(master_clients(namespace, "pvc-restored",
                                                     target_password, "Redis")))
    with open(log_path) as handle:
        log = handle.read()
    assert password not in log and target_password not in log
    for name in ("pvc-source", "pvc-restored"):
        kubectl("delete", "redis", name, "-n", namespace, "--wait=false")
