"""What differs between the countries documents come from: currency, tax rates, tax ids, whether shop prices include
tax, cash rounding, and the words printed.

Money, number and date formats are Babel's (CLDR), never hand-written; only the document vocabulary lives here.
"""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from functools import cache

from babel import Locale
from babel.dates import format_date, format_time, get_date_format
from babel.numbers import format_currency, format_decimal, format_percent

from trainer.schema.document import minor_units, money, quantize

from .fonts import CJK


@dataclass(frozen=True)
class Country:
    locale: str  # Faker and Babel locale, e.g. "de_DE"
    currency: str
    tax_rates: tuple[str, ...]  # standard rate first; the others are reduced rates
    tax_id: str  # Faker bothify pattern of the vendor's VAT/tax registration id
    language: str
    # Shops print gross prices with the tax they hold (VAT countries, Japan); US shops add sales tax at the till.
    # Invoices are business to business everywhere: net prices, tax on top.
    receipts_include_tax: bool = True
    cash_step: str | None = None  # the smallest coin a cash total is rounded to, half up
    cash_receipts_rounded: float = 0.0  # share of receipts paid in cash that round to it
    invoices_rounded: float = 0.0  # share of invoices that round their total to it
    # The taxes one rate is levied as, each at an equal part of it, printed under its row (India's GST: half as
    # central, half as state tax). The label keeps the rate's row: the parts are printed, not labelled.
    tax_parts: tuple[str, ...] = ()
    # Second languages a share of documents print beside the first (MIXED): bilingual headings and item names.
    mixed: tuple[str, ...] = ()
    second: str | None = None  # the one this document prints, if any

    @property
    def languages(self) -> tuple[str, ...]:
        return (self.language, self.second) if self.second else (self.language,)


MIXED = 0.4  # share of documents from a country with second languages that print one


COUNTRIES = {
    c.locale: c
    for c in (
        Country("en_US", "USD", ("8.875", "7.25", "6", "4.5"), "##-#######", "en", receipts_include_tax=False),
        Country("en_GB", "GBP", ("20", "5"), "GB### #### ##", "en"),
        Country("de_DE", "EUR", ("19", "7"), "DE#########", "de"),
        Country("fr_FR", "EUR", ("20", "10", "5.5"), "FR## #########", "fr"),
        Country("es_ES", "EUR", ("21", "10", "4"), "ES?########", "es"),
        # Italy stopped minting 1 and 2 cent coins in 2018; shops may round cash totals to 5 cents, and many do.
        Country("it_IT", "EUR", ("22", "10", "4"), "IT###########", "it", cash_step="0.05", cash_receipts_rounded=0.5),
        # Switzerland's smallest coin is 5 Rappen: cash is always rounded to it, and many firms round invoices too.
        Country(
            "de_CH",
            "CHF",
            ("8.1", "2.6"),
            "CHE-###.###.### MWST",
            "de",
            cash_step="0.05",
            cash_receipts_rounded=1.0,
            invoices_rounded=0.3,
        ),
        Country("ja_JP", "JPY", ("10", "8"), "T#############", "ja"),
        # GST slabs since September 2025; the GSTIN is state, PAN, entity, Z and a check character. Shop prices
        # (MRP) include it; many bills round the total to the rupee ("Round off").
        Country(
            "en_IN",
            "INR",
            ("18", "5"),
            "##?????####?1Z?",
            "en",
            cash_step="1",
            cash_receipts_rounded=0.5,
            invoices_rounded=0.4,
            tax_parts=("CGST", "SGST"),
        ),
        # Service tax (SST) is charged on top at the till; cash totals round to 5 sen (Bank Negara's rounding
        # mechanism); receipts mix Malay with English and, in Chinese-run shops, Chinese.
        Country(
            "ms_MY",
            "MYR",
            ("8", "6"),
            "?##-####-########",
            "ms",
            receipts_include_tax=False,
            cash_step="0.05",
            cash_receipts_rounded=1.0,
            mixed=("en", "zh"),
        ),
        # VAT (增值税) at 13 %, 6 % on services (invoices) and 9 % on farm produce (receipts); the unified social credit
        # code is 18 characters.
        Country("zh_CN", "CNY", ("13", "6", "9"), "91######MA#?##?#?X", "zh", mixed=("en",)),
        # Dutch shops round cash totals to 5 cents.
        Country("nl_NL", "EUR", ("21", "9"), "NL#########B##", "nl", cash_step="0.05", cash_receipts_rounded=0.9),
        # ICMS at the common state rates; the id is the firm's CNPJ.
        Country("pt_BR", "BRL", ("18", "12", "7"), "##.###.###/0001-##", "pt"),
    )
}

