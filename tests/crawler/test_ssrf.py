"""SSRF: every address that is not globally routable is refused before any packet is sent, by
the policy function, the crawler (through a proxy too) and the link checker."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest
from typer.testing import CliRunner

from citevault.cli import get_app
from citevault.config import Settings
from citevault.crawler.netpolicy import blocked_reason, host_refusal
from citevault.linkrot import check_url
from tests.fakeweb import FakeWeb

REFUSED = [
    "127.0.0.1", "127.1", "0x7f.0.0.1", "2130706433", "::1", "[::1]", "0.0.0.0", "::",
    "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "fd00:ec2::254", "fe80::1",
    "100.64.0.1", "100.127.255.254",  # carrier-grade NAT
    "100.100.100.200",  # Alibaba Cloud metadata
    "192.0.0.1", "192.0.0.9", "192.0.0.170",  # IETF protocol assignments
    "198.18.0.1", "240.0.0.1", "224.0.0.1", "255.255.255.255",
    "2002:7f00:1::", "2002:a9fe:a9fe::", "2002:0a00:0001::",  # 6to4 forms of loopback/metadata/private
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1
    "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b:1::a00:1",  # NAT64
    "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::127.0.0.1",  # mapped and compatible
    "fec0::1", "fc00::1", "ff02::1", "2001:db8::1",
]
ALLOWED = ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "2002:0808:0808::", "64:ff9b::808:808",
           "www.example.com", "twitter.com"]
NAMES = ["localhost", "localhost.", "LOCALHOST.", "a.localhost", "a.localhost.", "localhost.localdomain"]


@pytest.mark.parametrize("host", REFUSED)
def test_policy_refuses_every_address_that_is_not_global(host: str) -> None:
    reason = blocked_reason(host)
    assert reason is not None and reason.startswith("refused:") and host in reason


def test_policy_names_the_embedded_address() -> None:
    reason = blocked_reason("2002:a9fe:a9fe::") or ""
    assert "metadata" in reason and "169.254.169.254" in reason
    assert "carrier-grade NAT" in (blocked_reason("100.64.0.1") or "")
    assert "metadata" in (blocked_reason("100.100.100.200") or "")
    assert "loopback" in (blocked_reason("::1") or "")
    assert "loopback" in (blocked_reason("::ffff:127.0.0.1") or "")


@pytest.mark.parametrize("host", ALLOWED)
def test_policy_allows_public_addresses_and_names(host: str) -> None:
    assert host_refusal(host) is None


@pytest.mark.parametrize("host", NAMES)
def test_policy_refuses_loopback_names_with_or_without_the_trailing_dot(host: str) -> None:
    assert "loopback name" in (host_refusal(host) or "")


NEW_HOLES = ["http://100.64.0.1/", "http://100.100.100.200/latest/meta-data/", "http://192.0.0.1/",
             "http://[2002:7f00:1::]/", "http://[2002:a9fe:a9fe::]/", "http://[fec0::1]/",
             "http://[64:ff9b::7f00:1]/", "http://localhost./"]


def test_crawler_refuses_them_through_a_proxy_without_a_connection(
    web: FakeWeb, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fake web is the configured proxy: a request it never saw was never sent."""
    monkeypatch.delenv("CITEVAULT_ALLOW_PRIVATE_NETWORKS")
    for url in NEW_HOLES:
        web.add(url, "<html><body>internal</body></html>")
    result = CliRunner().invoke(get_app(), ["add", *NEW_HOLES, "--depth", "0", "--json"])
    assert result.exit_code == 1, result.output
    for src in json.loads(result.stdout)["sources"]:
        (cap,) = src["snapshot"]["captures"]
        assert cap["error"].startswith("refused:") and cap["warc"] is None, cap
    assert web.requests == []  # not even a CONNECT
    assert not any(web.hits(u) for u in NEW_HOLES)


def test_link_checker_refuses_them_before_resolving_or_connecting(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"a network call was made: {args!r}")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket.socket, "connect_ex", no_network)
    for url in NEW_HOLES:
        res = check_url(Settings(), url)
        assert res.outcome == "error" and "refused" in (res.detail or ""), (url, res)
