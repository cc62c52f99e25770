"""Avatars come only from allowed places: files in the persona files' folder or the data folder
(symlinks and `..` resolved first), https:// URLs on PERSONAE_AVATAR_HOSTS, inline data: images."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from personae.settings import Settings

from .live import LiveServer, start_server

SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>'
ALLOWED_HOST = "img.example.com"


def _persona(slug: str, avatar: str) -> str:
    return f"id: {slug}\nname: {slug}\ngreeting: hi\navatar: '{avatar}'\n"


@pytest.fixture(scope="module")
def outside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("elsewhere") / "secret.svg"
    path.write_bytes(SVG.replace(b"/>", b"><!-- secret --></svg>"))
    return path


@pytest.fixture(scope="module")
def pictured(tmp_path_factory: pytest.TempPathFactory, outside: Path) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("pictured")
    folder = home.parent / f"{home.name}-personas"
    folder.mkdir()
    (folder / "me.svg").write_bytes(SVG)
    (folder / "link.svg").symlink_to(outside)
    avatars = {
        "own-file": "me.svg",
        "absolute-elsewhere": str(outside),
        "symlinked-out": "link.svg",
        "plain-http": "http://img.example.com/a.png",
        "allowed-https": f"https://{ALLOWED_HOST}/a.png",
        "other-https": "https://evil.example/a.png",
    }
    for slug, avatar in avatars.items():
        (folder / f"{slug}.yaml").write_text(_persona(slug, avatar), encoding="utf-8")
    settings = Settings(
        home=home, engine="scripted", admin_token="t", load_samples=False,
        personas_dir=folder, avatar_hosts=ALLOWED_HOST,
    )  # fmt: skip
    server = start_server(settings)
    yield server
    server.stop()


def _avatar(server: LiveServer, slug: str) -> httpx.Response:
    return httpx.get(f"{server.url}/web/personas/{slug}/avatar", follow_redirects=False)


def test_files_outside_the_allowed_folders_are_not_served(pictured: LiveServer) -> None:
    own = _avatar(pictured, "own-file")
    assert own.status_code == 200 and own.content == SVG
    for slug in ("absolute-elsewhere", "symlinked-out"):
        refused = _avatar(pictured, slug)
        assert refused.status_code == 404, (slug, refused.text)
        assert "may serve" in refused.json()["error"]["message"]


def test_only_https_urls_on_allowed_hosts_are_linked(pictured: LiveServer) -> None:
    allowed = _avatar(pictured, "allowed-https")
    assert allowed.is_redirect and allowed.headers["location"] == f"https://{ALLOWED_HOST}/a.png"
    for slug in ("plain-http", "other-https"):
        assert _avatar(pictured, slug).status_code == 404, slug
    cards = httpx.get(f"{pictured.url}/web/personas").json()["personas"]
    linked = {card["avatar_url"] for card in cards}
    assert not any("evil.example" in url or url.startswith("http:") for url in linked)


@pytest.mark.parametrize(
    ("avatar", "says"),
    [
        ("{outside}", "outside the allowed folders"),
        ("{home}/../{outside_name}", "outside the allowed folders"),
        ("http://img.example.com/a.png", "https://"),
        ("https://evil.example/a.png", "PERSONAE_AVATAR_HOSTS"),
        ("relative.svg", "absolute path"),
        ("{home}/personae.db", "image file"),
    ],
)
def test_api_refuses_a_persona_whose_avatar_is_not_allowed(
    pictured: LiveServer, outside: Path, avatar: str, says: str
) -> None:
    home = pictured.settings.home
    avatar = avatar.format(
        outside=outside, home=home, outside_name=Path(outside.parent.name) / outside.name
    )
    body = {"id": "posted", "name": "Posted", "greeting": "hi", "avatar": avatar}
    headers = {"Authorization": "Bearer t"}
    answer = httpx.post(f"{pictured.url}/api/personas", json=body, headers=headers)
    assert answer.status_code == 422, answer.text
    problem = answer.json()["error"]["problems"][0]
    assert problem["location"] == "avatar" and says in problem["message"], problem


def test_api_accepts_an_avatar_in_the_data_folder(pictured: LiveServer) -> None:
    image = pictured.settings.home / "avatars" / "posted-ok.svg"
    image.parent.mkdir(exist_ok=True)
    image.write_bytes(SVG)
    body = {"id": "posted-ok", "name": "Posted", "greeting": "hi", "avatar": str(image)}
    headers = {"Authorization": "Bearer t"}
    created = httpx.post(f"{pictured.url}/api/personas", json=body, headers=headers)
    assert created.status_code == 201, created.text
    assert _avatar(pictured, "posted-ok").content == SVG
