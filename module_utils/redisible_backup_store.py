# -*- coding: utf-8 -*-
# Copyright: redisible contributors
# Apache License 2.0 (see LICENSE)
"""Where backups live: a directory, a volume in a pod (a PVC) or an S3-compatible bucket.

Both stores take a file as a stream of chunks and give it back as one: nothing holds a whole
RDB in memory. A file becomes visible only once complete (a rename, or the completion of a
multipart upload), so a backup cut short never looks like a good one.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import posixpath
import shutil
import threading
import time

try:
    import boto3
    from botocore.config import Config as BotoConfig
    HAS_BOTO3 = True
    BOTO3_IMPORT_ERROR = None
except ImportError as exc:  # reported when an S3 store is asked for
    boto3 = None
    HAS_BOTO3 = False
    BOTO3_IMPORT_ERROR = exc

from ansible.module_utils.redisible_k8s_client import api_client
from ansible.module_utils.redisible_rdb import MANIFEST_NAME, BackupError

CHUNK = 1 << 20
# S3 wants parts of 5 MiB at least; 16 MiB keeps a 100 GiB file under the 10,000-part limit.
PART_SIZE = 16 << 20


class _FileStore(object):
    """What a store built on open_writer/read_chunks gets for free: small JSON documents."""

    def write_json(self, name, document):
        writer = self.open_writer(name)
        writer.write(json.dumps(document, indent=2, sort_keys=True).encode())
        writer.commit()

    def read_json(self, name):
        return _parse_json(self.describe(name), b"".join(self.read_chunks(name)))


class DirectoryStore(_FileStore):
    """Backups as directories under ``root``: <root>/<backup name>/<files>."""

    def __init__(self, root):
        self.root = root

    def describe(self, name=""):
        return os.path.join(self.root, name)

    def _path(self, name):
        path = os.path.normpath(os.path.join(self.root, name))
        if not path.startswith(os.path.normpath(self.root) + os.sep):
            raise BackupError("refusing a path outside the backup directory: %s" % name)
        return path

    def open_writer(self, name):
        return _FileWriter(self._path(name))

    def read_chunks(self, name):
        path = self._path(name)
        try:
            handle = open(path, "rb")
        except (IOError, OSError) as exc:
            raise BackupError("cannot read %s: %s" % (path, exc.strerror or exc))
        with handle:
            while True:
                chunk = handle.read(CHUNK)
                if not chunk:
                    return
                yield chunk

    def size(self, name):
        try:
            return os.path.getsize(self._path(name))
        except OSError:
            return None

    def list_backups(self):
        """Names of the complete backups (those with a manifest)."""
        try:
            entries = sorted(os.listdir(self.root))
        except OSError:
            return []
        return [e for e in entries if os.path.isfile(os.path.join(self.root, e, MANIFEST_NAME))]

    def has_data(self, name):
        """Anything stored under this backup's name, complete or not."""
        return os.path.exists(self._path(name))

    def delete_backup(self, name):
        path = self._path(name)
        if not os.path.exists(path):
            return False
        if os.path.isdir(path):
            shutil.rmtree(path)
        else:
            os.remove(path)
        return True


class _FileWriter(object):
    def __init__(self, path):
        # Shards are written in parallel: several writers may create the directory at once.
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.path = path
        self.partial = path + ".partial"
        self.handle = open(self.partial, "wb")

    def write(self, chunk):
        self.handle.write(chunk)

    def commit(self):
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()
        os.rename(self.partial, self.path)

    def abort(self):
        self.handle.close()
        try:
            os.unlink(self.partial)
        except OSError:
            pass


