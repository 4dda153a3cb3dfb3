"""The door plate's QR code: a PNG that opens the building's card when scanned.

The code holds the lookup URL ``{base}/v1/buildings/{id}?channel=QR_SCAN`` (hub/edge/lookup.py),
so a scan is counted as a QR_SCAN lookup. Drawn with ``qrcode`` and written by its pure-Python
PNG writer (``pypng``), so the same bytes come out with or without Pillow installed. Error
correction level Q (25 % of the code may be lost) because plates hang outdoors and get dirty or
scratched; the 4-module quiet zone is the one the QR standard asks for.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

#: Pixels per QR module: a 300 px code for a short URL, crisp when printed at 3 cm or more.
BOX_SIZE = 10
#: Quiet zone in modules (ISO/IEC 18004 asks for 4).
BORDER = 4
LOOKUP_PATH = "/v1/buildings/"


def lookup_url(base_url: str, building_id: str, channel: str = "QR_SCAN") -> str:
    """The URL a plate encodes; the id is percent-encoded (ids may hold '/', '#' or Chinese)."""
    if not building_id.strip():
        raise ValueError("the building id is empty; give the id of the card, e.g. BLDG-00001")
    return f"{base_url.rstrip('/')}{LOOKUP_PATH}{quote(building_id, safe='')}?channel={channel}"


def _make(data: str) -> object:
    import qrcode
    from qrcode.constants import ERROR_CORRECT_Q
    from qrcode.image.pure import PyPNGImage

    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_Q, box_size=BOX_SIZE, border=BORDER,
                       image_factory=PyPNGImage)
    qr.add_data(data)
    qr.make(fit=True)
    return qr


def qr_matrix(data: str) -> list[list[bool]]:
    """The code's modules, quiet zone included (True: dark), as :func:`write_qr_png` draws
    them; a test compares the PNG's pixels with this."""
    qr = _make(data)
    return [[bool(cell) for cell in row] for row in qr.get_matrix()]  # type: ignore[attr-defined]


def write_qr_png(data: str, out: Path | str) -> int:
    """Write the QR code of ``data`` to ``out`` as PNG; its width in pixels."""
    qr = _make(data)
    image = qr.make_image()  # type: ignore[attr-defined]
    with open(out, "wb") as handle:
        image.save(handle)
    return int(image.pixel_size)
