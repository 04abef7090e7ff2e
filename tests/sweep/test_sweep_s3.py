"""The bar store in object storage: an in-process S3-compatible server (moto's
ThreadedMotoServer on 127.0.0.1, port 0) holds a copy of the sample store; a sweep over
``s3://…`` equals the same sweep over the local copy, and writes to it are refused in a line."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sweep.test_sweep import EMA, config
from tests.sweep.test_sweep import _isolated as _isolated
from tests.test_app import Shell

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def bucket(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    from moto.server import ThreadedMotoServer
    from pyarrow import fs

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://{host}:{port}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    try:
        import boto3

        from trader_cli.core.objectstore import filesystem

        boto3.client("s3", endpoint_url=f"http://{host}:{port}").create_bucket(Bucket="bars-bucket")  # the test's setup
        s3 = filesystem()
        local = tmp_path / "local"
        for iv, syms in (("1m", ("AAPL", "MSFT")), ("1d", ("AAPL", "MSFT"))):
            (local / "bars" / iv).mkdir(parents=True, exist_ok=True)
            for sym in syms:
                src = ROOT / "data" / "bars" / iv / f"{sym}.parquet"
                shutil.copy(src, local / "bars" / iv / src.name)
        fs.copy_files(str(local), "bars-bucket/store", destination_filesystem=s3)
        yield "s3://bars-bucket/store"
    finally:
        server.stop()


def test_a_sweep_over_s3_equals_the_same_sweep_over_the_local_copy(bucket: str, tmp_path: Path) -> None:
    cfg = config(tmp_path)
    grid = f"--strategy {EMA} --param fast=5,10 --param slow=20,30 --workers 2"
    local = Shell(tmp_path / "local")(f"sweep {cfg} {grid} --out {tmp_path / 'a'} -o json")
    sh = Shell(tmp_path / "unused")
    sh.obj.data_dir_option = bucket
    remote = sh(f"sweep {cfg} {grid} --out {tmp_path / 'b'} -o json")
    assert local.code == 0 and remote.code == 0, (local.err, remote.err)

    def board(out: str) -> dict[str, tuple]:
        return {r["params"]: (r["sharpe"], r["total_return"], r["round_trips"]) for r in json.loads(out)}

    assert board(local.out) == board(remote.out) and len(board(remote.out)) == 4
    meta = json.loads((tmp_path / "b" / "sweep.json").read_text())
    assert meta["data_dir"] == bucket  # the workers mirror the store themselves
    csv = tmp_path / "x.csv"
    csv.write_text("timestamp,open,high,low,close,volume\n2024-12-02T09:30:00-05:00,1,1.2,0.9,1.1,100\n")
    res = sh(f"data import {csv} --symbol ZZ --interval 1m")
    assert res.code == 1 and f"{bucket} is read-only here" in res.err


def test_an_unreachable_or_empty_store_is_one_line(bucket: str, tmp_path: Path) -> None:
    sh = Shell(tmp_path / "unused")
    sh.obj.data_dir_option = "s3://bars-bucket/nothing-here"
    res = sh("data list")
    assert res.code == 1 and "holds no bar store" in res.err