class S3Store(_FileStore):
    """Backups under s3://bucket/prefix/<backup name>/<files>, any S3-compatible endpoint."""

    def __init__(self, bucket, prefix="", endpoint=None, region=None, access_key=None,
                 secret_key=None, verify_tls=True, ca_bundle=None):
        if not HAS_BOTO3:
            raise BackupError("the Python package 'boto3' is required for S3 storage: %s"
                              % BOTO3_IMPORT_ERROR)
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        verify = ca_bundle if (verify_tls and ca_bundle) else bool(verify_tls)
        self.client = boto3.client(
            "s3", endpoint_url=endpoint or None, region_name=region or "us-east-1",
            aws_access_key_id=access_key or None, aws_secret_access_key=secret_key or None,
            verify=verify, config=BotoConfig(retries={"max_attempts": 3, "mode": "standard"},
                                             s3={"addressing_style": "path"}))

    def _key(self, name):
        return "%s/%s" % (self.prefix, name) if self.prefix else name

    def describe(self, name=""):
        return "s3://%s/%s" % (self.bucket, self._key(name))

    def open_writer(self, name):
        return _MultipartWriter(self.client, self.bucket, self._key(name))

    def read_chunks(self, name):
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(name))["Body"]
        except Exception as exc:
            raise BackupError("cannot read %s: %s" % (self.describe(name), _s3_error(exc)))
        try:
            for chunk in body.iter_chunks(CHUNK):
                yield chunk
        finally:
            body.close()

    def size(self, name):
        try:
            return self.client.head_object(Bucket=self.bucket,
                                           Key=self._key(name))["ContentLength"]
        except Exception:
            return None

    def write_json(self, name, document):
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(name),
                                   Body=json.dumps(document, indent=2, sort_keys=True).encode(),
                                   ContentType="application/json")
        except Exception as exc:
            raise BackupError("cannot write %s: %s" % (self.describe(name), _s3_error(exc)))

    def _keys(self, prefix, delimiter=None):
        paginator = self.client.get_paginator("list_objects_v2")
        options = {"Bucket": self.bucket, "Prefix": prefix}
        if delimiter:
            options["Delimiter"] = delimiter
        try:
            for page in paginator.paginate(**options):
                for item in page.get("Contents", []):
                    yield item["Key"]
                for item in page.get("CommonPrefixes", []):
                    yield item["Prefix"]
        except Exception as exc:
            raise BackupError("cannot list %s: %s" % (self.describe(), _s3_error(exc)))

    def list_backups(self):
        base = self._key("")
        base = base if base.endswith("/") or not base else base + "/"
        names = []
        for prefix in self._keys(base, delimiter="/"):
            name = prefix[len(base):].rstrip("/")
            if name and self.size(name + "/" + MANIFEST_NAME) is not None:
                names.append(name)
        return sorted(names)

    def has_data(self, name):
        return next(iter(self._keys(self._key(name) + "/")), None) is not None

    def delete_backup(self, name):
        keys = list(self._keys(self._key(name) + "/"))
        for start in range(0, len(keys), 1000):
            self.client.delete_objects(Bucket=self.bucket, Delete={
                "Objects": [{"Key": key} for key in keys[start:start + 1000]], "Quiet": True})
        return bool(keys)


class _ChunkedWriter(object):
    """A file fed chunk by chunk and sent in pieces of ``piece_size`` from background threads,
    so the Redis stream keeps flowing while a piece travels; at most two pieces wait in memory.
    Subclasses say how a piece is sent (``_send_piece``) and how the file is finished."""

    def __init__(self, piece_size):
        self.piece_size = piece_size
        self.buffer = bytearray()
        self.sent = 0
        self.error = None
        self.pending = threading.Semaphore(2)
        self.threads = []

    def _send_piece(self, number, offset, body):
        raise NotImplementedError

    def _describe_error(self, exc):
        return str(exc)

    def _run_piece(self, number, offset, body):
        try:
            self._send_piece(number, offset, body)
        except Exception as exc:
            self.error = exc
        finally:
            self.pending.release()

    def _flush_piece(self):
        self._raise_if_failed()
        self.pending.acquire()
        body = bytes(self.buffer[:self.piece_size])
        del self.buffer[:len(body)]
        thread = threading.Thread(target=self._run_piece,
                                  args=(len(self.threads) + 1, self.sent, body))
        thread.daemon = True
        self.sent += len(body)
        self.threads.append(thread)
        thread.start()

    def _drain(self):
        if self.buffer:
            self._flush_piece()
        self._wait()
        self._raise_if_failed()

    def _wait(self):
        for thread in self.threads:
            thread.join()

    def _raise_if_failed(self):
        if self.error is not None:
            raise BackupError(self._describe_error(self.error))

    def write(self, chunk):
        self.buffer += chunk
        while len(self.buffer) >= self.piece_size:
            self._flush_piece()


