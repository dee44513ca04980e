"""Template miner: grouping, stable ids across runs and appended data, JSON state, parameters."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pyarrow as pa
import pytest

from loglens.templates import Template, TemplateMiner, TemplateStateError, template_id

W = "<*>"

SSH = [f"Failed password for root from 10.0.{i % 7}.{i} port {4000 + i} ssh2" for i in range(40)]
SSH += [f"Invalid user {u} from 192.168.1.{i}" for i, u in enumerate(["bob", "eve", "amy", "joe"])]
SSH += [f"Accepted publickey for deploy from 10.1.1.{i} port 22 ssh2" for i in range(5)]
VM = [f"[instance: {i:08x}-aaaa-bbbb-cccc-{i:012x}] VM {s}" for i, s in enumerate(["Paused"] * 5)]
VM += [f"[instance: {i:08x}-aaaa-bbbb-cccc-{i:012x}] VM Started" for i in range(5)]


def ids_of(table: pa.Table) -> list[str | None]:
    return table.column("template_id").to_pylist()


def texts_of(table: pa.Table) -> list[str | None]:
    return table.column("template").to_pylist()


def test_groups_messages_into_templates() -> None:
    table = TemplateMiner().assign(SSH + VM)
    texts = texts_of(table)
    # A name with a number that every message of the template shares is written out (ssh2).
    assert texts[0] == f"Failed password for root from {W} port {W} ssh2"
    assert texts[40] == f"Invalid user {W} from {W}"
    assert len(set(texts[40:44])) == 1
    # Two VM states are two events, not one template with a variable.
    assert {texts[-1], texts[-6]} == {f"[instance: {W}] VM Started", f"[instance: {W}] VM Paused"}
    assert ids_of(table)[0] == template_id(texts[0])


def test_an_empty_or_blank_message_gets_the_empty_template_beside_the_others() -> None:
    # A blank line's message must not stop the mining of a whole ingest.
    table = TemplateMiner().assign(["", "   ", *SSH[:3], None])
    texts = texts_of(table)
    assert texts[:2] == ["", ""]
    assert texts[2] == f"Failed password for root from {W} port {W} ssh2"
    assert texts[-1] is None  # no message, no template
    assert ids_of(table)[0] == ids_of(table)[1] == template_id("")


def test_sudo_lines_of_many_users_are_one_template() -> None:
    # The first word names the event, except a subject set off by a lone colon (sudo's user).
    users = ["alice", "bob", "carol", "dave", "erin"]
    lines = [
        f"{u} : TTY=pts/{i} ; PWD=/home/{u} ; USER=root ; COMMAND=/usr/bin/systemctl restart nginx"
        for i, u in enumerate(users)
    ]
    texts = set(texts_of(TemplateMiner().assign(lines)))
    assert texts == {f"{W} : TTY=pts/{W} ; PWD={W} ; USER=root ; COMMAND={W} restart nginx"}
    # Appended one user at a time, they end the same way.
    miner = TemplateMiner()
    for line in lines:
        miner.fit([line])
    assert set(texts_of(miner.assign(lines, learn=False))) == texts
    # Elsewhere the first word still names the event: two daemons, two templates.
    daemons = [f"{d} startup succeeded" for d in ["syslogd", "klogd", "crond", "atd", "sshd"]]
    assert len(set(texts_of(TemplateMiner().assign(daemons)))) == 5


def test_fit_then_assign_without_learning_gives_the_same_templates() -> None:
    miner = TemplateMiner().fit(SSH)
    assert texts_of(miner.assign(SSH, learn=False)) == texts_of(TemplateMiner().assign(SSH))
    assert sum(t.count for t in miner.templates) == len(SSH)


def test_ids_are_stable_across_runs_and_hash_seeds() -> None:
    code = (
        "import json,sys; from loglens.templates import TemplateMiner;"
        "m=json.load(sys.stdin); t=TemplateMiner().assign(m);"
        "print(json.dumps(t.column('template_id').to_pylist()))"
    )
    outputs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", code],
            input=json.dumps(list(reversed(SSH + VM))),
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        outputs.append(json.loads(done.stdout))
    assert outputs[0] == outputs[1]
    assert outputs[0] == list(reversed(ids_of(TemplateMiner().assign(SSH + VM))))


def test_appended_data_keeps_known_ids() -> None:
    miner = TemplateMiner().fit(SSH)
    before = ids_of(miner.assign(SSH, learn=False))
    more = [f"Connection closed by 10.9.9.{i} [preauth]" for i in range(6)]
    after = ids_of(miner.assign(more + SSH))
    assert after[len(more) :] == before
    assert len(set(after[: len(more)])) == 1
    assert after[0] not in before


def test_a_numbered_name_generalises_when_appended_data_varies_it() -> None:
    miner = TemplateMiner().fit(SSH)
    old = ids_of(miner.assign(SSH[:1], learn=False))[0]
    assert old is not None
    ssh1 = [line.replace("ssh2", "ssh1") for line in SSH[:3]]
    new = ids_of(miner.assign(ssh1 + SSH[:1]))
    assert new[0] == new[-1] == miner.resolve(old) != old
    assert miner.templates_[new[0]].text == f"Failed password for root from {W} port {W} ssh{W}"


def test_generalised_template_maps_the_old_id_forward() -> None:
    miner = TemplateMiner().fit(["worker alpha ready", "worker alpha ready"])
    old = ids_of(miner.assign(["worker alpha ready"], learn=False))[0]
    assert old is not None
    miner.fit(["worker 17 ready"])  # a masked value where the old template had a word
    new = ids_of(miner.assign(["worker alpha ready", "worker 17 ready"], learn=False))
    assert new[0] == new[1] == miner.resolve(old) != old
    assert miner.templates_[new[0]].text == f"worker {W} ready"
    assert miner.templates_[new[0]].count == 3


def test_json_round_trip() -> None:
    miner = TemplateMiner(max_constant_values=2).fit(SSH + VM)
    text = miner.to_json()
    assert json.loads(text)["format"] == "loglens.templates"
    again = TemplateMiner.from_json(text)
    assert again.max_constant_values == 2
    assert again.templates == miner.templates
    assert ids_of(again.assign(SSH + VM, learn=False)) == ids_of(
        miner.assign(SSH + VM, learn=False)
    )
    assert again.to_json() == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "not JSON"),
        ('{"format": "other"}', "not a template state"),
        ('{"format": "loglens.templates", "version": 99}', "version"),
        (
            '{"format": "loglens.templates", "version": 1, '
            '"templates": [{"id": "T0", "text": "a"}]}',
            "does not match",
        ),
        (
            '{"format": "loglens.templates", "version": 1, '
            '"config": {"bogus": 1}, "templates": []}',
            "config",
        ),
    ],
)
def test_bad_state_is_a_clear_error(text: str, message: str) -> None:
    with pytest.raises(TemplateStateError, match=message):
        TemplateMiner.from_json(text)


def test_parameters_are_the_values_behind_wildcards() -> None:
    table = TemplateMiner().assign(
        ["Invalid user bob from 192.168.1.7", "PacketResponder 2 for block blk_-123 terminating"]
        + [f"PacketResponder {i} for block blk_{i}9 terminating" for i in range(3)],
        parameters=True,
    )
    params = table.column("parameters").to_pylist()
    assert params[0] == ["192.168.1.7"]  # one user seen: "bob" is still a constant
    assert params[1] == ["2", "blk_-123"]  # the block id as a whole


def test_nulls_and_unknown_messages() -> None:
    miner = TemplateMiner().fit(SSH)
    table = miner.assign(pa.array([SSH[0], None, "something never seen"]), learn=False)
    assert ids_of(table)[1:] == [None, None]
    assert ids_of(table)[0] is not None
    assert miner.assign(pa.chunked_array([[None], [SSH[0]]], pa.string())).num_rows == 2


def test_non_string_input_is_a_clear_error() -> None:
    with pytest.raises(TemplateStateError, match="strings"):
        TemplateMiner().assign(pa.array([1, 2]))


def test_template_dataclass_and_id() -> None:
    t = Template(template_id("a <*>"), "a <*>", 3)
    assert t.id.startswith("T") and len(t.id) == 17
    assert template_id("a <*>") != template_id("a  <*>")
