"""What documents sell, and the exact arithmetic that turns line items into taxes, rounding and totals.

Each catalogue row: its description in each of LANGUAGES, how it is counted, and a price range in US dollars
that `price` converts to the document's currency.
"""

import random
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

from trainer.schema.document import money, quantize

LANGUAGES = ("en", "de", "fr", "es", "it", "ja", "ms", "zh", "nl", "pt")
# Rough purchasing-power factors, so prices look plausible in each currency.
USD_TO = {
    "USD": Decimal("1"),
    "GBP": Decimal("0.8"),
    "EUR": Decimal("0.92"),
    "CHF": Decimal("0.9"),
    "JPY": Decimal("150"),
    "INR": Decimal("22"),
    "MYR": Decimal("1.8"),
    "CNY": Decimal("4"),
    "BRL": Decimal("2.6"),
}

SERVICES = [  # invoices: (names per language, unit, low, high)
    (
        (
            "Consulting services",
            "Beratungsleistungen",
            "Prestations de conseil",
            "Servicios de consultoría",
            "Servizi di consulenza",
            "コンサルティング業務",
            "Perkhidmatan perundingan",
            "咨询服务",
            "Adviesdiensten",
            "Serviços de consultoria",
        ),
        "hours",
        80,
        220,
    ),
    (
        (
            "Software development",
            "Softwareentwicklung",
            "Développement logiciel",
            "Desarrollo de software",
            "Sviluppo software",
            "ソフトウェア開発",
            "Pembangunan perisian",
            "软件开发",
            "Softwareontwikkeling",
            "Desenvolvimento de software",
        ),
        "hours",
        60,
        160,
    ),
    (
        (
            "Graphic design",
            "Grafikdesign",
            "Conception graphique",
            "Diseño gráfico",
            "Progettazione grafica",
            "グラフィックデザイン",
            "Reka bentuk grafik",
            "平面设计",
            "Grafisch ontwerp",
            "Design gráfico",
        ),
        "hours",
        45,
        120,
    ),
    (
        (
            "Project management",
            "Projektmanagement",
            "Gestion de projet",
            "Gestión de proyectos",
            "Gestione progetto",
            "プロジェクト管理",
            "Pengurusan projek",
            "项目管理",
            "Projectmanagement",
            "Gestão de projetos",
        ),
        "hours",
        70,
        150,
    ),
    (
        (
            "On-site installation",
            "Installation vor Ort",
            "Installation sur site",
            "Instalación in situ",
            "Installazione in loco",
            "現地設置作業",
            "Pemasangan di tapak",
            "现场安装",
            "Installatie op locatie",
            "Instalação no local",
        ),
        "hours",
        55,
        110,
    ),
    (
        (
            "Translation (per page)",
            "Übersetzung (je Seite)",
            "Traduction (par page)",
            "Traducción (por página)",
            "Traduzione (a pagina)",
            "翻訳（1ページ）",
            "Terjemahan (setiap muka surat)",
            "翻译（每页）",
            "Vertaling (per pagina)",
            "Tradução (por página)",
        ),
        "units",
        20,
        45,
    ),
    (
        (
            "Cloud hosting, monthly",
            "Cloud-Hosting, monatlich",
            "Hébergement cloud, mensuel",
            "Alojamiento en la nube, mensual",
            "Hosting cloud, mensile",
            "クラウドホスティング（月額）",
            "Pengehosan awan, bulanan",
            "云托管（月付）",
            "Cloudhosting, per maand",
            "Hospedagem em nuvem, mensal",
        ),
        "months",
        30,
        400,
    ),
    (
        (
            "Software licence, annual",
            "Softwarelizenz, jährlich",
            "Licence logicielle, annuelle",
            "Licencia de software, anual",
            "Licenza software, annuale",
            "ソフトウェアライセンス（年間）",
            "Lesen perisian, tahunan",
            "软件许可（年度）",
            "Softwarelicentie, per jaar",
            "Licença de software, anual",
        ),
        "units",
        90,
        900,
    ),
    (
        (
            "Office chair",
            "Bürostuhl",
            "Chaise de bureau",
            "Silla de oficina",
            "Sedia da ufficio",
            "オフィスチェア",
            "Kerusi pejabat",
            "办公椅",
            "Bureaustoel",
            "Cadeira de escritório",
        ),
        "units",
        120,
        480,
    ),
    (
        (
            "Laptop stand",
            "Laptopständer",
            "Support pour ordinateur",
            "Soporte para portátil",
            "Supporto per laptop",
            "ノートPCスタンド",
            "Dirian komputer riba",
            "笔记本电脑支架",
            "Laptopstandaard",
            "Suporte para notebook",
        ),
        "units",
        25,
        80,
    ),
    (
        (
            "27-inch monitor",
            "27-Zoll-Monitor",
            "Écran 27 pouces",
            "Monitor de 27 pulgadas",
            "Monitor da 27 pollici",
            "27インチモニター",
            "Monitor 27 inci",
            "27英寸显示器",
            "Monitor 27 inch",
            "Monitor de 27 polegadas",
        ),
        "units",
        180,
        650,
    ),
    (
        (
            "Wireless keyboard",
            "Funktastatur",
            "Clavier sans fil",
            "Teclado inalámbrico",
            "Tastiera wireless",
            "ワイヤレスキーボード",
            "Papan kekunci tanpa wayar",
            "无线键盘",
            "Draadloos toetsenbord",
            "Teclado sem fio",
        ),
        "units",
        30,
        130,
    ),
    (
        (
            "Printer paper A4, box",
            "Druckerpapier A4, Karton",
            "Papier A4, carton",
            "Papel A4, caja",
            "Carta A4, scatola",
            "コピー用紙A4（箱）",
            "Kertas pencetak A4, kotak",
            "A4复印纸（箱）",
            "Printpapier A4, doos",
            "Papel A4, caixa",
        ),
        "units",
        18,
        45,
    ),
    (
        (
            "Toner cartridge",
            "Tonerkartusche",
            "Cartouche de toner",
            "Cartucho de tóner",
            "Cartuccia toner",
            "トナーカートリッジ",
            "Kartrij toner",
            "硒鼓",
            "Tonercartridge",
            "Cartucho de toner",
        ),
        "units",
        45,
        160,
    ),
    (
        (
            "Maintenance contract",
            "Wartungsvertrag",
            "Contrat de maintenance",
            "Contrato de mantenimiento",
            "Contratto di manutenzione",
            "保守契約",
            "Kontrak penyelenggaraan",
            "维护合同",
            "Onderhoudscontract",
            "Contrato de manutenção",
        ),
        "months",
        50,
        300,
    ),
    (
        (
            "Training workshop",
            "Schulung",
            "Atelier de formation",
            "Taller de formación",
            "Workshop di formazione",
            "研修ワークショップ",
            "Bengkel latihan",
            "培训课程",
            "Trainingsworkshop",
            "Workshop de treinamento",
        ),
        "days",
        400,
        1500,
    ),
    (
        (
            "Photography session",
            "Fotoshooting",
            "Séance photo",
            "Sesión fotográfica",
            "Servizio fotografico",
            "写真撮影",
            "Sesi fotografi",
            "摄影服务",
            "Fotoshoot",
            "Sessão de fotos",
        ),
        "hours",
        90,
        250,
    ),
    (
        (
            "Travel expenses",
            "Reisekosten",
            "Frais de déplacement",
            "Gastos de viaje",
            "Spese di viaggio",
            "出張旅費",
            "Perbelanjaan perjalanan",
            "差旅费",
            "Reiskosten",
            "Despesas de viagem",
        ),
        "units",
        40,
        600,
    ),
    (
        (
            "Copywriting",
            "Texterstellung",
            "Rédaction",
            "Redacción de textos",
            "Copywriting",
            "コピーライティング",
            "Penulisan iklan",
            "文案撰写",
            "Copywriting",
            "Redação publicitária",
        ),
        "hours",
        50,
        120,
    ),
    (
        (
            "Network cabling",
            "Netzwerkverkabelung",
            "Câblage réseau",
            "Cableado de red",
            "Cablaggio di rete",
            "ネットワーク配線工事",
            "Pendawaian rangkaian",
            "网络布线",
            "Netwerkbekabeling",
            "Cabeamento de rede",
        ),
        "hours",
        60,
        120,
    ),
]
GROCERIES = [  # receipts
    (
        (
            "Whole milk 1L",
            "Vollmilch 1L",
            "Lait entier 1L",
            "Leche entera 1L",
            "Latte intero 1L",
            "牛乳 1L",
            "Susu segar 1L",
            "全脂牛奶 1L",
            "Volle melk 1L",
            "Leite integral 1L",
        ),
        "units",
        1,
        3,
    ),
    (
        (
            "Sourdough bread",
            "Sauerteigbrot",
            "Pain au levain",
            "Pan de masa madre",
            "Pane a lievitazione naturale",
            "食パン",
            "Roti",
            "面包",
            "Desembrood",
            "Pão de fermentação natural",
        ),
        "units",
        3,
        7,
    ),
    (
        ("Bananas", "Bananen", "Bananes", "Plátanos", "Banane", "バナナ", "Pisang", "香蕉", "Bananen", "Banana prata"),
        "kg",
        1,
        3,
    ),
    (
        ("Tomatoes", "Tomaten", "Tomates", "Tomates", "Pomodori", "トマト", "Tomato", "西红柿", "Tomaten", "Tomate"),
        "kg",
        2,
        6,
    ),
    (
        (
            "Cheddar cheese",
            "Gouda am Stück",
            "Comté affiné",
            "Queso manchego",
            "Parmigiano Reggiano",
            "チーズ",
            "Keju cheddar",
            "奶酪",
            "Goudse kaas",
            "Queijo minas",
        ),
        "units",
        3,
        9,
    ),
    (
        (
            "Eggs, 10 pack",
            "Eier, 10 Stück",
            "Œufs, boîte de 10",
            "Huevos, docena",
            "Uova, confezione da 10",
            "卵 10個入",
            "Telur, 10 biji",
            "鸡蛋 10枚",
            "Eieren, 10 stuks",
            "Ovos, dúzia",
        ),
        "units",
        2,
        5,
    ),
    (
        (
            "Espresso",
            "Espresso",
            "Expresso",
            "Café solo",
            "Caffè espresso",
            "エスプレッソ",
            "Espresso",
            "意式浓缩",
            "Espresso",
            "Café expresso",
        ),
        "units",
        2,
        4,
    ),
    (
        (
            "Cappuccino",
            "Cappuccino",
            "Cappuccino",
            "Capuchino",
            "Cappuccino",
            "カプチーノ",
            "Kapucino",
            "卡布奇诺",
            "Cappuccino",
            "Cappuccino",
        ),
        "units",
        3,
        6,
    ),
    (
        (
            "Croissant",
            "Croissant",
            "Croissant",
            "Cruasán",
            "Cornetto",
            "クロワッサン",
            "Croissant",
            "牛角包",
            "Croissant",
            "Pão de queijo",
        ),
        "units",
        1,
        4,
    ),
    (
        (
            "Orange juice 1L",
            "Orangensaft 1L",
            "Jus d'orange 1L",
            "Zumo de naranja 1L",
            "Succo d'arancia 1L",
            "オレンジジュース 1L",
            "Jus oren 1L",
            "橙汁 1L",
            "Sinaasappelsap 1L",
            "Suco de laranja 1L",
        ),
        "units",
        2,
        5,
    ),
    (
        (
            "Pasta 500g",
            "Nudeln 500g",
            "Pâtes 500g",
            "Pasta 500g",
            "Pasta 500g",
            "パスタ 500g",
            "Pasta 500g",
            "意大利面 500g",
            "Pasta 500g",
            "Macarrão 500g",
        ),
        "units",
        1,
        3,
    ),
    (
        (
            "Olive oil 750ml",
            "Olivenöl 750ml",
            "Huile d'olive 750ml",
            "Aceite de oliva 750ml",
            "Olio d'oliva 750ml",
            "オリーブオイル 750ml",
            "Minyak zaitun 750ml",
            "橄榄油 750ml",
            "Olijfolie 750ml",
            "Azeite 500ml",
        ),
        "units",
        6,
        14,
    ),
    (
        (
            "Ground coffee 250g",
            "Kaffee gemahlen 250g",
            "Café moulu 250g",
            "Café molido 250g",
            "Caffè macinato 250g",
            "コーヒー粉 250g",
            "Serbuk kopi 250g",
            "咖啡粉 250g",
            "Gemalen koffie 250g",
            "Café torrado 500g",
        ),
        "units",
        4,
        9,
    ),
    (
        (
            "Dish soap",
            "Spülmittel",
            "Liquide vaisselle",
            "Lavavajillas",
            "Detersivo piatti",
            "食器用洗剤",
            "Sabun pencuci pinggan",
            "洗洁精",
            "Afwasmiddel",
            "Detergente",
        ),
        "units",
        1,
        4,
    ),
    (
        (
            "Chicken breast",
            "Hähnchenbrust",
            "Blanc de poulet",
            "Pechuga de pollo",
            "Petto di pollo",
            "鶏むね肉",
            "Dada ayam",
            "鸡胸肉",
            "Kipfilet",
            "Peito de frango",
        ),
        "kg",
        7,
        14,
    ),
    (("Apples", "Äpfel", "Pommes", "Manzanas", "Mele", "りんご", "Epal", "苹果", "Appels", "Maçã"), "kg", 2, 5),
    (
        (
            "Sparkling water 6x1.5L",
            "Mineralwasser 6x1,5L",
            "Eau gazeuse 6x1,5L",
            "Agua con gas 6x1,5L",
            "Acqua frizzante 6x1,5L",
            "炭酸水 6本",
            "Air berkarbonat 6x1.5L",
            "苏打水 6x1.5L",
            "Bruiswater 6x1,5L",
            "Água com gás 6x1,5L",
        ),
        "units",
        3,
        7,
    ),
    (
        (
            "Club sandwich",
            "Club-Sandwich",
            "Club sandwich",
            "Sándwich club",
            "Club sandwich",
            "クラブサンド",
            "Sandwic kelab",
            "总汇三明治",
            "Clubsandwich",
            "Sanduíche natural",
        ),
        "units",
        6,
        12,
    ),
    (
        (
            "Chocolate bar",
            "Schokolade",
            "Tablette de chocolat",
            "Tableta de chocolate",
            "Tavoletta di cioccolato",
            "板チョコ",
            "Coklat batang",
            "巧克力",
            "Reep chocolade",
            "Barra de chocolate",
        ),
        "units",
        1,
        4,
    ),
    (
        (
            "Batteries AA, 4 pack",
            "Batterien AA, 4er",
            "Piles AA, lot de 4",
            "Pilas AA, pack de 4",
            "Pile AA, conf. da 4",
            "単3電池 4本",
            "Bateri AA, 4 biji",
            "5号电池 4节",
            "Batterijen AA, 4 stuks",
            "Pilhas AA, 4 unidades",
        ),
        "units",
        4,
        9,
    ),
]


