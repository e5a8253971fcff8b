"""The front page tells a visitor what this server is and where to go, in their language."""

from fastapi.testclient import TestClient


def test_front_page_is_the_styled_page_with_a_way_for_each_visitor(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert '<html lang="en">' in page
    assert "/static/app.css" in page  # the app's own look, not bare HTML
    assert "Delphi consensus studies" in page
    assert "personal link from your invitation" in page
    assert 'href="/console"' in page
    assert 'href="/docs"' in page


def test_front_page_speaks_chinese_to_a_chinese_browser(client: TestClient) -> None:
    response = client.get("/", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})
    assert response.status_code == 200
    assert '<html lang="zh-Hans">' in response.text
    assert "请打开邀请邮件中的个人链接" in response.text
    assert "登录管理控制台" in response.text


def test_front_page_language_can_be_chosen_by_link(client: TestClient) -> None:
    chinese = client.get("/?lang=zh-Hans", headers={"Accept-Language": "en"})
    assert '<html lang="zh-Hans">' in chinese.text
    english = client.get("/?lang=en", headers={"Accept-Language": "zh-CN"})
    assert '<html lang="en">' in english.text
    assert 'href="/?lang=zh-Hans"' in english.text
