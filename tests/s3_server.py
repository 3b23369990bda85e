"""A real S3 API on 127.0.0.1 for the tests: moto's standalone server (`moto[server]`), and the
standard AWS variables that point botocore, so s3fs and the pipeline, at it."""

from __future__ import annotations

import logging
import os
import socket
import urllib.request
from pathlib import Path
from types import TracebackType

import boto3
from moto.server import ThreadedMotoServer

_ENVIRONMENT = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class S3Server:
    """`with S3Server() as s3:` serves S3 on a free port until the block ends, with the AWS
    variables set for this process (and restored after)."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._saved: dict[str, str | None] = {}

    def __enter__(self) -> S3Server:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request
        self._server.start()
        # moto keeps its buckets in this process, not per server: start from none.
        urllib.request.urlopen(urllib.request.Request(f"{self.endpoint}/moto-api/reset",
                                                      method="POST"), timeout=10).close()
        for name, value in {**_ENVIRONMENT, "AWS_ENDPOINT_URL": self.endpoint}.items():
            self._saved[name] = os.environ.get(name)
            os.environ[name] = value
        self.client = boto3.client("s3", endpoint_url=self.endpoint)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()
        for name, value in self._saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    def stop(self) -> None:
        self._server.stop()

    def upload_folder(self, folder: Path, bucket: str, prefix: str) -> list[str]:
        keys = []
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            key = f"{prefix}/{path.relative_to(folder).as_posix()}"
            self.client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
            keys.append(key)
        return keys
