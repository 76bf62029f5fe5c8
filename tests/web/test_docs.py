"""/docs and /redoc work offline: every file they load is served by the gateway itself."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from tests.web.conftest import Api


class _Links(HTMLParser):
    """The URLs a page loads: ``src`` and ``href`` attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls.extend(value for name, value in attrs if name in {"src", "href"} and value)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_documentation_loads_nothing_from_elsewhere(api: Api, page: str) -> None:
    response = await api.client.get(page)
    assert response.status_code == 200
    html = response.text
    links = _Links()
    links.feed(html)
    # The page's own scripts name the OpenAPI document in a string ('/openapi.json').
    urls = [*links.urls, *re.findall(r"""['"](/openapi\.json)['"]""", html)]
    assert any(url.endswith(".js") for url in urls)
    assert "/openapi.json" in urls
    assert "//" not in html.replace("http://www.w3.org", "")
    for url in urls:
        assert url.startswith("/"), url
        asset = await api.client.get(url)
        assert asset.status_code == 200, url
        assert asset.content, url


async def test_a_missing_asset_is_a_404(api: Api) -> None:
    response = await api.client.get("/static-offline-docs/nothing.js")
    assert response.status_code == 404
