"""A site built the modern way, for browser capture tests: an article shell whose text comes from
a gzip-encoded JSON API, a hero image inserted by script, a lazy image loaded only when scrolled
into view, two citations inserted by script, an embedded tweet rendered by a widgets script from
a JSON endpoint, an ad iframe; a tweet status page that is a script shell fed by an API; and a
plain HTML article that needs no browser."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit

from tests.fakeweb import FakeRequest, FakeWeb

__all__ = ["ModernSite", "build_modern_site"]

# A 1x1 GIF: image bytes that any browser decodes.
GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
JS = "application/javascript; charset=utf-8"
JSON_CT = "application/json; charset=utf-8"

TWEET_ID = "1790000000000000001"
TWEET_TEXT = "BREAKING: water authority confirms the main line to the old city has failed"
TWEET_AUTHOR, TWEET_HANDLE, TWEET_DATE = "Baghdad Desk", "BaghdadDesk", "May 14, 2026"


@dataclass
class ModernSite:
    """The URLs tests check."""

    article: str
    api_json: str
    hero: str
    lazy: str
    cited: list[str]
    tweet: str
    tweet_api: str
    tweet_oembed: str
    widgets_json: str
    ad_frame: str
    plain_article: str
    article_text: str


_SHELL = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>Modern Times</title><link rel="stylesheet" href="/static/app.css">
<script src="/static/app.js" defer></script></head>
<body><noscript>Please enable JavaScript to read this article.</noscript>
<div id="root"></div></body></html>"""

_APP_JS = """
(async function () {
  const root = document.getElementById('root');
  const res = await fetch('/api/articles/42.json?v=' + Date.now());
  const doc = await res.json();
  const art = document.createElement('article');
  art.innerHTML = '<h1>' + doc.headline + '</h1>' +
    '<img id="hero" src="' + doc.hero + '" alt="hero">' +
    doc.paragraphs.map(p => '<p>' + p + '</p>').join('') +
    '<p>Sources: <a href="' + doc.sources[0] + '">the ministry report</a> and ' +
    '<a href="' + doc.sources[1] + '">the wire story</a>.</p>' +
    '<blockquote class="twitter-tweet"><p>Loading tweet</p>' +
    '<a href="' + doc.tweet + '">tweet</a></blockquote>' +
    '<div style="height: 3000px"></div>' +
    '<img id="lazy" data-src="' + doc.lazy + '" alt="lazy">';
  root.appendChild(art);
  const ad = document.createElement('iframe');
  ad.src = 'https://ads.adnet.test/slot?size=300x250';
  document.body.appendChild(ad);
  const lazy = document.getElementById('lazy');
  new IntersectionObserver((entries, obs) => {
    for (const e of entries) {
      if (e.isIntersecting) { lazy.src = lazy.dataset.src; obs.disconnect(); }
    }
  }).observe(lazy);
  const w = document.createElement('script');
  w.src = 'https://platform.twitter.com/widgets.js';
  document.head.appendChild(w);
})();
"""

_WIDGETS_JS = """
(async function () {
  for (const bq of document.querySelectorAll('blockquote.twitter-tweet')) {
    const link = bq.querySelector('a[href*="/status/"]');
    const id = link.href.split('/status/')[1].split('?')[0];
    const res = await fetch('https://cdn.syndication.twimg.com/tweet-result?id=' + id + '&lang=en');
    const t = await res.json();
    const p = bq.querySelector('p');
    p.textContent = t.text + ' \u2014 ' + t.user.name + ' (@' + t.user.screen_name + ')';
  }
})();
"""

_TWEET_SHELL = """<!DOCTYPE html><html dir="ltr" lang="en"><head><meta charset="utf-8">
<title>X</title><script src="https://abs.twimg.com/responsive-web/client-web/main.js"></script>
</head><body><noscript>JavaScript is not available.</noscript><div id="react-root"></div></body></html>"""

_TWEET_MAIN_JS = """
(async function () {
  const id = location.pathname.split('/status/')[1];
  const res = await fetch('https://api.twitter.com/graphql/x1/TweetResultByRestId?tweetId=' + id);
  const t = await res.json();
  document.title = t.user.name + ' on X: "' + t.text + '"';
  const root = document.getElementById('react-root');
  root.innerHTML = '<article><div>' + t.user.name + ' @' + t.user.screen_name + '</div>' +
    '<div data-testid="tweetText">' + t.text + '</div><time>' + t.created_at + '</time></article>';
})();
"""


def _page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f"</head><body><main><article><h1>{title}</h1>{body}</article></main></body></html>")