# The words a document prints, per language. "{days}", "{tax}" and "{rates}" are filled in; "net_0" is "due on
# receipt"; "tax_included" heads a till slip's table of the tax its gross prices hold; "honorific" follows a
# company's name where the language wants one (Japanese 御中); the first payment method is cash.
WORDS = {
    "en": dict(
        invoice="INVOICE",
        receipt="RECEIPT",
        currency="Currency",
        honorific="",
        invoice_number="Invoice No.",
        issue_date="Invoice date",
        due_date="Due date",
        bill_to="Bill to",
        description="Description",
        quantity="Qty",
        unit_price="Unit price",
        price="Price",
        amount="Amount",
        subtotal="Subtotal",
        discount="Discount",
        tax="Tax",
        rate="Rate",
        taxable="Net amount",
        shipping="Shipping",
        rounding="Rounding",
        tax_excluded="All prices exclude tax",
        tax_included="Tax included",
        net_amount="Net",
        gross="Gross",
        total="Total",
        payment_terms="Payment terms",
        net="Net {days} days",
        net_0="Due on receipt",
        tax_id="Tax ID",
        phone="Tel.",
        email="Email",
        date="Date",
        time="Time",
        paid_by="Paid by",
        base="on",
        item="Item",
        thanks="Thank you for your business!",
        order_no="Your order no.",
        deliver_to="Deliver to",
        notes="Notes",
        terms="Terms and conditions",
        terms_text="Goods remain our property until paid in full. Late payments bear interest at 8 % above the base rate. Claims must be made in writing within 14 days of delivery.",
        registry="Registered in England and Wales No. {number} · Registered office: {city}",
        pay_qr="Scan to pay",
        thanks_receipt="Thank you for shopping with us!",
        change="Change",
        points="Points earned",
        saving="Multi-buy saving",
        page="Page {page} of {pages}",
        continued="Continued on next page",
        bank="Bank details",
        position="No.",
        payment=("Cash", "Visa", "Mastercard", "Debit card", "Apple Pay"),
    ),
    "de": dict(
        invoice="RECHNUNG",
        receipt="KASSENBON",
        currency="Währung",
        honorific="",
        invoice_number="Rechnungsnr.",
        issue_date="Rechnungsdatum",
        due_date="Fällig am",
        bill_to="Rechnung an",
        description="Beschreibung",
        quantity="Menge",
        unit_price="Einzelpreis",
        price="Preis",
        amount="Betrag",
        subtotal="Zwischensumme",
        discount="Rabatt",
        tax="MwSt.",
        rate="Satz",
        taxable="Netto",
        shipping="Versand",
        rounding="Rundung",
        tax_excluded="Alle Preise zzgl. MwSt.",
        tax_included="{tax} {rates} enthalten",
        net_amount="Netto",
        gross="Brutto",
        total="Gesamtbetrag",
        payment_terms="Zahlungsbedingungen",
        net="Zahlbar innerhalb von {days} Tagen",
        net_0="Sofort zahlbar ohne Abzug",
        tax_id="USt-IdNr.",
        phone="Tel.",
        email="E-Mail",
        date="Datum",
        time="Uhrzeit",
        paid_by="Bezahlt mit",
        base="auf",
        item="Artikel",
        thanks="Vielen Dank für Ihren Auftrag!",
        order_no="Ihre Bestellnr.",
        deliver_to="Lieferanschrift",
        notes="Hinweise",
        terms="Allgemeine Geschäftsbedingungen",
        terms_text="Die Ware bleibt bis zur vollständigen Bezahlung unser Eigentum. Bei Zahlungsverzug berechnen wir Verzugszinsen von 9 Prozentpunkten über dem Basiszinssatz. Reklamationen sind innerhalb von 14 Tagen schriftlich anzuzeigen.",
        registry="Amtsgericht {city} HRB {number} · Geschäftsführung: {person}",
        pay_qr="Mit der Banking-App bezahlen",
        thanks_receipt="Vielen Dank für Ihren Einkauf!",
        change="Rückgeld",
        points="Bonuspunkte",
        saving="Mengenrabatt",
        page="Seite {page} von {pages}",
        continued="Fortsetzung auf der nächsten Seite",
        bank="Bankverbindung",
        position="Pos.",
        payment=("Bar", "EC-Karte", "Visa", "Mastercard", "Girocard"),
    ),
    "fr": dict(
        invoice="FACTURE",
        receipt="TICKET DE CAISSE",
        currency="Devise",
        honorific="",
        invoice_number="Facture n°",
        issue_date="Date de facture",
        due_date="Échéance",
        bill_to="Facturé à",
        description="Désignation",
        quantity="Qté",
        unit_price="Prix unitaire",
        price="Prix",
        amount="Montant",
        subtotal="Sous-total",
        discount="Remise",
        tax="TVA",
        rate="Taux",
        taxable="Base HT",
        shipping="Frais de port",
        rounding="Arrondi",
        tax_excluded="Prix hors taxes",
        tax_included="dont {tax} {rates}",
        net_amount="HT",
        gross="TTC",
        total="Total TTC",
        payment_terms="Conditions de paiement",
        net="Paiement à {days} jours",
        net_0="Payable à réception",
        tax_id="N° TVA",
        phone="Tél.",
        email="E-mail",
        date="Date",
        time="Heure",
        paid_by="Payé par",
        base="sur",
        item="Article",
        thanks="Merci de votre confiance !",
        order_no="Votre commande n°",
        deliver_to="Adresse de livraison",
        notes="Remarques",
        terms="Conditions générales de vente",
        terms_text="Pénalités de retard : trois fois le taux d'intérêt légal. Indemnité forfaitaire pour frais de recouvrement : 40 €. Pas d'escompte pour paiement anticipé.",
        registry="SAS au capital de 10 000 € · RCS {city} {number} · Gérant : {person}",
        pay_qr="Payer avec votre appli bancaire",
        thanks_receipt="Merci de votre visite !",
        change="Rendu monnaie",
        points="Points fidélité",
        saving="Remise lot",
        page="Page {page} sur {pages}",
        continued="Suite page suivante",
        bank="Coordonnées bancaires",
        position="N°",
        payment=("Espèces", "Carte bancaire", "Visa", "Chèque"),
    ),
    "es": dict(
        invoice="FACTURA",
        receipt="TICKET",
        currency="Moneda",
        honorific="",
        invoice_number="Factura n.º",
        issue_date="Fecha de factura",
        due_date="Vencimiento",
        bill_to="Facturar a",
        description="Descripción",
        quantity="Cant.",
        unit_price="Precio unitario",
        price="Precio",
        amount="Importe",
        subtotal="Subtotal",
        discount="Descuento",
        tax="IVA",
        rate="Tipo",
        taxable="Base imponible",
        shipping="Envío",
        rounding="Redondeo",
        tax_excluded="Precios sin IVA",
        tax_included="{tax} incluido",
        net_amount="Base",
        gross="Total",
        total="Total",
        payment_terms="Condiciones de pago",
        net="Pago a {days} días",
        net_0="Pago al contado",
        tax_id="NIF",
        phone="Tel.",
        email="Correo",
        date="Fecha",
        time="Hora",
        paid_by="Pagado con",
        base="sobre",
        item="Artículo",
        thanks="¡Gracias por su confianza!",
        order_no="Su pedido n.º",
        deliver_to="Dirección de entrega",
        notes="Observaciones",
        terms="Condiciones generales",
        terms_text="La mercancía sigue siendo de nuestra propiedad hasta su pago completo. Los pagos atrasados devengarán el interés legal de demora. Las reclamaciones deben hacerse por escrito en un plazo de 14 días.",
        registry="Inscrita en el Registro Mercantil de {city}, hoja {number} · Administrador: {person}",
        pay_qr="Pague con su app bancaria",
        thanks_receipt="¡Gracias por su compra!",
        change="Cambio",
        points="Puntos acumulados",
        saving="Ahorro promoción",
        page="Página {page} de {pages}",
        continued="Continúa en la página siguiente",
        bank="Datos bancarios",
        position="N.º",
        payment=("Efectivo", "Tarjeta", "Visa", "Bizum"),
    ),
    "it": dict(
        invoice="FATTURA",
        receipt="SCONTRINO",
        currency="Valuta",
        honorific="",
        invoice_number="Fattura n.",
        issue_date="Data fattura",
        due_date="Scadenza",
        bill_to="Intestata a",
        description="Descrizione",
        quantity="Q.tà",
        unit_price="Prezzo unitario",
        price="Prezzo",
        amount="Importo",
        subtotal="Subtotale",
        discount="Sconto",
        tax="IVA",
        rate="Aliquota",
        taxable="Imponibile",
        shipping="Spedizione",
        rounding="Arrotondamento",
        tax_excluded="Prezzi IVA esclusa",
        tax_included="{tax} inclusa",
        net_amount="Imponibile",
        gross="Totale",
        total="Totale",
        payment_terms="Termini di pagamento",
        net="Pagamento a {days} giorni",
        net_0="Pagamento a vista",
        tax_id="P. IVA",
        phone="Tel.",
        email="E-mail",
        date="Data",
        time="Ora",
        paid_by="Pagato con",
        base="su",
        item="Articolo",
        thanks="Grazie per la fiducia!",
        order_no="Vostro ordine n.",
        deliver_to="Indirizzo di consegna",
        notes="Note",
        terms="Condizioni generali di vendita",
        terms_text="La merce resta di nostra proprietà fino al completo pagamento. In caso di ritardato pagamento si applicano gli interessi di mora ai sensi del D.Lgs. 231/2002. Eventuali reclami vanno comunicati per iscritto entro 8 giorni.",
        registry="Registro Imprese di {city} n. {number} · Capitale sociale € 10.000 i.v. · Amministratore: {person}",
        pay_qr="Paga con la tua app bancaria",
        thanks_receipt="Grazie e arrivederci!",
        change="Resto",
        points="Punti fedeltà",
        saving="Sconto quantità",
        page="Pagina {page} di {pages}",
        continued="Segue alla pagina successiva",
        bank="Coordinate bancarie",
        position="N.",
        payment=("Contanti", "Bancomat", "Carta di credito"),
    ),
    "ja": dict(
        invoice="請求書",
        receipt="領収書",
        currency="通貨",
        honorific="御中",
        invoice_number="請求書番号",
        issue_date="請求日",
        due_date="お支払期限",
        bill_to="ご請求先",
        description="品目",
        quantity="数量",
        unit_price="単価",
        price="単価",
        amount="金額",
        subtotal="小計",
        discount="値引き",
        tax="消費税",
        rate="税率",
        taxable="対象額",
        shipping="送料",
        rounding="端数調整",
        tax_excluded="表示価格は税抜です",
        tax_included="（内{tax}）",
        net_amount="税抜",
        gross="税込",
        total="合計",
        payment_terms="お支払条件",
        net="請求日から{days}日以内",
        net_0="受領時払い",
        tax_id="登録番号",
        phone="TEL",
        email="Email",
        date="日付",
        time="時刻",
        paid_by="お支払方法",
        base="対象",
        item="品名",
        thanks="今後ともよろしくお願い申し上げます。",
        order_no="ご注文番号",
        deliver_to="お届け先",
        notes="備考",
        terms="取引条件",
        terms_text="代金完済まで商品の所有権は当社に帰属します。お支払期日を過ぎた場合は年14.6%の遅延損害金を申し受けます。納品後7日以内に書面にてご連絡ください。",
        registry="法人番号 {number} ・ 代表取締役 {person}",
        pay_qr="QRコードでお支払い",
        thanks_receipt="ご来店ありがとうございました",
        change="お釣り",
        points="ポイント",
        saving="まとめ買い割引",
        page="{page} / {pages}",
        continued="次ページへ続く",
        bank="振込先",
        position="No.",
        payment=("現金", "クレジットカード", "交通系IC", "QRコード決済"),
    ),
    "ms": dict(
        invoice="INVOIS",
        receipt="RESIT",
        currency="Mata wang",
        honorific="",
        invoice_number="No. Invois",
        issue_date="Tarikh invois",
        due_date="Tarikh akhir",
        bill_to="Bil kepada",
        description="Perihal",
        quantity="Kuantiti",
        unit_price="Harga seunit",
        price="Harga",
        amount="Amaun",
        subtotal="Jumlah kecil",
        discount="Diskaun",
        tax="SST",
        rate="Kadar",
        taxable="Nilai bercukai",
        shipping="Penghantaran",
        rounding="Pelarasan",
        tax_excluded="Harga tidak termasuk SST",
        tax_included="Termasuk {tax} {rates}",
        net_amount="Bersih",
        gross="Kasar",
        total="Jumlah",
        payment_terms="Terma pembayaran",
        net="Bayaran dalam {days} hari",
        net_0="Bayar semasa terima",
        tax_id="No. SST",
        phone="Tel.",
        email="E-mel",
        date="Tarikh",
        time="Masa",
        paid_by="Dibayar dengan",
        base="atas",
        item="Barang",
        thanks="Terima kasih atas urusan anda!",
        order_no="No. pesanan anda",
        deliver_to="Alamat penghantaran",
        notes="Catatan",
        terms="Terma dan syarat",
        terms_text="Barang yang telah dijual tidak boleh dipulangkan. Hak milik barang kekal pada kami sehingga bayaran penuh diterima. Sebarang tuntutan hendaklah dibuat secara bertulis dalam tempoh 7 hari.",
        registry="No. Pendaftaran Syarikat {number} · Alamat berdaftar: {city}",
        pay_qr="Imbas untuk bayar",
        thanks_receipt="Terima kasih, sila datang lagi!",
        change="Baki",
        points="Mata ganjaran",
        saving="Jimat promosi",
        page="Muka surat {page} daripada {pages}",
        continued="Bersambung di muka surat seterusnya",
        bank="Butiran bank",
        position="Bil.",
        payment=("Tunai", "Kad debit", "Visa", "Touch 'n Go eWallet", "DuitNow QR"),
    ),
    "zh": dict(
        invoice="发票",
        receipt="购物小票",
        currency="币种",
        honorific="",
        invoice_number="发票号码",
        issue_date="开票日期",
        due_date="付款期限",
        bill_to="购买方",
        description="项目名称",
        quantity="数量",
        unit_price="单价",
        price="单价",
        amount="金额",
        subtotal="小计",
        discount="折扣",
        tax="增值税",
        rate="税率",
        taxable="计税金额",
        shipping="运费",
        rounding="抹零",
        tax_excluded="以上单价均不含税",
        tax_included="含{tax} {rates}",
        net_amount="不含税",
        gross="含税",
        total="价税合计",
        payment_terms="付款条件",
        net="开票后{days}天内付款",
        net_0="见票即付",
        tax_id="纳税人识别号",
        phone="电话",
        email="邮箱",
        date="日期",
        time="时间",
        paid_by="支付方式",
        base="计税",
        item="商品",
        thanks="感谢您的惠顾！",
        order_no="订单号",
        deliver_to="收货地址",
        notes="备注",
        terms="合同条款",
        terms_text="货款付清前货物所有权归本公司所有。逾期付款按日万分之五收取滞纳金。如有质量问题请于收货后七日内书面提出。",
        registry="工商注册号 {number} · 法定代表人 {person}",
        pay_qr="扫码付款",
        thanks_receipt="谢谢惠顾，欢迎再次光临！",
        change="找零",
        points="本次积分",
        saving="多买优惠",
        page="第 {page} 页 共 {pages} 页",
        continued="接下页",
        bank="开户行及账号",
        position="序号",
        payment=("现金", "微信支付", "支付宝", "银联卡"),
    ),
    "nl": dict(
        invoice="FACTUUR",
        receipt="KASSABON",
        currency="Valuta",
        honorific="",
        invoice_number="Factuurnummer",
        issue_date="Factuurdatum",
        due_date="Vervaldatum",
        bill_to="Factuur aan",
        description="Omschrijving",
        quantity="Aantal",
        unit_price="Stukprijs",
        price="Prijs",
        amount="Bedrag",
        subtotal="Subtotaal",
        discount="Korting",
        tax="BTW",
        rate="Tarief",
        taxable="Grondslag",
        shipping="Verzendkosten",
        rounding="Afronding",
        tax_excluded="Alle prijzen excl. BTW",
        tax_included="Incl. {tax} {rates}",
        net_amount="Excl.",
        gross="Incl.",
        total="Totaal",
        payment_terms="Betalingsvoorwaarden",
        net="Betaling binnen {days} dagen",
        net_0="Direct opeisbaar",
        tax_id="BTW-nr.",
        phone="Tel.",
        email="E-mail",
        date="Datum",
        time="Tijd",
        paid_by="Betaald met",
        base="over",
        item="Artikel",
        thanks="Bedankt voor uw opdracht!",
        order_no="Uw ordernummer",
        deliver_to="Afleveradres",
        notes="Opmerkingen",
        terms="Algemene voorwaarden",
        terms_text="De geleverde zaken blijven ons eigendom tot volledige betaling. Bij te late betaling is de wettelijke handelsrente verschuldigd. Klachten dienen binnen 8 dagen na levering schriftelijk te worden gemeld.",
        registry="KvK {number} · Vestigingsplaats {city}",
        pay_qr="Scan en betaal",
        thanks_receipt="Bedankt en tot ziens!",
        change="Wisselgeld",
        points="Spaarpunten",
        saving="Actiekorting",
        page="Pagina {page} van {pages}",
        continued="Vervolg op de volgende pagina",
        bank="Bankgegevens",
        position="Nr.",
        payment=("Contant", "PIN", "Maestro", "Visa", "Contactloos"),
    ),
    "pt": dict(
        invoice="FATURA",
        receipt="CUPOM FISCAL",
        currency="Moeda",
        honorific="",
        invoice_number="Fatura nº",
        issue_date="Data de emissão",
        due_date="Vencimento",
        bill_to="Cliente",
        description="Descrição",
        quantity="Qtd.",
        unit_price="Valor unit.",
        price="Preço",
        amount="Valor",
        subtotal="Subtotal",
        discount="Desconto",
        tax="ICMS",
        rate="Alíquota",
        taxable="Base de cálculo",
        shipping="Frete",
        rounding="Arredondamento",
        tax_excluded="Valores sem impostos",
        tax_included="{tax} incluso {rates}",
        net_amount="Base",
        gross="Total",
        total="Total",
        payment_terms="Condições de pagamento",
        net="Pagamento em {days} dias",
        net_0="Pagamento à vista",
        tax_id="CNPJ",
        phone="Tel.",
        email="E-mail",
        date="Data",
        time="Hora",
        paid_by="Forma de pagamento",
        base="sobre",
        item="Item",
        thanks="Obrigado pela preferência!",
        order_no="Seu pedido nº",
        deliver_to="Endereço de entrega",
        notes="Observações",
        terms="Condições gerais",
        terms_text="A mercadoria permanece de nossa propriedade até o pagamento integral. Em caso de atraso incidem multa de 2 % e juros de 1 % ao mês. Reclamações devem ser feitas por escrito em até 7 dias.",
        registry="Inscrição estadual {number} · Sede: {city} · Responsável: {person}",
        pay_qr="Pague com Pix",
        thanks_receipt="Obrigado e volte sempre!",
        change="Troco",
        points="Pontos acumulados",
        saving="Leve mais, pague menos",
        page="Página {page} de {pages}",
        continued="Continua na próxima página",
        bank="Dados bancários",
        position="Item",
        payment=("Dinheiro", "Pix", "Cartão de débito", "Cartão de crédito"),
    ),
}


