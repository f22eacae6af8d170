"""Switch config validation: every problem with its line; check-config exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from clets.cli import cli
from clets.switch.config import ConfigProblems, RetryPolicy, load_config, parse_config
from tests._switch_kit import config_text

GOOD = config_text(Path("journal.db"))

BAD = """\
[switch]
name = "X"
home_state = "California"
journal = "j.db"
deadline = -1
colour = "blue"

[switch.retry]
jitter = 1.5

[[peer]]
mnemonic = "A"
oris = ["CA0010000", "NOT-AN-ORI"]
access = "everything"

[[peer]]
mnemonic = "B"
oris = ["CA0010000"]

[[link]]
name = "a"
url = "carrier-pigeon://coop"
codec = "no-such-codec"
role = "origin"
peer = "ZZZ"

[[link]]
name = "dest"
url = "memory://dest"
codec = "json"
role = "destination"

[[destination]]
name = "NCIC"
link = "nowhere"
backoff_initial = 10
backoff_max = 1

[[route]]
mke = ["QW"]
[[route.to]]
destination = "NCIC"
when = { sunny = true }
"""


def _problems(text: str) -> list[tuple[int | None, str]]:
    with pytest.raises(ConfigProblems) as info:
        parse_config(text, "bad.toml")
    return [(p.line, p.reason) for p in info.value.problems]


def test_good_config_parses(tmp_path: Path) -> None:
    cfg = parse_config(GOOD, "good.toml", tmp_path)
    assert cfg.switch.ori == "CA0000000" and cfg.switch.home_state == "CA"
    assert cfg.switch.journal == tmp_path / "journal.db"
    assert set(cfg.destinations) == {"WPS", "NCIC", "CARPOS", "SVS", "DMV", "CCH", "NLETS"}
    assert cfg.peers["LAPD"].access == "full"
    assert cfg.links["lapd"].ack is True
    assert cfg.destinations["NCIC"].retry == RetryPolicy(3, 1.0, 8.0, 0.5)
    assert cfg.routes.knows("QW") and cfg.ori_owner()["CA0190000"] == "SHERIFF"


def test_every_problem_is_listed_with_its_line() -> None:
    got = _problems(BAD)
    expected = [
        (3, "home_state"), (5, "deadline"), (6, "colour"), (9, "jitter"),
        (13, "NOT-AN-ORI"), (14, "access"), (18, "already assigned"), (22, "carrier-pigeon"),
        (23, "no-such-codec"), (25, "ZZZ"), (35, "nowhere"), (37, "backoff_max"),
        (43, "sunny"),
    ]
    for line, needle in expected:
        assert any(ln == line and needle in reason for ln, reason in got), (line, needle, got)
    assert len(got) >= len(expected)


def test_syntax_error_has_its_line() -> None:
    got = _problems('[switch]\nname = "x"\nhome_state = \n')
    assert got[0][0] == 3 and "TOML syntax" in got[0][1]


def test_missing_switch_table() -> None:
    got = _problems('[[peer]]\nmnemonic = "A"\noris = []\n')
    assert any("missing [switch]" in r for _, r in got)


def test_route_override_replaces_one_key(tmp_path: Path) -> None:
    text = GOOD + '\n[[route]]\nmke = ["QW"]\n[[route.to]]\ndestination = "NCIC"\n'
    cfg = parse_config(text, "o.toml", tmp_path)
    assert [t.destination for t in cfg.routes.routes["QW"].to] == ["NCIC"]
    assert [t.destination for t in cfg.routes.routes["QV"].to] == ["SVS", "NCIC", "DMV"]


def test_routes_file_replaces_the_profile(tmp_path: Path) -> None:
    (tmp_path / "r.toml").write_text('[access]\ninquiry = ["Q*"]\n[[route]]\nmke = ["QX"]\n'
                                     '[[route.to]]\ndestination = "NCIC"\n')
    cfg = parse_config(GOOD + '\n[routes]\nfile = "r.toml"\n', "f.toml", tmp_path)
    assert list(cfg.routes.routes) == ["QX"]


def test_check_config_cli(tmp_path: Path) -> None:
    runner = CliRunner()
    good = tmp_path / "good.toml"
    good.write_text(GOOD)
    res = runner.invoke(cli, ["check-config", str(good)])
    assert res.exit_code == 0 and res.output.startswith("ok\n")
    assert "7 destinations" in res.output
    bad = tmp_path / "bad.toml"
    bad.write_text(BAD)
    res = runner.invoke(cli, ["check-config", str(bad)])
    assert res.exit_code == 2
    lines = res.output.splitlines()
    assert len(lines) >= 13 and all(ln.startswith(f"{bad}:") for ln in lines)
    assert f"{bad}:3: [switch]: home_state" in res.output


def test_load_config_missing_file(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="cannot read config"):
        load_config(tmp_path / "nope.toml")


def test_retry_policy_delay() -> None:
    p = RetryPolicy(retries=5, backoff_initial=1.0, backoff_max=10.0, jitter=0.5)
    assert [p.delay(a, 0.0) for a in range(1, 7)] == [1, 2, 4, 8, 10, 10]
    assert p.delay(3, 0.999) == pytest.approx(4 * (1 - 0.5 * 0.999))


def test_relative_certificate_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    text = """
[switch]
name = "T"
home_state = "CA"
journal = "j.db"

[[link]]
name = "state"
url = "tcp+tls://127.0.0.1:5001?framing=len2&ca=pki/ca.pem&cert=/etc/me.pem&key=pki/my%20key.pem"
codec = "ncic"
role = "destination"

