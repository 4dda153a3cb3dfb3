"""The door plate's QR code: the PNG's modules are exactly the QR code of the lookup URL.

No pure-Python QR decoder is at hand, so the PNG is read back with Pillow and every pixel is
compared with the module matrix ``qrcode`` makes for the expected URL, built here independently
of hub.buildings.qr (error correction Q, 10 px modules, 4-module quiet zone). A PNG holding any
other URL, level or size fails the comparison; the last test shows it would.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import qrcode
from PIL import Image
from qrcode.constants import ERROR_CORRECT_Q

from hub.buildings.qr import lookup_url, write_qr_png
from hub.cli import main

BOX = 10


def expected_matrix(url: str) -> list[list[bool]]:
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_Q, box_size=BOX, border=4)
    qr.add_data(url)
    qr.make(fit=True)
    return [[bool(c) for c in row] for row in qr.get_matrix()]


def png_modules(path: Path) -> list[list[bool]]:
    """The PNG's modules; asserts that every pixel of a module has the module's colour."""
    image = Image.open(path)
    image.load()
    assert image.format == "PNG"
    gray = image.convert("L")
    width, height = gray.size
    assert width == height and width % BOX == 0
    n = width // BOX
    pixels = gray.load()
    assert pixels is not None
    modules = []
    for r in range(n):
        row = []
        for c in range(n):
            colours = {pixels[c * BOX + dx, r * BOX + dy] < 128
                       for dx in range(BOX) for dy in range(BOX)}
            assert len(colours) == 1, f"module ({r}, {c}) is not one colour"
            row.append(colours.pop())
        modules.append(row)
    return modules


def test_lookup_url_quotes_the_id() -> None:
    assert lookup_url("http://h:1/", "BLDG-1") == "http://h:1/v1/buildings/BLDG-1?channel=QR_SCAN"
    assert lookup_url("https://x", "3号楼/A") == (
        "https://x/v1/buildings/3%E5%8F%B7%E6%A5%BC%2FA?channel=QR_SCAN")
    with pytest.raises(ValueError, match="empty"):
        lookup_url("http://h", " ")


def test_the_png_encodes_the_lookup_url(tmp_path: Path) -> None:
    url = "https://hub.example.gov.cn/v1/buildings/BLDG-00042?channel=QR_SCAN"
    out = tmp_path / "plate.png"
    write_qr_png(url, out)
    assert png_modules(out) == expected_matrix(url)


def test_the_command_uses_the_gateway_address_by_default(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    out = tmp_path / "p.png"
    assert main(["buildings", "qr", "BLDG-7", "--out", str(out)]) == 0
    url = "http://127.0.0.1:8088/v1/buildings/BLDG-7?channel=QR_SCAN"
    assert url in capsys.readouterr().out
    assert png_modules(out) == expected_matrix(url)
    assert main(["buildings", "qr", "BLDG-7", "--out", str(out), "--base-url",
                 "https://plates.example/"]) == 0
    assert png_modules(out) == expected_matrix(
        "https://plates.example/v1/buildings/BLDG-7?channel=QR_SCAN")


def test_bad_arguments_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["buildings", "qr", "B", "--out", str(tmp_path)]) == 2
    assert "--out" in capsys.readouterr().err
    assert main(["buildings", "qr", "B", "--out", str(tmp_path / "p.png"), "--base-url",
                 "hub.example"]) == 2
    assert "--base-url hub.example: give an http:// or https:// URL" in capsys.readouterr().err
    # an outside probe: a 3,000-character id was a qrcode traceback (status 1), and a .jpg
    # name got a PNG under it (status 0)
    assert main(["buildings", "qr", "A" * 3000, "--out", str(tmp_path / "p.png")]) == 2
    assert "at most 128 printable characters" in capsys.readouterr().err
    assert main(["buildings", "qr", "B", "--out", str(tmp_path / "p.jpg")]) == 2
    assert "the plate is a PNG" in capsys.readouterr().err
    assert not (tmp_path / "p.jpg").exists() and not (tmp_path / "p.png").exists()


def test_the_comparison_tells_urls_apart(tmp_path: Path) -> None:
    out = tmp_path / "plate.png"
    write_qr_png(lookup_url("http://h:1", "BLDG-1"), out)
    assert png_modules(out) != expected_matrix(lookup_url("http://h:1", "BLDG-2"))


def test_gateway_base_url_from_settings() -> None:
    from hub.commands.buildings_cmd import gateway_base_url
    from hub.settings import Settings

    assert gateway_base_url(Settings()) == "http://127.0.0.1:8088"
    assert gateway_base_url(Settings(gateway_host="hub.lan", gateway_port=80)) == "http://hub.lan:80"
    assert gateway_base_url(Settings(gateway_host="0.0.0.0")) == "http://127.0.0.1:8088"
    assert gateway_base_url(Settings(gateway_host="::1")) == "http://[::1]:8088"