def quantity(rng: random.Random, unit: str, counts: list[int]) -> Decimal:
    """Hours in quarters, weights to the gram, everything else one of `counts`."""
    if unit == "hours":
        return Decimal(rng.randint(2, 160)) / 4
    if unit == "kg":
        return Decimal(rng.randint(150, 2500)) / 1000
    if unit == "days":
        return Decimal(rng.choice([1, 1, 2, 3, 5]))
    return Decimal(rng.choice(counts))


def price(rng: random.Random, low: int, high: int, currency: str) -> Decimal:
    """A plausible price: whole tens of yen, whole 5 Rappen, or cents ending in .00, .50, .95, .99 or anything."""
    value = Decimal(rng.uniform(low, high)).quantize(Decimal("0.01")) * USD_TO[currency]
    if currency == "JPY":
        return Decimal(max(10, int(value / 10) * 10))
    cents = rng.choice(["00", "50", "95", "99", None])
    whole = max(int(value), 1)
    value = Decimal(f"{whole}.{cents}") if cents else quantize(value, currency)
    if currency == "CHF":  # Swiss prices end in 0 or 5 Rappen, the smallest coin: weighed goods and cuts do not
        value = (value / 5).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP) * 5
    return value


# A label's line item, in the schema's order; a line without a discount leaves that key out (the line shows none).
LINE_KEYS = ("description", "quantity", "unit_price", "discount", "amount")
BUSINESS_COUNTS = [1, 1, 1, 2, 2, 3, 4, 5, 6, 10, 12, 20, 25, 50]
SHOP_COUNTS = [1, 1, 1, 1, 2, 2, 3, 4, 6]