class _MultipartWriter(_ChunkedWriter):
    """A multipart upload: each piece is one part."""

    def __init__(self, client, bucket, key):
        super(_MultipartWriter, self).__init__(PART_SIZE)
        self.client = client
        self.bucket = bucket
        self.key = key
        self.upload_id = None
        self.parts = []

    def _describe_error(self, exc):
        return "upload to s3://%s/%s failed: %s" % (self.bucket, self.key, _s3_error(exc))

    def _flush_piece(self):
        if self.upload_id is None:
            try:
                self.upload_id = self.client.create_multipart_upload(
                    Bucket=self.bucket, Key=self.key)["UploadId"]
            except Exception as exc:
                raise BackupError("cannot write s3://%s/%s: %s" % (self.bucket, self.key,
                                                                    _s3_error(exc)))
        super(_MultipartWriter, self)._flush_piece()

    def _send_piece(self, number, offset, body):
        reply = self.client.upload_part(Bucket=self.bucket, Key=self.key, PartNumber=number,
                                        UploadId=self.upload_id, Body=body)
        self.parts.append({"PartNumber": number, "ETag": reply["ETag"]})

    def commit(self):
        if self.upload_id is None:
            # Small enough for one request.
            try:
                self.client.put_object(Bucket=self.bucket, Key=self.key, Body=bytes(self.buffer))
            except Exception as exc:
                raise BackupError("cannot write s3://%s/%s: %s" % (self.bucket, self.key,
                                                                    _s3_error(exc)))
            return
        self._drain()
        parts = sorted(self.parts, key=lambda part: part["PartNumber"])
        self.client.complete_multipart_upload(Bucket=self.bucket, Key=self.key,
                                              UploadId=self.upload_id,
                                              MultipartUpload={"Parts": parts})

    def abort(self):
        self._wait()
        if self.upload_id is not None:
            try:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=self.key,
                                                   UploadId=self.upload_id)
            except Exception:  # the bucket's lifecycle rules clean up what this cannot
                pass


