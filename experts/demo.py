"""Demo expert pool: 320 experts, generated deterministically (fixed seed), under the demo
centre's specialties and four regions, some tied to the demo tenderee, bidders and
supervising department so that a draw shows every kind of exclusion. The demo user
``expert1`` (许建国) is linked to ``DEMO-0001``. Idempotent: an existing pool is kept.
"""

from __future__ import annotations

import json
import random
from datetime import date, timedelta

from experts import service, store
from experts.model.ids import is_valid_id_number
from experts.pool import ExpertInput, RelationInput, SanctionInput
from experts.vault import PoolKeys
from trading.demo import DemoContext, demo_credit_code

__all__ = ["POOL_SIZE", "demo_experts", "demo_id_number", "load"]

POOL_SIZE = 320
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾萧田董潘袁蔡蒋余于杜叶程魏苏吕丁任沈姚卢钟姜崔谭陆范汪廖石金韦贾夏付方邹熊白孟秦邱侯江尹薛闫段雷龙黎史陶贺毛郝顾龚邵万钱严覃武戴莫孔向汤"
GIVEN = ["建国", "国强", "海燕", "志明", "秀英", "立新", "文华", "晓东", "丽萍", "卫东", "红梅", "永刚", "春华",
         "明辉", "雪梅", "振华", "玉兰", "德胜", "静怡", "宏伟", "子涵", "浩然", "思远", "雅琴", "俊杰", "晨曦"]  # fmt: skip
TITLES = [
    "高级工程师",
    "正高级工程师",
    "教授级高级工程师",
    "高级经济师",
    "高级会计师",
    "副教授",
    "教授",
    "注册造价工程师",
]
# (code, share of the pool)
SPECIALTIES = [
    ("A030101", 28), ("A030102", 28), ("A030201", 34), ("A030202", 22), ("A0303", 20), ("A0201", 16),
    ("A0202", 16), ("A0101", 20), ("A0102", 10), ("A0401", 12), ("C0101", 14), ("C0102", 18), ("C04", 40),
    ("C05", 14), ("C06", 8), ("B0201", 10), ("C02", 10),
]  # fmt: skip
REGIONS = [("330500", 55), ("330100", 20), ("330400", 15), ("330200", 10)]
EMPLOYERS = [
    ("南太湖交通规划设计院", 901), ("苕溪大学土木工程学院", 902), ("吴兴建设监理有限公司", 903),
    ("浙北工程造价咨询有限公司", 904), ("钱塘路桥检测中心", 905), ("甬江水利勘测设计院", 906),
    ("禾城会计师事务所", 907), ("西湖信息工程有限公司", 908),
]  # fmt: skip


def demo_id_number(region6: str, born: date, seq: int) -> str:
    """A well-formed (checksummed) but fictitious identity card number."""
    first17 = f"{region6}{born:%Y%m%d}{seq % 1000:03d}"
    total = sum(int(c) * w for c, w in zip(first17, _WEIGHTS, strict=True))
    number = first17 + _CHECK[total % 11]
    assert is_valid_id_number(number)
    return number


def _pick(rng: random.Random, weighted: list[tuple[str, int]]) -> str:
    return rng.choices([x for x, _ in weighted], weights=[w for _, w in weighted])[0]


