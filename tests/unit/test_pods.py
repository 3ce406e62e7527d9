"""The one pod description: from k8s_info pod objects (literal API objects) to what the
modules take, through the same filter the roles use."""

from ansible.module_utils.redisible_pods import (
    POD_INDEX_LABEL,
    Pod,
    describe_pods,
    label_patches,
    pods_settled,
)
from redis_harness import redisible_filters


def k8s_pod(name, ip="10.88.0.5", phase="Running", labels=None, node="node-a", **extra):
    pod = {"metadata": {"name": name, "labels": dict(labels or {})},
           "spec": {"nodeName": node}, "status": {"phase": phase}}
    if ip:
        pod["status"]["podIP"] = ip
    pod["metadata"].update(extra.pop("metadata", {}))
    pod["status"].update(extra.pop("status", {}))
    return pod


def test_descriptions_take_shard_and_ordinal_from_labels():
    pods = [k8s_pod("c-shard-1-2", labels={"redis.redisible.io/shard": "1",
                                            POD_INDEX_LABEL: "2"}),
            k8s_pod("c-shard-0-0", ip="10.88.0.4", labels={"redis.redisible.io/shard": "0",
                                                           POD_INDEX_LABEL: "0"}, node=None)]
    assert describe_pods(pods, 6379) == [
        {"name": "c-shard-0-0", "host": "10.88.0.4", "port": 6379, "shard": 0, "ordinal": 0,
         "node_name": None, "init_containers": {}},
        {"name": "c-shard-1-2", "host": "10.88.0.5", "port": 6379, "shard": 1, "ordinal": 2,
         "node_name": "node-a", "init_containers": {}}]


def test_the_ordinal_falls_back_to_the_name_on_clusters_without_the_index_label():
    assert describe_pods([k8s_pod("ha-sentinel-11")], 26379)[0]["ordinal"] == 11


def test_pods_being_deleted_or_without_ip_are_left_out_and_running_filters_phase():
    pods = [k8s_pod("r-0"), k8s_pod("r-1", ip=None),
            k8s_pod("r-2", metadata={"deletionTimestamp": "2026-12-01T00:00:00Z"}),
            k8s_pod("r-3", phase="Pending", status={"initContainerStatuses": [
                {"name": "restore-wait", "state": {"running": {}}}]})]
    assert [p["name"] for p in describe_pods(pods)] == ["r-0", "r-3"]
    assert describe_pods(pods)[1]["init_containers"] == {"restore-wait": "running"}
    assert [p["name"] for p in describe_pods(pods, running=True)] == ["r-0"]


def test_the_roles_filter_and_the_modules_read_the_same_description():
    filters = redisible_filters()
    described = filters["redisible_pods"]([k8s_pod("r-0")], "6380")
    pod = Pod.from_params(described[0])
    assert (pod.name, pod.address, pod.shard, pod.ordinal, pod.node_name) == (
        "r-0", "10.88.0.5:6380", 0, 0, "node-a")
    assert filters["redisible_placement"]("wait_container") == "restore-wait"


def test_one_membership_rule_sizes_the_statefulsets_and_drives_the_planners():
    from ansible.module_utils.redisible_cluster_state import DesiredShape
    from ansible.module_utils.redisible_pods import keeps_pod, statefulset_plan
    from ansible.module_utils.redisible_sentinel_state import SentinelShape

    # 4 shards of 3 pods shrinking to 3 shards of 2: shard 3 leaves whole, ordinal 2 leaves.
    plan = statefulset_plan({"0": 3, "1": 3, "2": 3, "3": 3}, 3, 2)
    assert [(g["shard"], g["replicas"], g["desired_replicas"], g["removed_ordinals"])
            for g in plan] == [(0, 3, 2, [2]), (1, 3, 2, [2]), (2, 3, 2, [2]),
                               (3, 3, 0, [0, 1, 2])]
    # Growing: new shards and pods appear at once, nothing is removed.
    assert [(g["replicas"], g["removed_ordinals"]) for g in statefulset_plan({0: 1}, 2, 2)] == [
        (2, []), (2, [])]
    assert statefulset_plan({}, 1, 3) == [{"shard": 0, "replicas": 3, "desired_replicas": 3,
                                           "removed_ordinals": []}]
    # The planners ask the same rule.
    shape = DesiredShape(3, 1)
    for shard, ordinal in [(0, 0), (2, 1), (2, 2), (3, 0)]:
        assert shape.keeps(Pod("p", "h", shard=shard, ordinal=ordinal)) == keeps_pod(
            shard, ordinal, 3, 2)
    sentinel = SentinelShape("m", 3, 2)
    assert [sentinel.keeps(Pod("r", "h", ordinal=o)) for o in range(5)] == [
        True, True, True, False, False]
    # And the roles reach it through their filter.
    assert redisible_filters()["redisible_statefulset_plan"]({"0": 3}, 1, 2) == [
        {"shard": 0, "replicas": 3, "desired_replicas": 2, "removed_ordinals": [2]}]


def test_label_patches_touch_only_the_pods_whose_label_is_wrong():
    def pod(name, role=None):
        labels = {"app": "x"} if role is None else {"app": "x", "redis.redisible.io/role": role}
        return {"metadata": {"name": name, "namespace": "ns", "labels": labels}}

    resources = [pod("r-0", "master"), pod("r-1", "master"), pod("r-2"), pod("r-3", "replica")]
    wanted = {"r-0": "replica", "r-1": "master", "r-2": "replica"}
    patches = label_patches(resources, "redis.redisible.io/role", wanted)
    assert patches == [
        {"apiVersion": "v1", "kind": "Pod", "metadata": {
            "name": "r-0", "namespace": "ns", "labels": {"redis.redisible.io/role": "replica"}}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {
            "name": "r-2", "namespace": "ns", "labels": {"redis.redisible.io/role": "replica"}}},
    ]
    # r-3 is not asked about; once applied, nothing is left to send.
    assert label_patches([pod("r-0", "replica"), pod("r-1", "master"), pod("r-2", "replica")],
                         "redis.redisible.io/role", wanted) == []
    assert redisible_filters()["redisible_label_patches"](
        [{"metadata": {"name": "r-0", "namespace": "ns"}}], "role", {"r-0": "master"}) == [
        {"apiVersion": "v1", "kind": "Pod",
         "metadata": {"name": "r-0", "namespace": "ns", "labels": {"role": "master"}}}]


def test_pods_settle_when_enough_run_with_an_ip_and_none_is_leaving():
    running = [k8s_pod("p-0"), k8s_pod("p-1", ip="10.88.0.6")]
    assert pods_settled(running, 2) == (True, [])
    assert pods_settled(running, 3) == (False, [])
    leaving = [k8s_pod("p-0"), k8s_pod("p-1", metadata={"deletionTimestamp": "now"})]
    starting = [k8s_pod("p-0"), k8s_pod("p-1", ip=None, phase="Pending")]
    assert pods_settled(leaving, 2) == (False, []) and pods_settled(starting, 2) == (False, [])


def test_an_unschedulable_pod_ends_the_wait_with_the_schedulers_message():
    stuck = k8s_pod("p-2", ip=None, phase="Pending", status={"conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
         "message": "0/1 nodes are available: 1 node(s) didn't match pod anti-affinity rules."}]})
    assert pods_settled([k8s_pod("p-0"), stuck], 2) == (False, [
        "p-2: 0/1 nodes are available: 1 node(s) didn't match pod anti-affinity rules."])
