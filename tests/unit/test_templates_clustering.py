"""Clustering rules a log expert expects for any system (none tuned to one dataset)."""

from __future__ import annotations

from loglens.templates import TemplateMiner, mask_message
from loglens.templates.tokens import common_wrapping, keyed_wildcard, token_matches

W = "<*>"


def templates_of(messages: list[str]) -> list[str]:
    return TemplateMiner().assign(messages).column("template").to_pylist()


def test_the_first_word_names_the_event() -> None:
    verbs = ["boot", "wait", "halt", "risBoot", "clusterAddMember"]
    texts = templates_of([f"{verb} (command {i})" for i, verb in enumerate(verbs)])
    assert texts == [f"{verb} (command {W})" for verb in verbs]


def test_first_word_holding_a_value_is_still_a_value() -> None:
    texts = templates_of([f"job_{i}0 finished" for i in range(4)] + ["job_7 finished"])
    assert set(texts) == {f"{W} finished"}


def test_fields_of_different_keys_are_never_one_template() -> None:
    texts = templates_of(
        [f"getRecentTasks: num={n},flags=62,totalTasks=46" for n in (10, 20)]
        + [f"getRecentTasks: topActivity=ComponentInfo{{com.app{c}/Main}}" for c in "abc"]
        + ["stopScan count=0", "stopScan record.requested=false"]
    )
    assert len(set(texts[:2])) == 1 and len(set(texts[2:5])) == 1
    assert texts[0] != texts[2]
    assert texts[5:] == [f"stopScan count={W}", f"stopScan record.requested={W}"]


def test_a_name_before_a_field_is_not_a_key() -> None:
    users = ["alice", "bob", "carol", "dave", "erin"]
    texts = templates_of(
        [f"session opened for user {u}(uid=100{i}) by (uid=0)" for i, u in enumerate(users)]
    )
    assert set(texts) == {f"session opened for user {W} by (uid={W})"}


def test_a_wildcard_of_one_key_must_cover_the_other_value() -> None:
    hosts = [f"h{c}.example.org" for c in "abcdef"]
    texts = templates_of(
        [f"auth failure; tty=NODEVssh ruser= rhost={host}" for host in hosts]
        + [f"auth failure; tty=NODEVssh ruser= rhost=10.0.0.{i}" for i in range(5)]
        + ["auth failure; tty=:0 ruser= rhost="]
    )
    assert set(texts[:-1]) == {f"auth failure; tty=NODEVssh ruser= rhost={W}"}
    assert texts[-1] == f"auth failure; tty=:{W} ruser= rhost={W}"


def test_device_names_and_ids_are_values() -> None:
    texts = templates_of(
        [f"link up on network 10.0.0.{i} via interface eth0" for i in range(3)]
        + [f"link up on network 10.0.1.{i} via interface wlan0" for i in range(3)]
        + [f"Block rdd_{i}_1 stored" for i in range(3)]
        + [f"Block broadcast_{i} stored" for i in range(3)]
    )
    assert set(texts[:6]) == {f"link up on network {W} via interface {W}"}
    assert set(texts[6:]) == {f"Block {W} stored"}


def test_dotted_names_and_booleans_are_values() -> None:
    texts = templates_of(
        ["received broadcast android.intent.action.TIME_TICK"] * 2
        + ["received broadcast android.intent.action.BATTERY_CHANGED"]
        + ["updateDimmedActivatedHideSensitive overlap:false"] * 3
        + ["updateDimmedActivatedHideSensitive overlap:true"]
    )
    assert set(texts[:3]) == {f"received broadcast {W}"}
    assert set(texts[3:]) == {f"updateDimmedActivatedHideSensitive overlap:{W}"}


def test_keyed_values_keep_their_quotes_and_closers() -> None:
    tags = ["RILJ_ACK_WL", "AudioMix", "*launch*", "handleAudioEvent"]
    texts = templates_of([f'acquire lock=1{i}, tag="{tag}", pid=7' for i, tag in enumerate(tags)])
    assert set(texts) == {f'acquire lock={W}, tag="{W}", pid={W}'}
    assert keyed_wildcard(f"(uid={W})") == f"(uid={W})"
    assert keyed_wildcard(f"ws=WorkSource{{{W}}},") == f"ws={W},"  # '}' is the value's
    assert token_matches(f'tag="{W}",', 'tag="AudioMix",')
    assert token_matches(f"rhost={W}", "rhost=")  # an empty value is a value
    assert not token_matches(f'tag="{W}",', "tag=AudioMix")


def test_a_plain_wildcard_keeps_the_wrapping_every_value_shares() -> None:
    packages = [f"Package_for_KB{i}~31bf~amd64~~6.1.1.{i}" for i in range(5)]
    texts = templates_of([f"Read package: {p}, State: {i}" for i, p in enumerate(packages)])
    assert set(texts) == {f"Read package: {W}, State: {W}"}
    assert common_wrapping(["'{a}',", "'{b}',"]) == f"'{{{W}}}',"
    assert common_wrapping(["alice(uid=1),", "bob(uid=2),"]) == f"{W},"  # ')' is the value's
    assert common_wrapping(["(a)", "b"]) == W
    assert common_wrapping(["()", "(host.example.org)"]) == f"({W})"  # an empty value is a value
    assert common_wrapping(["sda1):", "sdb2):"]) == f"{W}):"  # ')' closes "(device"


def test_spelled_out_units_stay_words() -> None:
    assert mask_message("Took 19.47 seconds to spawn") == f"Took {W} seconds to spawn"
    assert mask_message("order: 0, 4096 bytes") == f"order: {W}, {W} bytes"
    assert mask_message("waited 250ms, stored 16.8 KB") == f"waited {W}, stored {W}"


def test_numbered_names_are_written_out_when_shared_versions_are_not() -> None:
    texts = templates_of(
        [f"jk2_init() Found child {i} in scoreboard slot {i % 7}" for i in range(5)]
        + [f"mtrr: v2.0 ({i}0519)" for i in range(3)]
        + [f"link up on tty{i}" for i in range(3)]
    )
    assert texts[0] == f"jk2_init() Found child {W} in scoreboard slot {W}"
    assert texts[5] == f"mtrr: v{W} ({W})"
    assert set(texts[8:]) == {f"link up on tty{W}"}


def test_appended_batches_end_as_one_batch_would() -> None:
    users = ["root", "git", "ftp", "uucp", "admin"]
    lines = [f"Failed password for {u} from 10.0.{i}.1 port {i} ssh2" for i, u in enumerate(users)]
    lines += [f"connection from 10.0.0.{i} () at 12:00:0{i}" for i in range(3)]
    lines += [
        f"connection from 10.0.1.{i} ({h}.example.org) at 12:00:0{i}" for i, h in enumerate("abc")
    ]
    at_once = templates_of(lines)
    miner = TemplateMiner()
    for line in lines:  # one message per batch: each alone, nothing varies yet
        miner.assign([line])
    texts = miner.assign(lines, learn=False).column("template").to_pylist()
    assert texts == at_once
    assert texts[0] == f"Failed password for {W} from {W} port {W} ssh2"
    assert set(texts[5:]) == {f"connection from {W} ({W}) at {W}"}
