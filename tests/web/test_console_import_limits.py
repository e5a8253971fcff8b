"""The import page refuses a file that would cost too much to read, in the coordinator's words."""

import base64
import html
from types import SimpleNamespace

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.services import import_limits
from app.templating import render
from app.web.console.imports import KINDS
from tests.dbstate import dump
from tests.services.test_import_limits import workbook
from tests.web.test_console import csrf, new_study, signed_in

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SAYS = (
    "statements.xlsx has more than 50 columns, empty ones included; delete the columns to the "
    "right of the table."
)


def test_a_costly_workbook_gets_the_import_page_back_with_the_reason(
    session: Session, engine: Engine
) -> None:
    web = signed_in(session)
    study_id = new_study(web)
    url = f"/console/studies/{study_id}/import/statements"
    token = csrf(web.get(f"/console/studies/{study_id}/import").text)
    before = dump(engine)
    bomb = workbook('<row><c r="XFD1"/></row>' * 4_000)  # 1.6 kB; a blank cell in column XFD
    preview = web.post(
        url, data={"csrf_token": token}, files={"file": ("statements.xlsx", bomb, XLSX)}
    )
    assert preview.status_code == 422
    assert SAYS in html.unescape(preview.text)
    carried = web.post(  # the confirm step, with the file carried back by the form
        url,
        data={
            "csrf_token": token,
            "action": "import",
            "filename": "statements.xlsx",
            "content": base64.b64encode(bomb).decode(),
        },
    )
    assert carried.status_code == 422
    assert SAYS in html.unescape(carried.text)
    assert dump(engine) == before


def test_the_refusal_reads_in_chinese_on_a_chinese_page() -> None:
    study = SimpleNamespace(id=1, title="运动与神经病理性疼痛", groups=[], languages=["zh-Hans"])
    refusal = import_limits.Refused(import_limits.COLUMNS, name="陈述.xlsx", limit="50")
    response = render(
        "console/import.html",
        {"study": study, "kinds": KINDS, "refusal": refusal, "csrf": "", "me": None},
        language="zh-Hans",
    )
    page = bytes(response.body).decode()
    assert "陈述.xlsx 超过 50 列（空列也计算在内）；请删除表格右侧的列。" in page
