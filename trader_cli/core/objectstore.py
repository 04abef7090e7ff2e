"""A bar store in object storage: ``data_dir`` may be ``s3://bucket/prefix`` (read-only).

Sessions and sweeps read it through a local mirror: ``mirror(uri)`` copies the store's files
(``prefix/bars/<interval>/<SYMBOL>.parquet``) that changed since the last copy (by size and
modification time, kept in a manifest) into ``<state dir>/s3/<bucket>/<prefix>`` and returns that
folder, which the store then reads as any other. Each file arrives whole (a temp file renamed),
so two processes mirroring at once (a sweep's workers) never see half a file. Through pyarrow's
S3 filesystem: the endpoint from ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` (an
S3-compatible server), the region from ``AWS_DEFAULT_REGION``, credentials from the standard AWS
environment variables (or the instance's role).

Read-only: the mirror holds a marker (``.trader-cli-mirror``) and the store refuses to write
into it — ``data import`` and ``data fetch`` write a local store, which you then upload with
your S3 tool (``aws s3 sync data/ s3://bucket/prefix/``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from trader_cli.core.errors import DataError

MARKER = ".trader-cli-mirror"
MANIFEST = ".trader-cli-manifest.json"


def is_uri(text: str | os.PathLike[str] | None) -> bool:
    """True for an ``s3://`` data dir."""
    return text is not None and str(text).startswith("s3://")


def _split(uri: str) -> tuple[str, str]:
    rest = uri[len("s3://") :].strip("/")
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise DataError(f"data dir '{uri}': write s3://BUCKET/PREFIX")
    return bucket, prefix


def filesystem() -> Any:
    """pyarrow's S3 filesystem, configured from the standard AWS environment."""
    from pyarrow import fs

    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    kw: dict[str, Any] = {"region": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")}
    if endpoint:
        scheme, _, host = endpoint.partition("://")
        kw |= {"endpoint_override": host or scheme, "scheme": scheme if host else "https"}
    kw["connect_timeout"], kw["request_timeout"] = 5, 30
    return fs.S3FileSystem(**kw)


def mirror(uri: str, root: Path | None = None) -> Path:
    """The local mirror of the store at ``uri``, brought up to date (see the module doc)."""
    from pyarrow import fs as pafs

    from trader_cli.core.logs import state_dir

    bucket, prefix = _split(uri)
    local = (root or state_dir() / "s3") / bucket / prefix
    s3 = filesystem()
    base = f"{bucket}/{prefix}".rstrip("/")
    try:
        infos = s3.get_file_info(pafs.FileSelector(f"{base}/bars", recursive=True, allow_not_found=True))
    except OSError as err:
        raise DataError(f"cannot read {uri}: {_short(err)} (check AWS_ENDPOINT_URL and the credentials)") from None
    files = [i for i in infos if i.type == pafs.FileType.File and i.path.endswith(".parquet")]
    if not files:
        raise DataError(f"{uri} holds no bar store (no bars/<interval>/<SYMBOL>.parquet under it)")
    local.mkdir(parents=True, exist_ok=True)
    (local / MARKER).write_text(uri + "\n", encoding="utf-8")
    manifest_path = local / MANIFEST
    try:
        seen: dict[str, list[Any]] = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        seen = {}
    for info in files:
        rel = info.path[len(base) + 1 :]
        stamp = [info.size, info.mtime_ns]
        target = local / rel
        if seen.get(rel) == stamp and target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
        try:
            with s3.open_input_stream(info.path) as src, open(tmp, "wb") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
            os.replace(tmp, target)
        except OSError as err:
            tmp.unlink(missing_ok=True)
            raise DataError(f"cannot copy {uri}/{rel}: {_short(err)}") from None
        seen[rel] = stamp
    tmp_manifest = manifest_path.with_name(f"{MANIFEST}.{os.getpid()}.part")
    tmp_manifest.write_text(json.dumps(seen), encoding="utf-8")
    os.replace(tmp_manifest, manifest_path)
    return local


def mirrored_from(data_dir: Path) -> str | None:
    """The ``s3://`` URI a local folder mirrors (None: a store of its own)."""
    marker = Path(data_dir) / MARKER
    try:
        return marker.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def _short(err: BaseException) -> str:
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    return text[:200]
