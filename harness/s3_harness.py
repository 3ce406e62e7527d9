"""A real S3-compatible server on loopback for the backup tests: moto's standalone server.

It speaks the S3 REST API over HTTP (multipart uploads, listing, deletes), so the code under
test talks to it exactly as to any S3 endpoint, through boto3.
"""

import os
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid

from redis_harness import free_port


class MotoServer(object):
    ACCESS_KEY = "redisible-test"
    SECRET_KEY = "redisible-test-secret"

    def __init__(self):
        self.port = free_port()
        self.proc = None
        self.endpoint = "http://127.0.0.1:%d" % self.port

    def start(self):
        binary = shutil.which("moto_server") or os.path.join(os.path.dirname(sys.executable),
                                                             "moto_server")
        self.proc = subprocess.Popen([binary, "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                urllib.request.urlopen(self.endpoint + "/moto-api/", timeout=1)
                return self
            except Exception:
                if self.proc.poll() is not None:
                    raise RuntimeError("moto_server exited with %s" % self.proc.returncode)
                time.sleep(0.1)
        raise RuntimeError("moto_server did not answer on %s" % self.endpoint)

    def client(self):
        import boto3
        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=self.ACCESS_KEY,
                            aws_secret_access_key=self.SECRET_KEY)

    def new_bucket(self):
        name = "backups-%s" % uuid.uuid4().hex[:12]
        self.client().create_bucket(Bucket=name)
        return name

    def storage(self, bucket, prefix="redis"):
        """The ``storage`` option of the backup and restore modules for this bucket."""
        return {"type": "s3", "endpoint": self.endpoint, "bucket": bucket, "prefix": prefix,
                "region": "us-east-1", "access_key": self.ACCESS_KEY,
                "secret_key": self.SECRET_KEY}

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