def line_items(
    rng: random.Random, catalogue: list, languages: tuple[str, ...], currency: str, count: int, rates: list[str]
) -> list[dict]:
    """`count` catalogue rows, priced, each tagged with a tax rate from `rates`: distinct ones, and beyond the
    catalogue's length repeats (a long shop scans some articles twice, each on its own line). Each is named in
    `languages`, one after the other."""
    counts = SHOP_COUNTS if catalogue is GROCERIES else BUSINESS_COUNTS
    rows = rng.sample(catalogue, min(count, len(catalogue)))
    rows += [rng.choice(catalogue) for _ in range(count - len(rows))]
    items = []
    for names, unit, low, high in rows:
        qty, unit_price = quantity(rng, unit, counts), price(rng, low, high, currency)
        items.append(
            {
                "description": " ".join(names[LANGUAGES.index(language)] for language in languages),
                "quantity": str(qty),
                "unit_price": money(unit_price, currency),
                "amount": money(qty * unit_price, currency),
                "rate": rng.choice(rates),
            }
        )
    return items


def mark_down(rng: random.Random, items: list[dict], currency: str, percents: list[int]):
    """Take a percentage off one or two lines (a markdown, a loyalty deal): the line's amount is then its quantity
    × unit price, rounded, less its discount. A cut that rounds to nothing or to the whole line is not made."""
    for item in rng.sample(items, min(len(items), rng.choice([1, 1, 2]))):
        gross = Decimal(item["amount"])
        cut = quantize(gross * rng.choice(percents) / 100, currency)
        if 0 < cut < gross:
            item["discount"], item["amount"] = money(cut, currency), money(gross - cut, currency)