# Where a country's documents say it otherwise than its language's.
LOCAL_WORDS = {
    "en_US": dict(tax="Sales tax", tax_excluded="All prices exclude sales tax"),
    "en_GB": dict(tax="VAT", tax_id="VAT No.", tax_included="VAT included", tax_excluded="All prices exclude VAT"),
    "en_IN": dict(
        invoice="TAX INVOICE",
        tax="GST",
        tax_id="GSTIN",
        tax_included="GST included",
        tax_excluded="All prices exclude GST",
        rounding="Round off",
        registry="CIN {number} · Regd. office: {city}",
        payment=("Cash", "UPI", "Card", "Paytm", "RuPay"),
    ),
    "de_CH": dict(
        tax="MWST",
        tax_id="MWST-Nr.",
        tax_included="inkl. {tax} {rates}",
        tax_excluded="Alle Preise exkl. MWST",
        payment=("Bar", "Maestro", "PostFinance Card", "TWINT", "Visa", "Mastercard"),
    ),
}


# The headings a mixed document prints in both languages, the first one's first: `合计 Total`, `Jumlah / Total`.
BILINGUAL = (
    "invoice", "receipt", "invoice_number", "issue_date", "due_date", "bill_to", "description", "quantity",
    "unit_price", "price", "amount", "subtotal", "discount", "total", "date", "time", "item", "change",
)  # fmt: skip


