"""Object stores other than S3 on 127.0.0.1, for the tests: Azure Blob Storage (Azurite, from
npm) and Google Cloud Storage (gcp-storage-emulator, from PyPI), each with the standard
variable that points its fsspec package (adlfs, gcsfs), so the pipeline, at it. None of them
is a project dependency: the tests that use them skip where they are missing."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from types import TracebackType

from tests.host_speed import budget

AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = ("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/"
               "KBHBeksoGMGw==")
"""Azurite's published development account (not a secret)."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class StoreEmulator:
    """`with Emulator(...) as store:` serves the store on a free port until the block ends,
    with its variables set for this process (and restored after). `put`, `get` and `delete`
    act on objects as another application would, through the store's own client."""

    scheme = ""

    def __init__(self, container: str) -> None:
        self.container = container
        self.port = _free_port()
        self.variables: dict[str, str] = {}
        self._saved: dict[str, str | None] = {}

    def command(self, folder: str) -> list[str]:
        raise NotImplementedError

    def __enter__(self) -> StoreEmulator:
        self._folder = tempfile.TemporaryDirectory(prefix=f"{self.scheme}-emulator-")
        self._process = subprocess.Popen(self.command(self._folder.name),
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + budget(60)
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    self._stop()
                    raise RuntimeError(f"{self.scheme} emulator did not start") from None
                time.sleep(0.2)
        for name, value in self.variables.items():
            self._saved[name] = os.environ.get(name)
            os.environ[name] = value
        self.create_container()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._stop()
        for name, value in self._saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    def _stop(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._folder.cleanup()

    def create_container(self) -> None:
        raise NotImplementedError

    def put(self, key: str, data: bytes, metadata: dict[str, str] | None = None) -> None:
        raise NotImplementedError

    def get(self, key: str) -> bytes:
        raise NotImplementedError

    def delete(self, key: str) -> None:
        raise NotImplementedError


class AzuriteServer(StoreEmulator):
    """Azure Blob Storage; adlfs reads AZURE_STORAGE_CONNECTION_STRING."""

    scheme = "az"

    def __init__(self, container: str) -> None:
        super().__init__(container)
        self.variables = {"AZURE_STORAGE_CONNECTION_STRING": (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
            f"AccountKey={AZURITE_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{self.port}/{AZURITE_ACCOUNT};")}

    @staticmethod
    def installed() -> str | None:
        """`azurite-blob` from AZURITE_BLOB, else from PATH."""
        return os.environ.get("AZURITE_BLOB") or shutil.which("azurite-blob")

    def command(self, folder: str) -> list[str]:
        return [self.installed() or "azurite-blob", "--blobHost", "127.0.0.1",
                "--blobPort", str(self.port), "--location", folder, "--silent",
                "--skipApiVersionCheck", "--disableTelemetry"]

    def create_container(self) -> None:
        from azure.storage.blob import BlobServiceClient

        service = BlobServiceClient.from_connection_string(
            self.variables["AZURE_STORAGE_CONNECTION_STRING"])
        self._blobs = service.create_container(self.container)

    def put(self, key: str, data: bytes, metadata: dict[str, str] | None = None) -> None:
        self._blobs.upload_blob(key, data, overwrite=True, metadata=metadata)

    def get(self, key: str) -> bytes:
        return self._blobs.download_blob(key).readall()

    def delete(self, key: str) -> None:
        self._blobs.delete_blob(key)


class GcsEmulator(StoreEmulator):
    """Google Cloud Storage; gcsfs reads STORAGE_EMULATOR_HOST. Its newer bucket-type probe
    speaks gRPC, which the emulator does not: GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false."""

    scheme = "gs"

    def __init__(self, container: str) -> None:
        super().__init__(container)
        self.variables = {"STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{self.port}",
                          "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false"}

    @staticmethod
    def installed() -> str | None:
        try:
            import gcp_storage_emulator  # noqa: F401
        except ImportError:
            return None
        return sys.executable

    def command(self, folder: str) -> list[str]:
        return [sys.executable, "-m", "gcp_storage_emulator", "start", "--host", "127.0.0.1",
                "--port", str(self.port), "--in-memory"]

    def create_container(self) -> None:
        import gcsfs

        self._fs = gcsfs.GCSFileSystem(token="anon", skip_instance_cache=True)
        self._fs.mkdir(self.container)

    def put(self, key: str, data: bytes, metadata: dict[str, str] | None = None) -> None:
        self._fs.pipe_file(f"{self.container}/{key}", data, metadata=metadata)

    def get(self, key: str) -> bytes:
        return self._fs.cat_file(f"{self.container}/{key}")

    def delete(self, key: str) -> None:
        self._fs.rm_file(f"{self.container}/{key}")
