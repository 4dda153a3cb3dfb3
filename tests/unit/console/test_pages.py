"""The console's pages: everything escaped, nothing fetched from outside the console."""

from __future__ import annotations

import re
from pathlib import Path

from hub.console import pages
from hub.console.accounts import Account
from hub.model.cases import Department
from tests.case_builders import incident

STATIC = Path(pages.__file__).resolve().parent / "static"
ME = Account("t1", "<b>一号街道</b>", Department("TOWNSHIP", "T-CW-1"), "scrypt$1$1$1$a$b")
EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//|url\(\s*["']?(?:https?:)?//|"""
                      r"""@import|fetch\(\s*["'`]https?:""", re.I)


def rendered() -> list[str]:
    inc = incident("inc-<script>", emitted=1_767_225_600_000).to_record()
    case = {"incident_id": inc["incident_id"], "version": 1, "state": "OPEN",
            "level": "TOWNSHIP", "department_code": "T-CW-1", "risk_level": "HIGH",
            "rule_id": "perimeter_breach_entry", "deadline": 1_767_225_900_000,
            "time": 1_767_225_600_000, "escalations": [], "note": "<img src=x>",
            "change": "OPENED", "actor": "op<1>", "action": None}
    return [pages.login("bad <password>"), pages.board(ME, ["rule<1>"]),
            pages.incident(ME, case, [case], inc, notice="<i>sent</i>")]


def test_no_page_or_static_file_loads_anything_from_outside() -> None:
    texts = rendered() + [p.read_text(encoding="utf-8") for p in STATIC.iterdir()]
    for text in texts:
        assert not EXTERNAL.search(text), EXTERNAL.search(text)
    assert EXTERNAL.search('<script src="https://cdn.example/x.js">')  # the check can fail


def test_values_from_records_and_accounts_are_escaped() -> None:
    html = "".join(rendered())
    for raw in ("<script>", "<b>一号街道</b>", "<img src=x>", "<i>sent</i>", "<password>",
                "rule<1>"):
        assert raw not in html
    assert "&lt;b&gt;一号街道&lt;/b&gt;" in html
