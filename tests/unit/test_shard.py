"""Sharding by DAG id: every DAG has exactly one owner, the same in every process."""

import subprocess
import sys

import pytest

from orcai.config import load_settings
from orcai.errors import ConfigError
from orcai.shard import Shard, shard_of

DAG_IDS = [f"dag_{i}" for i in range(1000)] + ["etl_orders", "example_bash_operator", "ünïcode"]


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_every_dag_has_exactly_one_owner(count):
    for dag_id in DAG_IDS:
        owners = [i for i in range(count) if Shard(i, count).owns(dag_id)]
        assert len(owners) == 1, dag_id


def test_shards_split_a_deployment_roughly_evenly():
    sizes = [sum(Shard(i, 4).owns(d) for d in DAG_IDS) for i in range(4)]
    assert min(sizes) > 0.2 * len(DAG_IDS), sizes


def test_ownership_does_not_depend_on_the_process():
    """Python's hash() is salted per process; the shard hash must not be."""
    here = [shard_of(d, 5) for d in DAG_IDS[:50]]
    code = ("from orcai.shard import shard_of; "
            f"print([shard_of(d, 5) for d in {DAG_IDS[:50]!r}])")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": "123"}, cwd=".")
    assert other.stdout.strip() == str(here)


def test_parse_and_print():
    assert Shard.parse(" 1/4 ") == Shard(1, 4) and str(Shard(1, 4)) == "1/4"
    assert Shard.parse("0/1").is_whole


@pytest.mark.parametrize("text", ["2/2", "-1/2", "1", "a/b", "0/0", "1/2/3", ""])
def test_invalid_shard_setting_names_the_variable(monkeypatch, text):
    monkeypatch.setenv("ORCAI_SHARD", text)
    with pytest.raises(ConfigError, match="ORCAI_SHARD"):
        load_settings()


def test_shard_setting(monkeypatch):
    monkeypatch.setenv("ORCAI_SHARD", "1/3")
    assert load_settings().dag_shard == Shard(1, 3)
    monkeypatch.delenv("ORCAI_SHARD")
    assert load_settings().dag_shard.is_whole