@cache
def words_for(country: Country) -> dict:
    """The words a document from this country prints: its language's, with the country's own where they differ;
    with English as its second language, the headings in both."""
    words = WORDS[country.language] | LOCAL_WORDS.get(country.locale, {})
    if country.second == "en":
        gap = " " if country.language in CJK else " / "
        words |= {key: f"{words[key]}{gap}{WORDS['en'][key]}" for key in BILINGUAL}
    return words


def item_languages(country: Country) -> tuple[str, ...]:
    """The languages an item's name is printed in: both where the second is written in another script (`Roti
    面包`, `牛奶 Whole milk 1L`), else the first."""
    scripts = {language in CJK for language in country.languages}
    return country.languages if len(scripts) == 2 else (country.language,)


def tax_parts(country: Country, tax: dict, currency: str) -> list[tuple[str, str, str]]:
    """Name, rate and amount of each tax a labelled row is levied as (India: CGST and SGST at half the rate each);
    none where the country levies one. The first part takes the half rounded half up, the last the rest, so that
    the printed parts add up to the labelled amount."""
    if not country.tax_parts:
        return []
    count, amount = len(country.tax_parts), Decimal(tax["amount"])
    rate = str(Decimal(tax["rate"]) / count)
    first = quantize(amount / count, currency)
    amounts = [first] * (count - 1) + [amount - first * (count - 1)]
    return [(name, rate, money(part, currency)) for name, part in zip(country.tax_parts, amounts, strict=True)]


