"""A tweet's author, handle, date and text from its oEmbed JSON, and the title a citation uses."""

from __future__ import annotations

import json

from citevault.tweets import Tweet, tweet_from_oembed


def _oembed(html: str, author: str = "Baghdad Desk", handle: str = "BaghdadDesk") -> bytes:
    return json.dumps({"author_name": author, "author_url": f"https://twitter.com/{handle}",
                       "html": html, "provider_name": "Twitter"}).encode()


def test_tweet_from_oembed() -> None:
    html = ('<blockquote class="twitter-tweet"><p lang="en" dir="ltr">BREAKING: water  main '
            '<a href="https://t.co/x">fails</a></p>&mdash; Baghdad Desk (@BaghdadDesk) '
            '<a href="https://twitter.com/BaghdadDesk/status/1">May 14, 2026</a></blockquote>\n'
            '<script async src="https://platform.twitter.com/widgets.js"></script>')
    tweet = tweet_from_oembed(_oembed(html))
    assert tweet == Tweet("Baghdad Desk", "BaghdadDesk", "May 14, 2026", "BREAKING: water main fails")
    assert tweet.title == "Baghdad Desk (@BaghdadDesk): BREAKING: water main fails"


def test_long_text_is_shortened_in_the_title() -> None:
    tweet = Tweet("A", "a", None, "x" * 500)
    assert len(tweet.title) < 220 and tweet.title.endswith("\u2026")


def test_not_a_tweet() -> None:
    assert tweet_from_oembed(b"not json") is None
    assert tweet_from_oembed(json.dumps({"title": "a video", "html": "<iframe></iframe>"}).encode()) is None
    assert tweet_from_oembed(_oembed("<blockquote><p></p></blockquote>")) is None