[[destination]]
name = "NCIC"
link = "state"
"""
    cfg = parse_config(text, "t.toml", tmp_path)
    url = cfg.links["state"].url
    assert f"ca={tmp_path}/pki/ca.pem" in url
    assert "cert=/etc/me.pem" in url
    assert f"key={tmp_path}/pki/my%20key.pem" in url
    assert "framing=len2" in url


def test_check_config_finds_what_would_stop_a_link_without_opening_it(tmp_path: Path) -> None:
    """Framing, TLS files (loaded: a key that does not match its certificate is found) and
    SSH key files are checked by check-config, with the link's line; nothing is created."""
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("switch.example")
    other = ca.issue_cert("other.example")
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem.bytes())
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    other.private_key_pem.write_to_path(str(tmp_path / "other.key"))

    import os

    master, slave = os.openpty()  # a real serial device node for the good config
    tty = os.ttyname(slave)

    def config(tls_key: str, framing: str, ssh_key: str, port: str = tty) -> Path:
        tls = f"cert={tmp_path / 'cert.pem'}&key={tls_key}&ca={tmp_path / 'ca.pem'}"
        text = f"""[switch]
name = "X"
home_state = "CA"
journal = "{tmp_path / 'j.db'}"

[[link]]
name = "cad"
url = "tcp+tls://127.0.0.1:7001?framing=len2&{tls}"
codec = "json"
role = "origin"

[[link]]
name = "tty"
url = "serial://{port}?baud=9600&framing={framing}"
codec = "ncic"
role = "origin"
peer = "TTY"

[[peer]]
mnemonic = "TTY"
oris = ["CA0349999"]
access = "inquiry"

[[link]]
name = "dmv"
url = "sftp://drop@127.0.0.1:2222/inbox?key={ssh_key}&known_hosts={tmp_path / 'ca.pem'}"
codec = "dmv-reg-request"
role = "destination"

[[destination]]
name = "DMV"
link = "dmv"
"""
        path = tmp_path / "box.toml"
        path.write_text(text, "utf-8")
        return path

    good = config(str(tmp_path / "key.pem"), "stx-etx+lrc", str(tmp_path / "key.pem"))
    out = CliRunner().invoke(cli, ["check-config", str(good)])
    assert out.exit_code == 0 and out.output.startswith("ok"), out.output
    bad = config(str(tmp_path / "other.key"), "stx-etx+crc", str(tmp_path / "missing_key"))
    out = CliRunner().invoke(cli, ["check-config", str(bad)])
    assert out.exit_code == 2, out.output
    lines = out.output.strip().splitlines()
    assert len(lines) == 3, out.output
    assert lines[0].startswith(f"{bad}:8: link cad: cannot load TLS material")
    assert lines[1].startswith(f"{bad}:14: link tty: unknown framing 'stx-etx+crc'")
    assert lines[2] == f"{bad}:26: link dmv: key={tmp_path / 'missing_key'}: no such readable file"
    assert not (tmp_path / "j.db").exists()
    # a serial device that is not there is what `clets run` would stop on: found here too
    gone = config(str(tmp_path / "key.pem"), "stx-etx+lrc", str(tmp_path / "key.pem"),
                  port=str(tmp_path / "ttyNONE"))
    out = CliRunner().invoke(cli, ["check-config", str(gone)])
    assert out.exit_code == 2, out.output
    assert out.output.strip() == (f"{gone}:14: link tty: serial port {tmp_path / 'ttyNONE'}: "
                                  "no such device")
    os.close(master)
    os.close(slave)


def test_a_relative_spool_ledger_is_relative_to_the_config_file(tmp_path: Path) -> None:
    text = config_text(Path("j.db"), dests=("NCIC",)) + """
[[peer]]
mnemonic = "RMS"
oris = ["CA0349901"]
access = "full"

[[link]]
name = "rms"
url = "spool:///var/spool/rms?split=line&ledger=state/rms-ledger.sqlite3"
codec = "nlets"
role = "origin"
peer = "RMS"
"""
    cfg = parse_config(text, "t.toml", tmp_path)
    url = cfg.links["rms"].url
    assert f"ledger={tmp_path}/state/rms-ledger.sqlite3" in url
    assert url.startswith("spool:///var/spool/rms?")  # the URL's own path: as written


def test_a_link_key_the_switch_does_not_use_is_an_error() -> None:
    """``options`` was accepted and ignored: a key that does nothing must say so."""
    text = GOOD.replace('role = "origin"\npeer = "LAPD"',
                        'role = "origin"\npeer = "LAPD"\noptions = { bogus = 1 }', 1)
    assert "options = { bogus = 1 }" in text
    with pytest.raises(ConfigProblems) as err:
        parse_config(text, "t.toml", Path("."))
    assert any("options" in p.reason for p in err.value.problems), err.value.problems


def test_commit_policy_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The group commit's knobs: defaults, values, and the bounds each names."""
    monkeypatch.delenv("CLETS_COMMIT_GATHER", raising=False)
    cfg = parse_config(GOOD, "good.toml", tmp_path)
    assert (cfg.switch.commit_delay, cfg.switch.commit_gather,
            cfg.switch.switch_interval) == (0.0, 2, 0.0005)
    text = GOOD.replace("[switch]\n", "[switch]\ncommit_gather = 2\nswitch_interval = 0.001\n", 1)
    cfg = parse_config(text, "t.toml", tmp_path)
    assert (cfg.switch.commit_gather, cfg.switch.switch_interval) == (2, 0.001)
    bad = GOOD.replace("[switch]\n", "[switch]\ncommit_gather = 17\nswitch_interval = 0\n", 1)
    got = [reason for _, reason in _problems(bad)]
    assert any("commit_gather must be between 0 and 16" in r for r in got), got
    assert any("switch_interval must be between" in r for r in got), got
