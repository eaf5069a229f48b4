"""A MediaWiki-like article written for the tests (not copied from any wiki): internal links in the
prose, navigation, categories and files, footnote references with external sources, and an
"External links" section."""

from __future__ import annotations

from tests.fakeweb import FakeWeb

WIKI = "https://wiki.example.test"
ARTICLE = f"{WIKI}/wiki/Harbour_lighthouse"
REFERENCES = [
    "https://www.maritime-records.test/lights/1871-survey.html",
    "https://news.coastal.test/2019/05/lamp-restored",
    "https://doi.example.test/10.1234/lighthouses.42",
]
EXTERNAL_LINKS = ["https://www.harbour-trust.test/lighthouse/", "https://archive.coastal.test/photos"]
INTERNAL = [
    f"{WIKI}/wiki/Lighthouse", f"{WIKI}/wiki/Fresnel_lens", f"{WIKI}/wiki/Category:Lighthouses",
    f"{WIKI}/wiki/File:Harbour_light.jpg", f"{WIKI}/wiki/Special:BookSources/0-000-00000-0",
    f"{WIKI}/w/index.php?title=Harbour_lighthouse&action=edit",
]
SISTER = "https://commons.example.test/wiki/Category:Harbour_lighthouse"

PAGE = f"""<!DOCTYPE html>
<html lang="en" dir="ltr">
<head><meta charset="UTF-8"><title>Harbour lighthouse - Testwiki</title>
<meta name="generator" content="MediaWiki 1.42.0"></head>
<body class="mediawiki ltr sitedir-ltr skin-vector">
<div id="mw-navigation"><ul><li><a href="/wiki/Main_Page">Main page</a></li>
<li><a href="/wiki/Special:Random">Random article</a></li></ul></div>
<div id="content" class="mw-body"><h1 id="firstHeading">Harbour lighthouse</h1>
<div id="mw-content-text" class="mw-body-content"><div class="mw-parser-output">
<p>The harbour <a href="/wiki/Lighthouse" title="Lighthouse">lighthouse</a> was first lit in 1871 and
was fitted with a <a href="/wiki/Fresnel_lens">Fresnel lens</a> a decade later, when the pier was
extended by two hundred metres.<sup class="reference"><a href="#cite_note-1">[1]</a></sup> Its lamp
was restored in 2019.<sup class="reference"><a href="#cite_note-2">[2]</a></sup></p>
<figure><a href="/wiki/File:Harbour_light.jpg" class="mw-file-description">image</a></figure>
<h2><span class="mw-headline" id="References">References</span></h2>
<div class="reflist"><ol class="references">
<li id="cite_note-1"><cite class="citation web"><a rel="nofollow" class="external text"
href="{REFERENCES[0]}">"Survey of harbour lights, 1871"</a>. Maritime Records.</cite></li>
<li id="cite_note-2"><cite class="citation news"><a rel="nofollow" class="external text"
href="{REFERENCES[1]}">"Lamp restored"</a>. <i>Coastal News</i>.
<a href="/wiki/Special:BookSources/0-000-00000-0">ISBN 0-000-00000-0</a></cite></li>
<li id="cite_note-3"><cite class="citation journal"><a class="external text"
href="{REFERENCES[2]}">Lighthouse optics</a>.</cite></li>
</ol></div>
<div class="mw-heading mw-heading2"><h2 id="External_links">External links</h2></div>
<ul><li><a rel="nofollow" class="external text" href="{EXTERNAL_LINKS[0]}">Harbour Trust</a></li>
<li><a rel="nofollow" class="external text" href="{EXTERNAL_LINKS[1]}">Photographs</a></li>
<li><a class="extiw" href="{SISTER}">Media at the commons</a></li></ul>
<div class="navbox"><a class="external text"
href="/w/index.php?title=Harbour_lighthouse&amp;action=edit">edit</a></div>
</div></div>
<div id="catlinks"><a href="/wiki/Category:Lighthouses">Lighthouses</a></div></div>
<div id="footer"><a href="https://www.mediawiki.example.test/">Powered by MediaWiki</a></div>
</body></html>
"""


def add_wiki(fw: FakeWeb) -> None:
    """Register the article and small pages for everything it cites."""
    fw.add(ARTICLE, PAGE)
    for i, url in enumerate(REFERENCES + EXTERNAL_LINKS):
        fw.add(url, f"<html><head><title>Source {i}</title></head><body><p>Source {i}.</p></body></html>")