class PodStore(_FileStore):
    """Backups as directories on a volume mounted in a running pod, reached through the
    Kubernetes exec API (a PVC held by a small pod of the Redis image). Only POSIX shell tools
    run in the pod (sh, head, cat, ls, mkdir, mv, rm, wc), so any Redis image serves.

    A file goes over in exec calls of EXEC_BYTES each (``head -c N | dd seek=...``: exec gives
    stdin no end-of-file, so every call is told how many bytes to take)."""

    EXEC_BYTES = 8 << 20
    FRAME = 256 << 10

    def __init__(self, namespace, pod, path, container=None, kubeconfig=None, location=None):
        self.namespace = namespace
        self.pod = pod
        self.root = path.rstrip("/") or "/"
        self.container = container
        self.location = location.rstrip("/") if location else None
        self.core = core_v1_api(kubeconfig)

    def describe(self, name=""):
        """The location for people: ``location`` (for example pvc://claim/dir) when given; the
        pod holding the volume is a passing detail."""
        if self.location:
            return "%s/%s" % (self.location, name) if name else self.location
        return "pod %s/%s:%s" % (self.namespace, self.pod, self._path(name) if name else self.root)

    def _path(self, name):
        path = posixpath.normpath(posixpath.join(self.root, name))
        if not path.startswith(self.root.rstrip("/") + "/"):
            raise BackupError("refusing a path outside the backup directory: %s" % name)
        return path

    def _open(self, script, args, stdin):
        from kubernetes.stream import stream

        kwargs = dict(command=["sh", "-c", script, "sh"] + list(args), stdin=stdin,
                      stdout=True, stderr=True, tty=False, _preload_content=False,
                      binary=True)
        if self.container:
            kwargs["container"] = self.container
        try:
            ws = stream(self.core.connect_get_namespaced_pod_exec, self.pod, self.namespace,
                        **kwargs)
        except Exception as exc:
            raise BackupError("cannot exec in pod %s/%s: %s" % (self.namespace, self.pod, exc))
        # The client also keeps a copy of all output for read_all(); a file read through cat
        # would pile up in it, and the API offers no switch through stream().
        ws._all = _Discard()
        return ws

    def _stream(self, script, args, stdin=None, timeout=300):
        """Runs ``sh -c script sh args...`` in the pod and yields its stdout as it comes; fails
        unless the command exits 0. A command must keep its stdout open until it ends (the exec
        session ends when the command's output closes, cutting its stdin short)."""
        ws = self._open(script, args, stdin is not None)
        stderr = []
        deadline = time.time() + timeout
        try:
            if stdin is not None:
                view = memoryview(stdin)
                for offset in range(0, len(view), self.FRAME):
                    ws.write_stdin(bytes(view[offset:offset + self.FRAME]))
            while ws.is_open():
                if time.time() > deadline:
                    raise BackupError("pod %s/%s: %r did not finish in %ds" % (
                        self.namespace, self.pod, script, timeout))
                try:
                    ws.update(timeout=1)
                except Exception:  # the server may drop the connection right after the status
                    break
                if ws.peek_stderr():
                    stderr.append(ws.read_stderr())
                if ws.peek_stdout():
                    yield ws.read_stdout()
            while ws.peek_stdout():
                yield ws.read_stdout()
            status = ws.read_channel(3)
        finally:
            ws.close()
        self._check_status(script, status, b"".join(stderr))

    def _check_status(self, script, status, stderr):
        try:
            status = json.loads(status) if status else {}
        except ValueError:
            status = {}
        if status.get("status") == "Success":
            return
        causes = (status.get("details") or {}).get("causes") or [{}]
        what = ("exited %s" % causes[0]["message"] if causes[0].get("reason") == "ExitCode"
                else status.get("message") or "ended without an exit status")
        raise BackupError("pod %s/%s: %r %s: %s" % (
            self.namespace, self.pod, script, what, stderr.decode("utf-8", "replace").strip()))

    def run(self, script, *args, **kwargs):
        """Runs ``sh -c script sh args...`` in the pod; returns its stdout (bytes)."""
        return b"".join(self._stream(script, args, kwargs.get("stdin"),
                                     kwargs.get("timeout", 300)))

    def open_writer(self, name):
        return _PodFileWriter(self, self._path(name))

    def read_chunks(self, name):
        return self._stream('exec cat "$1"', [self._path(name)], timeout=24 * 3600)

    def size(self, name):
        out = self.run('if [ -f "$1" ]; then wc -c < "$1"; fi', self._path(name)).strip()
        return int(out) if out else None

    def list_backups(self):
        out = self.run('for d in "$1"/*/; do [ -f "$d$2" ] && { d=${d%/}; echo "${d##*/}"; }; '
                       'done; true', self.root, MANIFEST_NAME)
        return sorted(line for line in out.decode("utf-8", "replace").splitlines() if line)

    def has_data(self, name):
        return self.run('[ -e "$1" ] && echo yes; true', self._path(name)).strip() == b"yes"

    def delete_backup(self, name):
        out = self.run('if [ -e "$1" ]; then rm -rf "$1" && echo deleted; fi', self._path(name))
        return out.strip() == b"deleted"


class _Discard(object):
    def write(self, data):
        pass


