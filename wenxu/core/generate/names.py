"""The generated city's own names: what the demo county (wenxu.core.demo_texts) does not have.

The demo county is one county with four townships and twenty units; a city has districts, some
300 streets, thousands of communities and some forty departments. The texts residents write,
the category tree, the departments' duties and the people's names come from the demo county
(`demo_texts`); this module only adds what a city needs beyond it: the city's name, word pools
from which district, street, community, compound, road and landmark names are composed, and the
city departments the county does not have, each taking over some of the county categories.

All names are made up; the division code 3398 names no real prefecture.
"""

from dataclasses import dataclass

from wenxu.organisations.models import Unit

CITY_NAME = "云州市"
CITY_SHORT = "云州"
CITY_CODE = "339800"  # fictional: no prefecture 3398 exists
CITY_CENTRE = (30.2741, 120.1551)  # only used for rough map positions

# One-character words, composed in pairs into place names (uniqueness is per parent).
WORDS = (
    "东西南北中新青金玉龙凤云翠白石清永长天和平安康宁华兴盛丰泰瑞祥福寿春秋夏"
    "松柏桂梅兰竹菊荷桃李杏柳枫樟江河湖海山川溪泉塘湾桥港洲岭峰坪园林苑阳光明"
    "德仁义礼智信文武红星朝霞彩虹锦绣"
)
# District names: a prefix and a suffix, e.g. 东城区, 青山区.
DISTRICT_PREFIXES = "东西南北中新青金玉龙凤云翠白清永长天和临滨高"
DISTRICT_SUFFIXES = ("城区", "湖区", "山区", "江区", "河区", "州区", "阳区", "林区", "桥区", "原区")
# A suburban district's share of streets that are towns (镇) with villages (村).
SUBURBAN_TOWN_SHARE = 0.6
SUBURBAN_DISTRICT_SHARE = 0.3

COMPOUND_SUFFIXES = ("花园", "苑", "小区", "家园", "新村", "华庭", "佳苑", "公寓", "里")
HAMLET_SUFFIXES = ("组", "自然村", "坞", "湾", "畈")
ROAD_SUFFIXES = ("路", "街", "大道", "巷")
URBAN_LANDMARKS = ("小学", "菜市场", "公园", "幼儿园", "中学", "农贸市场", "广场", "体育馆")
RURAL_LANDMARKS = ("村文化礼堂", "村部", "村卫生室", "老年活动中心", "水库", "茶厂", "文化广场")

GRID_LABEL = "第{n}网格"


@dataclass(frozen=True)
class ExtraDepartment:
    """A city department the county lacks; `leaves` are county categories it also handles."""

    slug: str
    name: str  # after the city's name
    short: str
    leaves: tuple[str, ...] = ()
    parent: str = ""  # a county unit slug (demo_texts.UNITS) or another extra department's
    kind: str = Unit.Kind.DEPARTMENT


E = ExtraDepartment
ENTERPRISE = Unit.Kind.ENTERPRISE
EXTRA_DEPARTMENTS: tuple[ExtraDepartment, ...] = (
    E("chengguanwei", "城市管理委员会", "市城管委", ("垃圾清运", "占道经营", "违章搭建")),
    E("huanwei", "环境卫生服务中心", "市环卫中心", ("垃圾清运",), "chengguanwei"),
    E("shizheng", "市政设施管理处", "市政设施处", ("路灯照明", "排水防涝"), "zhujian"),
    E("fangguan", "房屋管理局", "市房管局", ("物业管理", "老旧小区改造", "保障性住房")),
    E("gongjijin", "住房公积金管理中心", "市公积金中心", ("保障性住房",)),
    E("zilaishui", "自来水集团有限公司", "市自来水集团", ("供水",), kind=ENTERPRISE),
    E("paishui", "排水有限公司", "市排水公司", ("排水防涝",), kind=ENTERPRISE),
    E("ranqi", "燃气集团有限公司", "市燃气集团", ("燃气",), kind=ENTERPRISE),
    E("gongjiao", "公共交通集团有限公司", "市公交集团", ("公交客运",), kind=ENTERPRISE),
    E("yunguan", "道路运输管理处", "市运管处", ("公交客运", "农村公路"), "jiaotong"),
    E("gongan", "公安局", "市公安局", ("无证经营", "邻里纠纷")),
    E("yingji", "应急管理局", "市应急管理局", ("地质灾害隐患", "无证经营")),
    E("dizhi", "地质环境监测站", "地质环境监测站", ("地质灾害隐患",), "ziran"),
    E("yuanlin", "园林绿化局", "市园林绿化局", ("农村人居环境",)),
    E("shangwu", "商务局", "市商务局", ("价格与消费", "农业生产")),
    E("yibao", "医疗保障局", "市医保局", ("基层医疗",)),
    E("jikong", "疾病预防控制中心", "市疾控中心", ("疫苗接种",), "weijian"),
    E("canlian", "残疾人联合会", "市残联", ("残疾人帮扶",)),
    E("laoling", "老龄工作委员会办公室", "市老龄办", ("养老服务", "高龄补贴"), "minzheng"),
    E("jiancha", "劳动保障监察支队", "劳动监察支队", ("拖欠工资",), "renshe"),
    E("shebao", "社会保险事业管理中心", "市社保中心", ("社保缴纳", "养老保险"), "renshe"),
    E("jiuye", "公共就业服务中心", "市就业中心", ("就业培训",), "renshe"),
    E("shuili", "水利工程管理处", "市水利工程处", ("农田水利",), "shuiwu"),
    E("nongji", "农业机械化服务中心", "市农机中心", ("农业生产",), "nongye"),
    E("huanjing", "生态环境综合执法支队", "环境执法支队", ("餐饮油烟", "噪声扰民", "企业排污"),
      "shengtai"),
    E("shipin", "食品安全监督所", "市食安监督所", ("食品安全",), "shijian"),
    E("zhaosheng", "教育考试招生中心", "市招生中心", ("入学入园",), "jiaoyu"),
    E("tiyu", "体育局", "市体育局", ("农村人居环境",)),
    E("xinfang", "信访局", "市信访局", ("村务公开",)),
)  # fmt: skip
del E, ENTERPRISE

# County unit names → the city's (wenxu.core.demo_texts.UNITS is written for 青山县).
COUNTY_SHORT_NAMES = {
    "生态环境分局": "市生态环境局",
    "国网青山供电公司": f"国网{CITY_SHORT}供电公司",
}

# Visit kinds for visits that raised needs, and for those that did not (VISIT_SUMMARIES' keys).
VISIT_KINDS_WITH_NEEDS = (("home", 50), ("community", 18), ("forum", 12), ("field", 8),
                          ("enterprise", 7), ("reception", 5))  # fmt: skip
VISIT_KINDS_ALONE = (("home", 55), ("community", 12), ("forum", 10), ("field", 8),
                     ("enterprise", 10), ("phone", 5))  # fmt: skip
MOOD_WEIGHTS = (3, 8, 30, 42, 17)  # 民情温度 1..5
