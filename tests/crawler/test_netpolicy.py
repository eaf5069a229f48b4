"""One network policy for captures and link checks: which hosts and resolved addresses are refused."""

from __future__ import annotations

import pytest

from citevault.crawler.netpolicy import host_refusal, resolved_refusal


@pytest.mark.parametrize("host", ["127.0.0.1", "2130706433", "0x7f.0.0.1", "[::1]", "169.254.169.254",
                                  "10.1.2.3", "localhost", "LOCALHOST", "api.localhost"])
def test_refused_hosts(host: str) -> None:
    reason = host_refusal(host)
    assert reason is not None and reason.startswith("refused: ")
    assert "CITEVAULT_ALLOW_PRIVATE_NETWORKS" in reason


@pytest.mark.parametrize("host", ["example.com", "93.184.216.34", "localhost.example.com"])
def test_allowed_hosts(host: str) -> None:
    assert host_refusal(host) is None


def test_resolved_refusal_names_the_host() -> None:
    assert resolved_refusal("intranet.test", "192.168.0.5") == (
        "refused: intranet.test resolves to 192.168.0.5, a private or reserved address "
        "(set CITEVAULT_ALLOW_PRIVATE_NETWORKS=1 to allow private networks)"
    )
    assert resolved_refusal("example.com", "93.184.216.34") is None