def settle(
    items: list[dict], discount: Decimal, currency: str, inclusive: bool, extra: Decimal = Decimal(0),
    cash_step: str | None = None,
) -> dict:  # fmt: skip
    """Subtotal, one tax row per rate, the rounding and the total, exact to the minor unit.

    The discount is split across the rates in proportion to their amounts (the last rate takes the rounding
    remainder), so that the rows add up to subtotal − discount exactly: their bases when prices exclude tax, their
    gross (base + tax) when prices include it, the tax then being the part rate / (100 + rate) of that gross.
    With a cash step the total is rounded to it, half up, and the rounding is the difference. A discount or
    rounding of zero is not printed: None.
    """
    subtotal = sum(Decimal(item["amount"]) for item in items)
    by_rate = defaultdict(Decimal)
    for item in items:
        by_rate[item["rate"]] += Decimal(item["amount"])
    rates = sorted(by_rate, key=Decimal)
    taxes, discount_left = [], discount
    for i, rate in enumerate(rates):
        share = discount_left if i == len(rates) - 1 else quantize(discount * by_rate[rate] / subtotal, currency)
        discount_left -= share
        part = by_rate[rate] - share  # this rate's net, or its gross when prices include tax
        if inclusive:
            tax = quantize(part * Decimal(rate) / (100 + Decimal(rate)), currency)
            base = part - tax
        else:
            base, tax = part, quantize(part * Decimal(rate) / 100, currency)
        taxes.append({"rate": rate, "base": money(base, currency), "amount": money(tax, currency)})
    total = subtotal - discount + extra + (0 if inclusive else sum(Decimal(tax["amount"]) for tax in taxes))
    rounding = Decimal(0)
    if cash_step is not None:
        step = Decimal(cash_step)
        rounding = (total / step).quantize(Decimal(1), rounding=ROUND_HALF_UP) * step - total
    return {
        "subtotal": money(subtotal, currency),
        "discount": money(discount, currency) if discount else None,
        "taxes": taxes,
        "rounding": money(rounding, currency) if rounding else None,
        "total": money(total + rounding, currency),
    }


def discount(rng: random.Random, subtotal: Decimal, currency: str, probability: float) -> Decimal:
    """Usually none; otherwise 5–15 % of the subtotal or a round amount."""
    if rng.random() >= probability:
        return Decimal(0)
    if rng.random() < 0.6:
        return quantize(subtotal * Decimal(rng.choice([5, 10, 15])) / 100, currency)
    return min(quantize(subtotal / 10, currency), Decimal(rng.choice([5, 10, 20, 50])) * USD_TO[currency]).quantize(
        Decimal(1)
    )
