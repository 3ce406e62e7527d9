#!/usr/bin/env python3
"""Dynamic provisioning and expansion of host-directory volumes for the local cluster.

Watches (by polling) PVCs of the StorageClasses whose provisioner is ``redisible.io/hostpath``:
creates a hostPath PV in a directory of its own for each pending claim, grows PV and claim
when a claim asks for more (the node is this machine, so growing is bookkeeping), and deletes
the directory and the PV when a released PV's policy is Delete.
"""

import argparse
import os
import shutil
import time

from kubernetes import client, config

PROVISIONER = "redisible.io/hostpath"


def quantity_bytes(text):
    units = {"Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40, "k": 10 ** 3,
             "M": 10 ** 6, "G": 10 ** 9, "T": 10 ** 12}
    for suffix, factor in units.items():
        if text.endswith(suffix):
            return int(float(text[:-len(suffix)]) * factor)
    return int(float(text))


def our_classes(storage):
    return {sc.metadata.name: sc for sc in storage.list_storage_class().items
            if sc.provisioner == PROVISIONER}


def provision(core, claim, storage_class, root):
    name = "pvc-%s" % claim.metadata.uid
    path = os.path.join(root, "%s-%s-%s" % (claim.metadata.namespace, claim.metadata.name,
                                            claim.metadata.uid[:8]))
    os.makedirs(path, exist_ok=True)
    os.chmod(path, 0o777)
    volume = client.V1PersistentVolume(
        metadata=client.V1ObjectMeta(name=name, annotations={
            "pv.kubernetes.io/provisioned-by": PROVISIONER}),
        spec=client.V1PersistentVolumeSpec(
            capacity={"storage": claim.spec.resources.requests["storage"]},
            access_modes=claim.spec.access_modes,
            persistent_volume_reclaim_policy=storage_class.reclaim_policy or "Delete",
            storage_class_name=storage_class.metadata.name,
            host_path=client.V1HostPathVolumeSource(path=path, type="DirectoryOrCreate"),
            claim_ref=client.V1ObjectReference(
                kind="PersistentVolumeClaim", namespace=claim.metadata.namespace,
                name=claim.metadata.name, uid=claim.metadata.uid)))
    try:
        core.create_persistent_volume(volume)
        print("provisioned %s for %s/%s at %s" % (name, claim.metadata.namespace,
                                                  claim.metadata.name, path), flush=True)
    except client.ApiException as exc:
        if exc.status != 409:
            raise


def expand(core, claim, volume):
    wanted = claim.spec.resources.requests["storage"]
    have = (claim.status.capacity or {}).get("storage")
    if not have or quantity_bytes(wanted) <= quantity_bytes(have):
        return
    core.patch_persistent_volume(volume.metadata.name, {"spec": {"capacity": {"storage": wanted}}})
    core.patch_namespaced_persistent_volume_claim_status(
        claim.metadata.name, claim.metadata.namespace,
        {"status": {"capacity": {"storage": wanted}, "conditions": None}})
    print("expanded %s/%s to %s" % (claim.metadata.namespace, claim.metadata.name, wanted),
          flush=True)


def reclaim(core, volume):
    path = volume.spec.host_path.path if volume.spec.host_path else None
    if path and os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
    core.delete_persistent_volume(volume.metadata.name)
    print("deleted %s" % volume.metadata.name, flush=True)


def reconcile(core, storage, root):
    classes = our_classes(storage)
    volumes = {v.metadata.name: v for v in core.list_persistent_volume().items}
    for claim in core.list_persistent_volume_claim_for_all_namespaces().items:
        class_name = claim.spec.storage_class_name
        if class_name not in classes or claim.metadata.deletion_timestamp:
            continue
        if claim.status.phase == "Pending" and not claim.spec.volume_name:
            provision(core, claim, classes[class_name], root)
        elif claim.status.phase == "Bound" and claim.spec.volume_name in volumes:
            expand(core, claim, volumes[claim.spec.volume_name])
    for volume in volumes.values():
        if (volume.spec.storage_class_name in classes and volume.status.phase == "Released"
                and volume.spec.persistent_volume_reclaim_policy == "Delete"):
            reclaim(core, volume)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--root", required=True)
    parser.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args()
    os.makedirs(args.root, exist_ok=True)
    api = config.new_client_from_config(config_file=args.kubeconfig)
    core, storage = client.CoreV1Api(api), client.StorageV1Api(api)
    while True:
        try:
            reconcile(core, storage, args.root)
        except Exception as exc:  # keep serving; the next pass retries
            print("error: %s" % exc, flush=True)
        time.sleep(args.interval)


if __name__ == "__main__":
    main()
