"""The expert import file: CSV, UTF-8 (a byte-order mark is allowed), one expert per row.

The first row names the columns, in any order; unknown column names are refused.

| column | required | form |
|---|---|---|
| ``expert_id`` | no | the centre's number for the expert; empty: the system makes ``EXP-0000123`` |
| ``name`` | yes | 1–100 characters |
| ``id_number`` | yes | 18-character resident identity card number (checked; stored encrypted) |
| ``employer_code`` | no | the employer's unified social credit code |
| ``employer_name`` | no | |
| ``specialties`` | yes | codes separated by ``;`` — compact ``A030201`` or dotted ``A.03.02.01`` |
| ``region`` | yes | region code, e.g. ``330500`` |
| ``title`` | no | e.g. 高级工程师 |
| ``experience_years`` | no | integer, default 0 |
| ``status`` | no | ``active`` (default), ``suspended``, ``retired`` |
| ``suspended_until`` | no | ``YYYY-MM-DD`` (a suspended expert; empty: indefinitely) |
| ``unavailable_dates`` | no | dates separated by ``;`` |
| ``relations`` | no | ties separated by ``;``, each ``kind|org_code|start|end|relationship|relative_name`` (the trailing fields optional; kind: employment, director, control, economic_interest, relative) |
| ``sanctions`` | no | separated by ``;``, each ``kind|start|end|note`` (kind: tendering_penalty, judgment_defaulter, disqualified) |
| ``phone`` | no | digits, optional leading ``+`` |
| ``email`` | no | |
| ``language`` | no | ``zh`` (default) or ``en``: the language of the summons |

``read_csv`` reads every row and returns the experts it could read and the problems, each
with the row's line number in the file and the column; the service then checks the
content and refuses the whole file if anything is wrong.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date

from experts.pool import ExpertInput, FieldProblem, RelationInput, SanctionInput
from experts.service import RowProblem

__all__ = ["COLUMNS", "MAX_ROWS", "REQUIRED", "read_csv", "write_csv"]

COLUMNS = (
    "expert_id",
    "name",
    "id_number",
    "employer_code",
    "employer_name",
    "specialties",
    "region",
    "title",
    "experience_years",
    "status",
    "suspended_until",
    "unavailable_dates",
    "relations",
    "sanctions",
    "phone",
    "email",
    "language",
)
REQUIRED = ("name", "id_number", "specialties", "region")
MAX_ROWS = 200_000
MAX_CELL_CHARS = 5_000


class _Row:
    """Reads the cells of one row, collecting problems instead of raising."""

    def __init__(self, line: int, cells: dict[str, str]) -> None:
        self.line = line
        self.cells = cells
        self.problems: list[RowProblem] = []

    def bad(self, column: str, code: str, en: str, zh: str) -> None:
        self.problems.append(RowProblem(self.line, FieldProblem(column, code, en, zh)))

    def text(self, column: str) -> str:
        return self.cells.get(column, "").strip()

    def date_of(self, column: str, text: str) -> date | None:
        if not text:
            return None
        try:
            return date.fromisoformat(text)
        except ValueError:
            self.bad(
                column,
                "invalid_date",
                f"{text!r} is not a date like 2026-03-10",
                f"{text!r} 不是形如 2026-03-10 的日期",
            )
            return None

    def integer(self, column: str, default: int) -> int:
        text = self.text(column)
        if not text:
            return default
        if not (text.isascii() and text.lstrip("-").isdigit()) or len(text) > 4:
            self.bad(
                column, "invalid_integer", f"{text!r} is not a whole number", f"{text!r} 不是整数"
            )
            return default
        return int(text)

    def items(self, column: str) -> list[str]:
        return [x.strip() for x in self.text(column).split(";") if x.strip()]


def _relations(row: _Row) -> tuple[RelationInput, ...]:
    out: list[RelationInput] = []
    for item in row.items("relations"):
        parts = [p.strip() for p in item.split("|")]
        if len(parts) < 2 or len(parts) > 6:
            row.bad("relations", "invalid_relation", f"{item!r}: write kind|org_code|start|end|relationship|name",
                    f"{item!r}：格式应为 类型|单位代码|开始|结束|关系|姓名")  # fmt: skip
            continue
        parts += [""] * (6 - len(parts))
        kind, org, start, end, relationship, relative_name = parts
        out.append(
            RelationInput(
                kind,
                org,
                "",
                row.date_of("relations", start),
                row.date_of("relations", end),
                relative_name,
                relationship,
            )  # fmt: skip
        )
    return tuple(out)


def _sanctions(row: _Row) -> tuple[SanctionInput, ...]:
    out: list[SanctionInput] = []
    for item in row.items("sanctions"):
        parts = [p.strip() for p in item.split("|")]
        if len(parts) < 2 or len(parts) > 4:
            row.bad("sanctions", "invalid_sanction", f"{item!r}: write kind|start|end|note",
                    f"{item!r}：格式应为 类型|开始|结束|说明")  # fmt: skip
            continue
        parts += [""] * (4 - len(parts))
        kind, start, end, note = parts
        begin = row.date_of("sanctions", start)
        if begin is None:
            if start == "":
                row.bad(
                    "sanctions",
                    "missing",
                    f"{item!r}: the start date is missing",
                    f"{item!r}：缺少开始日期",
                )
            continue
        out.append(SanctionInput(kind, begin, row.date_of("sanctions", end), note))
    return tuple(out)


def _expert(row: _Row) -> ExpertInput:
    unavailable = tuple(
        d
        for d in (row.date_of("unavailable_dates", x) for x in row.items("unavailable_dates"))
        if d
    )
    return ExpertInput(
        expert_id=row.text("expert_id") or None,
        name=row.text("name"),
        id_number=row.text("id_number"),
        employer_code=row.text("employer_code") or None,
        employer_name=row.text("employer_name"),
        specialties=tuple(row.items("specialties")),
        region=row.text("region"),
        title=row.text("title"),
        experience_years=row.integer("experience_years", 0),
        status=row.text("status") or "active",
        suspended_until=row.date_of("suspended_until", row.text("suspended_until")),
        unavailable_dates=unavailable,
        relations=_relations(row),
        sanctions=_sanctions(row),
        phone=row.text("phone"),
        email=row.text("email"),
        language=row.text("language") or "zh",
    )


def _file_problem(code: str, en: str, zh: str) -> RowProblem:
    return RowProblem(1, FieldProblem("file", code, en, zh))


def read_csv(data: bytes) -> tuple[list[tuple[int, ExpertInput]], list[RowProblem]]:
    """The experts of an import file, each with its line number, and every problem found."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return [], [_file_problem("not_utf8", f"the file is not UTF-8 text (byte {exc.start})",
                                  f"文件不是 UTF-8 文本（第{exc.start}字节）")]  # fmt: skip
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        return [], [_file_problem("empty", "the file is empty", "文件为空")]
    except csv.Error as exc:
        return [], [
            _file_problem(
                "malformed_csv", f"the header row cannot be read: {exc}", f"无法读取标题行：{exc}"
            )
        ]
    names = [h.strip().lower() for h in header]
    problems: list[RowProblem] = []
    unknown = [n for n in names if n not in COLUMNS]
    if unknown:
        problems.append(_file_problem("unknown_column", f"unknown columns: {', '.join(unknown)}",
                                      f"未知列：{', '.join(unknown)}"))  # fmt: skip
    missing = [n for n in REQUIRED if n not in names]
    if missing:
        problems.append(_file_problem("missing_column", f"missing columns: {', '.join(missing)}",
                                      f"缺少列：{', '.join(missing)}"))  # fmt: skip
    if len(set(names)) != len(names):
        problems.append(_file_problem("duplicate_column", "a column is named twice", "列名重复"))
    if problems:
        return [], problems
    rows: list[tuple[int, ExpertInput]] = []
    count = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(
                RowProblem(
                    reader.line_num, FieldProblem("row", "malformed_csv", f"{exc}", f"{exc}")
                )
            )
            break
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        count += 1
        if count > MAX_ROWS:
            problems.append(RowProblem(line, FieldProblem("file", "too_many_rows", f"at most {MAX_ROWS:,} rows per file",
                                                          f"每个文件最多{MAX_ROWS}行")))  # fmt: skip
            break
        row = _Row(line, {})
        if len(cells) != len(names):
            row.bad("row", "wrong_cell_count", f"{len(cells)} cells, the header has {len(names)}",
                    f"该行{len(cells)}个单元格，标题行有{len(names)}个")  # fmt: skip
            problems.extend(row.problems)
            continue
        if any(len(c) > MAX_CELL_CHARS for c in cells):
            row.bad(
                "row",
                "cell_too_long",
                f"a cell is over {MAX_CELL_CHARS} characters",
                f"单元格超过{MAX_CELL_CHARS}个字符",
            )
            problems.extend(row.problems)
            continue
        row.cells = dict(zip(names, cells, strict=True))
        expert = _expert(row)
        if row.problems:
            problems.extend(row.problems)
        else:
            rows.append((line, expert))
    return rows, problems


def _join_dates(dates: Iterable[date]) -> str:
    return ";".join(d.isoformat() for d in dates)


def write_csv(experts: Sequence[ExpertInput]) -> str:
    """The import file of ``experts`` (the demo and the benchmark write their pools so)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(COLUMNS)
    for e in experts:
        rel = ";".join(
            "|".join([r.kind, r.org, r.start.isoformat() if r.start else "", r.end.isoformat() if r.end else "",
                      r.relationship, r.relative_name]).rstrip("|")
            for r in e.relations
        )  # fmt: skip
        san = ";".join(
            "|".join(
                [s.kind, s.start.isoformat(), s.end.isoformat() if s.end else "", s.note]
            ).rstrip("|")
            for s in e.sanctions
        )
        w.writerow([
            e.expert_id or "", e.name, e.id_number, e.employer_code or "", e.employer_name, ";".join(e.specialties),
            e.region, e.title, e.experience_years, e.status,
            e.suspended_until.isoformat() if e.suspended_until else "", _join_dates(e.unavailable_dates),
            rel, san, e.phone, e.email, e.language,
        ])  # fmt: skip
    return out.getvalue()
