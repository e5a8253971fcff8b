"""The API docs come from this server: a network that blocks CDNs still shows them."""

import re

import pytest
from fastapi.testclient import TestClient


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_api_docs_load_every_file_from_this_server(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert "/openapi.json" in response.text
    files = re.findall(r'(?:src|href)="([^"]+)"', response.text)
    assert files  # the page names its script and style
    assert all(f.startswith("/") for f in files), files  # nothing from another host
    for url in files:
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 0
    csp = response.headers["content-security-policy"]
    assert "http" not in csp  # the docs' policy admits no other host either


def test_swagger_ui_bundle_is_a_current_release(client: TestClient) -> None:
    """FastAPI's schema is OpenAPI 3.1, which Swagger UI renders from release 5 on."""
    bundle = client.get("/docs/assets/swagger-ui-bundle.js")
    assert bundle.status_code == 200
    assert "javascript" in bundle.headers["content-type"]
    assert client.get("/openapi.json").json()["openapi"].startswith("3.1")