def demo_experts(org_codes: dict[str, str], sitting: date) -> list[ExpertInput]:
    """The demo pool. ``org_codes``: demo organisation key → credit code; ``sitting``: the
    date of the example draw (a few experts declare themselves unavailable that day)."""
    rng = random.Random(20260105)
    out: list[ExpertInput] = []
    for n in range(1, POOL_SIZE + 1):
        region = _pick(rng, REGIONS)
        codes = [_pick(rng, SPECIALTIES)]
        if rng.random() < 0.2:
            second = _pick(rng, SPECIALTIES)
            if second != codes[0]:
                codes.append(second)
        employer_name, emp_n = rng.choice(EMPLOYERS)
        fields: dict[str, object] = {
            "employer_code": demo_credit_code(emp_n),
            "employer_name": employer_name,
        }
        name = rng.choice(SURNAMES) + rng.choice(GIVEN)
        born = date(1958, 1, 1) + timedelta(days=rng.randrange(365 * 30))
        # the conflicts the example draw will find (E3), by expert number
        if n == 1:
            name, codes, region = "许建国", ["A030201", "A0302"], "330500"
        elif n in (2, 3, 4, 5):
            fields |= {
                "employer_code": org_codes["bidder_a"],
                "employer_name": "浙江宏远建设集团有限公司",
            }
        elif n in (6, 7, 8):
            fields |= {
                "employer_code": org_codes["tenderee"],
                "employer_name": "湖州市交通投资集团有限公司",
            }
        elif n in (9, 10):
            fields["relations"] = (RelationInput("relative", org_codes["bidder_b"], "湖州市路桥建设有限公司",
                                                 relationship="spouse", relative_name="配偶（项目经理）"),)  # fmt: skip
        elif n in (11, 12):
            fields["relations"] = (RelationInput("employment", org_codes["bidder_c"], "德清县交通工程有限公司",
                                                 date(2016, 3, 1), date(2024, 6, 30)),)  # fmt: skip
        elif n == 13:  # left bidder_d in 2019: outside the three-year look-back, not excluded
            fields["relations"] = (RelationInput("employment", org_codes["bidder_d"], "长兴县恒达建设有限公司",
                                                 date(2012, 1, 1), date(2019, 12, 31)),)  # fmt: skip
        elif n == 14:
            fields["relations"] = (RelationInput("director", org_codes["bidder_d"], "长兴县恒达建设有限公司",
                                                 date(2021, 1, 1), None),)  # fmt: skip
        elif n in (15, 16):
            fields |= {
                "employer_code": org_codes["supervisor_dept"],
                "employer_name": "湖州市发展和改革委员会",
            }
        elif n in (17, 18, 19):
            fields |= {"status": "suspended", "suspended_until": sitting + timedelta(days=90)}
        elif n in (20, 21):
            fields["status"] = "retired"
        elif n in (22, 23):
            fields["sanctions"] = (SanctionInput("tendering_penalty", date(2025, 9, 1), date(2027, 8, 31),
                                                 "评标中未按规定打分"),)  # fmt: skip
        elif n == 24:
            fields["sanctions"] = (
                SanctionInput("judgment_defaulter", date(2025, 11, 1), None, "失信被执行人"),
            )
        elif n in (25, 26, 27):
            fields["unavailable_dates"] = (sitting,)
        if n <= 27:
            codes = codes if n == 1 else [rng.choice(["A030101", "A030201", "A0303", "C04"])]
            region = "330500" if n != 1 else region
        out.append(
            ExpertInput(
                expert_id=f"DEMO-{n:04d}",
                name=name,
                id_number=demo_id_number(region, born, n),
                specialties=tuple(codes),
                region=region,
                title=rng.choice(TITLES),
                experience_years=rng.randrange(8, 36),
                phone=f"1390572{n:04d}",
                email=f"expert{n:04d}@experts.example",
                **fields,  # type: ignore[arg-type]
            )
        )
    return out


async def load(ctx: DemoContext) -> None:
    keys = PoolKeys.load_or_create(ctx.data_dir)
    local_today = ctx.now.date()
    sitting = local_today + timedelta(days=7)
    async with ctx.pool.acquire() as conn:
        codes = {
            key: await conn.fetchval("SELECT credit_code FROM organisations WHERE id = $1", oid)
            for key, oid in ctx.orgs.items()
        }
        if not await store.existing_expert_ids(conn, ["DEMO-0001"]):
            rows = [(i, e) for i, e in enumerate(demo_experts(codes, sitting), start=1)]
            await service.import_experts(
                conn, ctx.audit, ctx.actor, ctx.now, keys, rows, source="demo"
            )
            ctx.lines.append(f"Expert pool: {POOL_SIZE} demo experts (DEMO-0001 … DEMO-{POOL_SIZE:04d}), "
                             "27 of them tied to the demo parties, suspended, sanctioned or unavailable")  # fmt: skip
        else:
            ctx.lines.append("Expert pool: demo experts present")
        user_id = ctx.users.get("expert1")
        entry = await service.get_entry(conn, "DEMO-0001")
        if (
            user_id is not None
            and entry.user_id is None
            and await store.expert_of_user(conn, user_id) is None
        ):
            await service.link_user(conn, ctx.audit, ctx.actor, ctx.now, "DEMO-0001", user_id)
    request = {
        "tender_ref": "HZJT-2026-001",
        "tenderee_org_id": ctx.orgs["tenderee"],
        "bidder_org_ids": [ctx.orgs[k] for k in ("bidder_a", "bidder_b", "bidder_c", "bidder_d")],
        "supervising_org_ids": [ctx.orgs["supervisor_dept"]],
        "demands": [
            {"code": "A03", "count": 4, "region_rule": {"scope": "any", "regions": []}},
            {"code": "C04", "count": 1},
        ],
        "evaluation_date": sitting.isoformat(),
        "evaluation_time": "09:00",
        "evaluation_place": "湖州市公共资源交易中心 3号评标室",
    }
    path = ctx.data_dir / "demo-draw-request.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(request, ensure_ascii=False, indent=1), encoding="utf-8")
    ctx.lines.append(
        f"Expert draw: expert1 is 许建国 (DEMO-0001). To draw a panel, log in as staff1 and "
        f"POST /api/v1/draws with the body in {path} (4 highway + 1 cost experts, {sitting}), then "
        "POST /api/v1/draws/{id}/run; summons go to the server log. Walk-through: docs/experts.md"
    )