def build_modern_site(fw: FakeWeb) -> ModernSite:
    """Register the site's routes on `fw`."""
    base = "https://modern.test"
    article = f"{base}/2026/05/14/water-crisis"
    tweet = f"https://twitter.com/{TWEET_HANDLE}/status/{TWEET_ID}"
    cited = ["https://ministry.gov.test/reports/water-2026", "https://wire.test/2026/05/14/water-main"]
    paragraphs = [
        "Residents of the old city queued for water for a third day on Thursday.",
        "Engineers said the main line had corroded beyond repair after decades without maintenance.",
    ]
    doc = {
        "headline": "Old city without water as main line fails",
        "hero": f"{base}/img/hero.gif",
        "lazy": f"{base}/img/lazy-chart.gif",
        "paragraphs": paragraphs,
        "sources": cited,
        "tweet": tweet,
    }
    tweet_json = {
        "id_str": TWEET_ID, "text": TWEET_TEXT, "created_at": TWEET_DATE,
        "user": {"name": TWEET_AUTHOR, "screen_name": TWEET_HANDLE},
    }
    fw.add(article, _SHELL)
    fw.add(f"{base}/static/app.css", "body { font-family: serif; }", content_type="text/css")
    fw.add(f"{base}/static/app.js", _APP_JS, content_type=JS)
    fw.add(f"{base}/api/articles/42.json", json.dumps(doc), content_type=JSON_CT, gzip=True,
           match_any_query=True)
    fw.add(doc["hero"], GIF, content_type="image/gif")
    fw.add(doc["lazy"], GIF, content_type="image/gif")
    fw.add("https://ads.adnet.test/slot", "<html><body>ad</body></html>", match_any_query=True)
    fw.add("https://platform.twitter.com/widgets.js", _WIDGETS_JS, content_type=JS)
    fw.add("https://cdn.syndication.twimg.com/tweet-result", json.dumps(tweet_json),
           content_type=JSON_CT, match_any_query=True)
    text = " ".join(["The ministry published its annual report on the water network."] * 8)
    fw.add(cited[0], _page("Water network report 2026", f"<p>{text}</p>"))
    fw.add(cited[1], _page("Main line fails in old city", f"<p>{text}</p>"))
    fw.add(tweet, _TWEET_SHELL, match_any_query=True)
    fw.add("https://abs.twimg.com/responsive-web/client-web/main.js", _TWEET_MAIN_JS, content_type=JS)
    tweet_api = "https://api.twitter.com/graphql/x1/TweetResultByRestId?" + urlencode({"tweetId": TWEET_ID})
    fw.add(tweet_api, json.dumps(tweet_json), content_type=JSON_CT)
    oembed_doc = {
        "url": tweet, "author_name": TWEET_AUTHOR, "author_url": f"https://twitter.com/{TWEET_HANDLE}",
        "html": f'<blockquote class="twitter-tweet"><p lang="en" dir="ltr">{TWEET_TEXT}</p>&mdash; '
                f'{TWEET_AUTHOR} (@{TWEET_HANDLE}) <a href="{tweet}">{TWEET_DATE}</a></blockquote>',
        "type": "rich", "provider_name": "Twitter", "provider_url": "https://twitter.com", "version": "1.0",
    }

    def oembed(req: FakeRequest) -> str | None:
        target = dict(parse_qsl(urlsplit(req.url).query)).get("url", "").split("?")[0]
        return json.dumps(oembed_doc) if target == tweet else None

    fw.add("https://publish.twitter.com/oembed", oembed, content_type=JSON_CT, match_any_query=True)
    plain = f"{base}/2026/05/13/plain-report"
    long_text = " ".join(["The council met on Wednesday to discuss the budget for the coming year."] * 10)
    cite = f'<p>See <a href="{cited[0]}">the report</a>.</p>'
    fw.add(plain, _page("Council debates budget", f"<p>{long_text}</p>{cite}"))
    return ModernSite(
        article=article, api_json=f"{base}/api/articles/42.json", hero=doc["hero"], lazy=doc["lazy"],
        cited=cited, tweet=tweet, tweet_api=tweet_api,
        tweet_oembed="https://publish.twitter.com/oembed?" + urlencode({"url": tweet}),
        widgets_json=f"https://cdn.syndication.twimg.com/tweet-result?id={TWEET_ID}&lang=en",
        ad_frame="https://ads.adnet.test/slot?size=300x250", plain_article=plain,
        article_text=paragraphs[1],
    )


def add_hanging_page(fw: FakeWeb, cited: str) -> str:
    """A script shell whose script never returns (a hung page), citing `cited` in its HTML."""
    url = "https://modern.test/2026/05/15/hangs"
    fw.add(url, '<!DOCTYPE html><html><head><title>Hangs</title></head><body><main><article>'
           f'<p>Officials said on Thursday that <a href="{cited}">the report</a> was late.</p>'
           "</article></main><script>for (;;) {}</script></body></html>")
    return url


def add_metadata_probe(fw: FakeWeb) -> str:
    """A script shell whose script asks for the cloud metadata address (the policy refuses it)."""
    url = "https://modern.test/2026/05/16/probe"
    fw.add(url, '<!DOCTYPE html><html><head><title>Probe</title></head><body><div id="app"></div>'
           "<script>fetch('http://169.254.169.254/latest/meta-data/').catch(() => {});</script>"
           "</body></html>")
    return url


def add_copies(fw: FakeWeb, n: int, *, shell: bool) -> list[str]:
    """`n` more article pages for benchmarks: script shells like the modern article (same scripts,
    API and images), or plain HTML articles that need no browser."""
    urls = []
    text = " ".join(["The council met on Wednesday to discuss the budget for the coming year."] * 10)
    for i in range(n):
        url = f"https://modern.test/bench/{'shell' if shell else 'plain'}/{i}"
        fw.add(url, _SHELL if shell else _page(f"Council report {i}", f"<p>{text}</p>"))
        urls.append(url)
    return urls
