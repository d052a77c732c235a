"""`guestgate link-token` with the key and URL given (the cluster path is in tests/browser)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from guestgate.web import command_token
from guestgate.web.tokens import verify


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    command_token.configure(parser)
    return command_token.run(parser.parse_args(list(argv)))


def test_prints_a_url_whose_token_opens_that_link(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = tmp_path / "key"
    key.write_bytes(b"the-signing-key\n")
    assert run("shop/vip", "--key-file", str(key), "--url", "https://c.example.com/call/vip", "--valid-for", "60") == 0
    url = capsys.readouterr().out.strip()
    assert url.startswith("https://c.example.com/call/vip?token=")
    token = parse_qs(urlsplit(url).query)["token"][0]
    assert verify(b"the-signing-key", token, "shop/vip", time.time()).ok
    assert verify(b"the-signing-key", token, "shop/vip", time.time() + 61).problem == "expired"


def test_keeps_an_existing_query(tmp_path: Path) -> None:
    assert command_token.signed_url("https://c/x?lang=de", b"k", "a/b", 10, 0).startswith("https://c/x?lang=de&token=")


BAD = [
    ("not namespace/name", ["vip", "--key-file", "K", "--url", "u"], "not NAMESPACE/NAME"),
    ("too many slashes", ["a/b/c", "--key-file", "K", "--url", "u"], "not NAMESPACE/NAME"),
    ("zero validity", ["a/b", "--key-file", "K", "--url", "u", "--valid-for", "0"], "positive"),
    ("missing key file", ["a/b", "--key-file", "/nonexistent/key", "--url", "u"], "/nonexistent/key"),
    ("empty key", ["a/b", "--key-file", "EMPTY", "--url", "u"], "empty"),
]


@pytest.mark.parametrize(("name", "argv", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_exits_2_with_a_clear_line(
    name: str, argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "K").write_bytes(b"key")
    (tmp_path / "EMPTY").write_bytes(b"\n")
    argv = [str(tmp_path / a) if a in ("K", "EMPTY") else a for a in argv]
    assert run(*argv) == 2
    assert message in capsys.readouterr().err