class _PodFileWriter(_ChunkedWriter):
    """Each piece is written at its offset by its own exec (two in flight); the size is checked
    before the rename that makes the file visible."""

    BLOCK = 1 << 20  # pieces are whole blocks, so dd can seek to each piece's offset

    def __init__(self, store, path):
        super(_PodFileWriter, self).__init__(store.EXEC_BYTES)
        self.store = store
        self.path = path
        self.partial = path + ".partial"
        store.run('mkdir -p "$1" && : > "$2" && echo created', posixpath.dirname(path),
                  self.partial)

    def _send_piece(self, number, offset, body):
        self.store.run('head -c %d | dd of="$1" bs=%d seek=%d conv=notrunc 2>/dev/null && '
                       'echo written' % (len(body), self.BLOCK, offset // self.BLOCK),
                       self.partial, stdin=body)

    def commit(self):
        self._drain()
        size = self.store.run('wc -c < "$1"', self.partial).strip()
        if int(size or -1) != self.sent:
            raise BackupError("%s holds %s bytes, %d were sent" % (
                self.partial, size.decode() or "no", self.sent))
        self.store.run('mv -f "$1" "$2" && echo renamed', self.partial, self.path)

    def abort(self):
        self._wait()
        try:
            self.store.run('rm -f "$1"; echo removed', self.partial)
        except BackupError:
            pass


# ---------------------------------------------------------------------------------------------
# What backup, placement and restore do with stored backups
# ---------------------------------------------------------------------------------------------

def copy_checked(chunks, writer, check, see=None):
    """Streams ``chunks`` into ``writer`` with their SHA-256 (``see(chunk)`` watches each one);
    ``check(total, sha256)`` raises to refuse the file before it is committed. Any failure
    aborts the writer: nothing partial becomes visible. Returns (total bytes, sha256)."""
    digest = hashlib.sha256()
    total = 0
    try:
        for chunk in chunks:
            digest.update(chunk)
            writer.write(chunk)
            total += len(chunk)
            if see is not None:
                see(chunk)
        check(total, digest.hexdigest())
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    return total, digest.hexdigest()


def read_manifest(store, name):
    if store.size("%s/%s" % (name, MANIFEST_NAME)) is None:
        raise BackupError("no backup named %s in %s (its manifest is missing: it does not "
                          "exist or never completed)" % (name, store.describe()))
    return store.read_json("%s/%s" % (name, MANIFEST_NAME))


def file_problems(store, name, manifest, checksums=True):
    """Every file present, of the recorded size and SHA-256 (each read once, streamed).
    ``checksums=False``: presence and size only, for a copy that checks each SHA-256 itself."""
    problems = []
    for shard in manifest["shards"]:
        path = "%s/%s" % (name, shard["file"])
        size = store.size(path)
        if size is None:
            problems.append("%s is missing" % store.describe(path))
            continue
        if size != shard["bytes"]:
            problems.append("%s has %d bytes, the manifest says %d (truncated or replaced)"
                            % (store.describe(path), size, shard["bytes"]))
            continue
        if not checksums:
            continue
        digest = hashlib.sha256()
        for chunk in store.read_chunks(path):
            digest.update(chunk)
        if digest.hexdigest() != shard["sha256"]:
            problems.append("%s does not match its SHA-256 (corrupted)" % store.describe(path))
    return problems


def core_v1_api(kubeconfig=None):
    try:
        from kubernetes import client
    except ImportError as exc:
        raise BackupError("the Python package 'kubernetes' is required for a pod store: %s"
                          % exc)
    return client.CoreV1Api(api_client(kubeconfig))


def _s3_error(exc):
    response = getattr(exc, "response", None) or {}
    error = response.get("Error") or {}
    if error:
        return "%s: %s" % (error.get("Code"), error.get("Message"))
    return "%s: %s" % (type(exc).__name__, exc)


def _parse_json(where, raw):
    try:
        return json.loads(raw.decode("utf-8"))
    except ValueError as exc:
        raise BackupError("%s is not valid JSON: %s" % (where, exc))


def open_store(spec):
    """A store from the module's ``storage`` option: {type: directory, path} or {type: s3, ...}."""
    kind = spec.get("type")
    if kind == "directory":
        return DirectoryStore(spec["path"])
    if kind == "pod":
        return PodStore(spec["namespace"], spec["pod"], spec["path"],
                        container=spec.get("container"), kubeconfig=spec.get("kubeconfig") or None,
                        location=spec.get("location"))
    if kind == "s3":
        return S3Store(spec["bucket"], prefix=spec.get("prefix") or "",
                       endpoint=spec.get("endpoint"), region=spec.get("region"),
                       access_key=spec.get("access_key"), secret_key=spec.get("secret_key"),
                       verify_tls=spec.get("verify_tls", True), ca_bundle=spec.get("ca_bundle"))
    raise BackupError("unknown storage type %r (directory, pod or s3)" % kind)


# The ``storage`` option every backup module takes (one definition for all of them).
STORAGE_OPTIONS = dict(
    type=dict(type="str", required=True, choices=["directory", "pod", "s3"]),
    path=dict(type="str"),
    namespace=dict(type="str"),
    pod=dict(type="str"),
    container=dict(type="str"),
    kubeconfig=dict(type="path"),
    location=dict(type="str"),
    bucket=dict(type="str"),
    prefix=dict(type="str", default=""),
    endpoint=dict(type="str"),
    region=dict(type="str"),
    access_key=dict(type="str", no_log=True),
    secret_key=dict(type="str", no_log=True),
    verify_tls=dict(type="bool", default=True),
    ca_bundle=dict(type="str"),
)
STORAGE_ARGUMENT = dict(type="dict", required=True, options=STORAGE_OPTIONS,
                        required_if=[("type", "directory", ["path"]),
                                     ("type", "pod", ["namespace", "pod", "path"]),
                                     ("type", "s3", ["bucket"])])
