"""The OpenAPI document, the Swagger UI built from local assets, and the service info.

docs/api.md: `/api/v1/schema/` is OpenAPI 3 (`?format=json` gives JSON), `/api/v1/docs/`
is Swagger UI with all assets served locally. docs/security.md, trap 13: no inline scripts,
so the docs page uses the split view whose init script is a separate file.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
import yaml
from openapi_spec_validator import validate

pytestmark = pytest.mark.django_db

DOCS = "/api/v1/docs/"


class AssetParser(HTMLParser):
    """Collects every URL the page makes the browser load, and any inline script."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts: list[str] = []
        self._in_inline_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for attr in ("src", "href", "srcset", "poster", "data"):
            if values.get(attr):
                self.urls.append(values[attr] or "")
        self._in_inline_script = tag == "script" and not values.get("src")
        for name, value in attrs:
            assert not name.startswith("on"), f"inline event handler {name}={value!r}"

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_inline_script = False

    def handle_data(self, data: str) -> None:
        if self._in_inline_script and data.strip():
            self.inline_scripts.append(data)


def assert_same_origin(url: str) -> None:
    parts = urlsplit(url)
    assert not parts.scheme, f"{url} names a scheme (another origin or a javascript: URL)"
    assert not parts.netloc, f"{url} names another host"


def test_schema_is_a_valid_openapi_3_document_in_json(client):
    response = client.get("/api/v1/schema/?format=json")
    assert response.status_code == 200
    assert "json" in response["Content-Type"]
    document = json.loads(response.content)
    assert document["openapi"].startswith("3.")
    validate(document)
    assert "/api/v1/" in document["paths"]


def test_schema_defaults_to_yaml(client):
    response = client.get("/api/v1/schema/")
    assert response.status_code == 200
    document = yaml.safe_load(response.content)
    validate(document)


def test_docs_page_loads_every_asset_from_this_server(client):
    response = client.get(DOCS)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    parser = AssetParser()
    parser.feed(response.content.decode())

    assert parser.inline_scripts == [], "an inline <script> would need 'unsafe-inline'"
    scripts = [url for url in parser.urls if "script" in url or url.endswith(".js")]
    assert any(url.endswith("swagger-ui-bundle.js") for url in scripts)
    assert any("script" in urlsplit(url).query for url in parser.urls), "the split view's init script is missing"
    assert any(url.endswith(".css") for url in parser.urls)

    for url in parser.urls:
        assert_same_origin(url)
        asset = client.get(urljoin(DOCS, url))
        assert asset.status_code == 200, url


def test_docs_init_script_points_only_at_this_server(client):
    parser = AssetParser()
    parser.feed(client.get(DOCS).content.decode())
    (init_url,) = [url for url in parser.urls if "script" in urlsplit(url).query]
    response = client.get(urljoin(DOCS, init_url))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")
    script = response.content.decode()

    assert not re.search(r"""["'`](?:https?:)?//""", script), "the init script names another origin"
    (schema_url,) = re.findall(r'\burl:\s*"([^"]+)"', script)
    assert_same_origin(schema_url)
    schema = client.get(urljoin(DOCS, schema_url))
    assert schema.status_code == 200
    validate(yaml.safe_load(schema.content))


def test_swagger_stylesheet_loads_nothing_from_elsewhere(client):
    parser = AssetParser()
    parser.feed(client.get(DOCS).content.decode())
    (css_url,) = [url for url in parser.urls if url.endswith(".css")]
    css = b"".join(client.get(css_url).streaming_content).decode()
    for reference in re.findall(r"url\(\s*['\"]?([^'\")]+)", css):
        assert reference.startswith("data:") or not urlsplit(reference).netloc, reference


def test_docs_csp_allows_no_inline_or_foreign_scripts(client):
    csp = client.get(DOCS)["Content-Security-Policy"]
    directives = {part.split()[0]: part.split()[1:] for part in csp.split(";") if part.strip()}
    script_src = directives.get("script-src", directives["default-src"])
    assert script_src == ["'self'"]


def test_service_info_names_the_api_and_its_documents(client):
    response = client.get("/api/v1/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["name"] == "atrium"
    assert body["version"]
    assert urlsplit(body["schema"]).path == "/api/v1/schema/"
    assert urlsplit(body["docs"]).path == DOCS
    assert client.get(urlsplit(body["schema"]).path).status_code == 200