def _plain(text: str) -> str:
    """Babel's no-break spaces as the plain spaces a reader (and an OCR target) sees."""
    return text.replace("\u00a0", " ").replace("\u202f", " ")


@cache
def babel_locale(locale: str) -> Locale:
    return Locale.parse(locale)


def format_money(value: str, currency: str, locale: str, symbol: bool = True) -> str:
    """An amount as the locale prints it: `1.234,56 €`, `$1,234.56`, `￥1,235`, `₹1,23,456.00`; without symbol:
    `1.234,56`."""
    if symbol:
        return _plain(format_currency(Decimal(value), currency, locale=babel_locale(locale)))
    digits = minor_units(currency)
    whole = babel_locale(locale).decimal_formats[None].pattern.partition(".")[0]  # India's #,##,##0 groups lakhs
    pattern = whole + ("." + "0" * digits if digits else "")
    return _plain(format_decimal(Decimal(value), format=pattern, locale=babel_locale(locale)))


def format_quantity(value: str, locale: str) -> str:
    return format_decimal(Decimal(value), locale=babel_locale(locale), decimal_quantization=False)


def format_rate(rate: str, locale: str) -> str:
    """A tax rate as printed: `19 %` in German, `7.5%` in English."""
    return _plain(format_percent(Decimal(rate) / 100, locale=babel_locale(locale), decimal_quantization=False))


def date_styles(locale: str) -> list[str]:
    """Babel date styles that print a four-digit year (en_US's short `3/5/24` does not)."""
    styles = []
    for style in ("short", "medium", "long"):
        pattern = get_date_format(style, locale=babel_locale(locale)).pattern
        if pattern.count("y") != 2:
            styles.append(style)
    return styles


def format_day(value: str, locale: str, style: str) -> str:
    """`2024-03-05` as `05.03.2024`, `Mar 5, 2024` or `2024年3月5日`, by style."""
    return _plain(format_date(dt.date.fromisoformat(value), format=style, locale=babel_locale(locale)))


def format_clock(value: str, locale: str) -> str:
    """`14:30` as the locale prints a time: `2:30 PM`, `14:30`."""
    return _plain(format_time(dt.time.fromisoformat(value), format="short", locale=babel_locale(locale)))
