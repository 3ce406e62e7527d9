# -*- coding: utf-8 -*-
# Copyright: redisible contributors
# Apache License 2.0 (see LICENSE)
"""Where backups live: a directory (a mounted PVC) or an S3-compatible bucket.

Both stores take a file as a stream of chunks and give it back as one: nothing holds a whole
RDB in memory. A file becomes visible only once complete (a rename, or the completion of a
multipart upload), so a backup cut short never looks like a good one.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shutil
import threading

try:
    import boto3
    from botocore.config import Config as BotoConfig
    HAS_BOTO3 = True
    BOTO3_IMPORT_ERROR = None
except ImportError as exc:  # reported when an S3 store is asked for
    boto3 = None
    HAS_BOTO3 = False
    BOTO3_IMPORT_ERROR = exc

from ansible.module_utils.redisible_rdb import MANIFEST_NAME, BackupError

CHUNK = 1 << 20
# S3 wants parts of 5 MiB at least; 16 MiB keeps a 100 GiB file under the 10,000-part limit.
PART_SIZE = 16 << 20


class DirectoryStore(object):
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

    def write_json(self, name, document):
        writer = self.open_writer(name)
        writer.write(json.dumps(document, indent=2, sort_keys=True).encode())
        writer.commit()

    def read_json(self, name):
        return _parse_json(name, b"".join(self.read_chunks(name)))

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
        shutil.rmtree(path)
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


class S3Store(object):
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

    def read_json(self, name):
        return _parse_json(self.describe(name), b"".join(self.read_chunks(name)))

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


class _MultipartWriter(object):
    """A multipart upload fed chunk by chunk; parts go up from a background thread so the
    Redis stream keeps flowing, and at most two parts wait in memory."""

    def __init__(self, client, bucket, key):
        self.client = client
        self.bucket = bucket
        self.key = key
        self.upload_id = None
        self.parts = []
        self.buffer = bytearray()
        self.error = None
        self.pending = threading.Semaphore(2)
        self.threads = []

    def _start(self):
        try:
            self.upload_id = self.client.create_multipart_upload(
                Bucket=self.bucket, Key=self.key)["UploadId"]
        except Exception as exc:
            raise BackupError("cannot write s3://%s/%s: %s" % (self.bucket, self.key,
                                                                _s3_error(exc)))

    def _send(self, number, body):
        try:
            reply = self.client.upload_part(Bucket=self.bucket, Key=self.key, PartNumber=number,
                                            UploadId=self.upload_id, Body=body)
            self.parts.append({"PartNumber": number, "ETag": reply["ETag"]})
        except Exception as exc:
            self.error = exc
        finally:
            self.pending.release()

    def _flush_part(self):
        if self.upload_id is None:
            self._start()
        self._raise_if_failed()
        self.pending.acquire()
        body = bytes(self.buffer)
        self.buffer = bytearray()
        thread = threading.Thread(target=self._send, args=(len(self.threads) + 1, body))
        thread.daemon = True
        self.threads.append(thread)
        thread.start()

    def _raise_if_failed(self):
        if self.error is not None:
            raise BackupError("upload to s3://%s/%s failed: %s" % (self.bucket, self.key,
                                                                  _s3_error(self.error)))

    def write(self, chunk):
        self.buffer += chunk
        if len(self.buffer) >= PART_SIZE:
            self._flush_part()

    def commit(self):
        if self.upload_id is None:
            # Small enough for one request.
            try:
                self.client.put_object(Bucket=self.bucket, Key=self.key, Body=bytes(self.buffer))
            except Exception as exc:
                raise BackupError("cannot write s3://%s/%s: %s" % (self.bucket, self.key,
                                                                    _s3_error(exc)))
            return
        if self.buffer:
            self._flush_part()
        for thread in self.threads:
            thread.join()
        self._raise_if_failed()
        parts = sorted(self.parts, key=lambda part: part["PartNumber"])
        self.client.complete_multipart_upload(Bucket=self.bucket, Key=self.key,
                                              UploadId=self.upload_id,
                                              MultipartUpload={"Parts": parts})

    def abort(self):
        for thread in self.threads:
            thread.join()
        if self.upload_id is not None:
            try:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=self.key,
                                                   UploadId=self.upload_id)
            except Exception:  # the bucket's lifecycle rules clean up what this cannot
                pass


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
    if kind == "s3":
        return S3Store(spec["bucket"], prefix=spec.get("prefix") or "",
                       endpoint=spec.get("endpoint"), region=spec.get("region"),
                       access_key=spec.get("access_key"), secret_key=spec.get("secret_key"),
                       verify_tls=spec.get("verify_tls", True), ca_bundle=spec.get("ca_bundle"))
    raise BackupError("unknown storage type %r (directory or s3)" % kind)


# The ``storage`` option every backup module takes (one definition for all of them).
STORAGE_OPTIONS = dict(
    type=dict(type="str", required=True, choices=["directory", "s3"]),
    path=dict(type="str"),
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
                                     ("type", "s3", ["bucket"])])
