"""Small documents of every format for tests: written with each library's own writer where
it has one (python-docx, python-pptx, openpyxl), by hand as zip + XML otherwise."""

from __future__ import annotations

import io
import json
import zipfile
from email.message import EmailMessage
from pathlib import Path

# Each format's sections as (heading, body); tests look for the text and its anchor.
Sections = list[tuple[str, str]]


def docx_bytes(sections: Sections, title: str | None = None,
               table: list[list[str]] | None = None) -> bytes:
    import docx

    document = docx.Document()
    if title:
        document.core_properties.title = title
    for heading, body in sections:
        document.add_heading(heading, level=1)
        document.add_paragraph(body)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                grid.cell(r, c).text = value
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def pptx_bytes(slides: Sections, notes: dict[int, str] | None = None) -> bytes:
    import pptx

    presentation = pptx.Presentation()
    for number, (heading, body) in enumerate(slides, start=1):
        slide = presentation.slides.add_slide(presentation.slide_layouts[1])
        slide.shapes.title.text = heading
        slide.placeholders[1].text = body
        if notes and number in notes:
            slide.notes_slide.notes_text_frame.text = notes[number]
    out = io.BytesIO()
    presentation.save(out)
    return out.getvalue()


def xlsx_bytes(sheets: dict[str, list[list[object]]]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def zip_bytes(members: dict[str, bytes | str], stored_first: str | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        if stored_first:  # ODF and EPUB want their mimetype first and uncompressed
            archive.writestr(zipfile.ZipInfo("mimetype"), members[stored_first])
        for name, data in members.items():
            if name != stored_first:
                archive.writestr(name, data)
    return out.getvalue()


_ODF_NS = ('xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
           'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
           'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
           'xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" '
           'xmlns:presentation="urn:oasis:names:tc:opendocument:xmlns:presentation:1.0" '
           'xmlns:dc="http://purl.org/dc/elements/1.1/"')
_MIMETYPES = {"odt": "application/vnd.oasis.opendocument.text",
              "ods": "application/vnd.oasis.opendocument.spreadsheet",
              "odp": "application/vnd.oasis.opendocument.presentation"}


def _odf(kind: str, body: str, title: str | None, manifest_extra: str = "") -> bytes:
    content = (f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {_ODF_NS}>'
               f"<office:body>{body}</office:body></office:document-content>")
    meta = (f'<?xml version="1.0" encoding="UTF-8"?><office:document-meta {_ODF_NS}>'
            f"<office:meta><dc:title>{title or ''}</dc:title></office:meta>"
            "</office:document-meta>")
    manifest = ('<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest='
                '"urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"><manifest:file-entry '
                f'manifest:full-path="content.xml" manifest:media-type="text/xml">'
                f"{manifest_extra}</manifest:file-entry></manifest:manifest>")
    return zip_bytes({"mimetype": _MIMETYPES[kind], "content.xml": content, "meta.xml": meta,
                      "META-INF/manifest.xml": manifest}, stored_first="mimetype")


def odt_bytes(sections: Sections, title: str | None = None, encrypted: bool = False) -> bytes:
    body = "".join(f'<text:h text:outline-level="1">{h}</text:h><text:p>{b}</text:p>'
                   for h, b in sections)
    extra = '<manifest:encryption-data manifest:checksum="x"/>' if encrypted else ""
    return _odf("odt", f"<office:text>{body}</office:text>", title, extra)


def ods_bytes(sheets: dict[str, list[list[str]]]) -> bytes:
    tables = []
    for name, rows in sheets.items():
        xml_rows = "".join(
            "<table:table-row>" + "".join(f"<table:table-cell><text:p>{v}</text:p>"
                                          "</table:table-cell>" for v in row)
            + "</table:table-row>" for row in rows)
        # A million repeated empty rows, as spreadsheet programs write them.
        xml_rows += '<table:table-row table:number-rows-repeated="1048000"><table:table-cell/>'
        xml_rows += "</table:table-row>"
        tables.append(f'<table:table table:name="{name}">{xml_rows}</table:table>')
    return _odf("ods", f"<office:spreadsheet>{''.join(tables)}</office:spreadsheet>", None)


def odp_bytes(slides: Sections) -> bytes:
    pages = "".join(
        f'<draw:page draw:name="p{n}"><draw:frame presentation:class="title"><draw:text-box>'
        f"<text:p>{h}</text:p></draw:text-box></draw:frame><draw:frame "
        f'presentation:class="outline"><draw:text-box><text:p>{b}</text:p></draw:text-box>'
        "</draw:frame></draw:page>" for n, (h, b) in enumerate(slides, start=1))
    return _odf("odp", f"<office:presentation>{pages}</office:presentation>", None)


def html_bytes(title: str, sections: Sections, encoding: str = "utf-8") -> bytes:
    body = "".join(f"<h2>{h}</h2>\n<p>{b}</p>\n" for h, b in sections)
    page = (f'<!DOCTYPE html><html><head><meta charset="{encoding}"><title>{title}</title>'
            "<style>body { color: red }</style><script>var tracking = 'noise';</script>"
            "</head><body><nav><a href='/'>Home</a> <a href='/shop'>Shop</a></nav>"
            f"<header>Site banner</header><main>{body}</main>"
            "<footer>Copyright cookie policy</footer></body></html>")
    return page.encode(encoding)


def epub_bytes(title: str, chapters: Sections, drm: bool = False) -> bytes:
    members: dict[str, bytes | str] = {"mimetype": "application/epub+zip"}
    members["META-INF/container.xml"] = (
        '<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:opendocument:'
        'xmlns:container"><rootfiles><rootfile full-path="OEBPS/content.opf" media-type='
        '"application/oebps-package+xml"/></rootfiles></container>')
    manifest, spine, nav = [], [], []
    for n, (heading, body) in enumerate(chapters, start=1):
        members[f"OEBPS/ch{n}.xhtml"] = (
            '<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML '
            '1.1//EN" "http://www.w3.org/TR/xhtml11/DTD/xhtml11.dtd">\n<html xmlns='
            f'"http://www.w3.org/1999/xhtml"><head><title>{heading}</title></head><body>'
            f"<h1>{heading}</h1><p>{body}</p></body></html>")
        manifest.append(f'<item id="c{n}" href="ch{n}.xhtml" media-type="application/xhtml+xml"/>')
        spine.append(f'<itemref idref="c{n}"/>')
        nav.append(f'<li><a href="ch{n}.xhtml">{heading}</a></li>')
    members["OEBPS/nav.xhtml"] = (
        '<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops">'
        f'<body><nav epub:type="toc"><ol>{"".join(nav)}</ol></nav></body></html>')
    manifest.append('<item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" '
                    'properties="nav"/>')
    members["OEBPS/content.opf"] = (
        '<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0">'
        '<metadata xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f"<dc:title>{title}</dc:title></metadata><manifest>{''.join(manifest)}</manifest>"
        f"<spine>{''.join(spine)}</spine></package>")
    if drm:
        members["META-INF/encryption.xml"] = (
            '<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container" xmlns:enc='
            '"http://www.w3.org/2001/04/xmlenc#"><enc:EncryptedData><enc:EncryptionMethod '
            'Algorithm="http://www.w3.org/2001/04/xmlenc#aes128-cbc"/></enc:EncryptedData>'
            "</encryption>")
    return zip_bytes(members, stored_first="mimetype")


def email_bytes(subject: str, body: str, sender: str = "ana@example.org",
                charset: str = "utf-8", html: bool = False) -> bytes:
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = "me@example.org"
    message["Date"] = "Mon, 02 Mar 2026 09:15:00 +0000"
    if html:
        message.set_content(f"<html><body><p>{body}</p></body></html>", subtype="html",
                            charset=charset)
    else:
        message.set_content(body, charset=charset)
    return bytes(message)


def mbox_bytes(messages: list[tuple[str, str]]) -> bytes:
    """An mbox as mail programs write it: body lines starting "From " escaped as ">From "."""
    return b"".join(b"From ana@example.org Mon Mar  2 09:15:00 2026\n"
                    + email_bytes(s, b).replace(b"\nFrom ", b"\n>From ") + b"\n"
                    for s, b in messages)


def notebook_bytes(cells: list[tuple[str, str]]) -> bytes:
    notebook = {
        "nbformat": 4, "nbformat_minor": 5,
        "metadata": {"language_info": {"name": "python"}},
        "cells": [{"cell_type": kind, "metadata": {}, "source": source.splitlines(True),
                   **({"outputs": [{"output_type": "stream", "text": ["OUTPUT NOISE"]}],
                       "execution_count": 1} if kind == "code" else {})}
                  for kind, source in cells],
    }
    return json.dumps(notebook).encode()


def rtf_bytes(title: str, paragraphs: list[str]) -> bytes:
    body = "".join(f"{p}\\par\n" for p in paragraphs)
    return (f"{{\\rtf1\\ansi\\ansicpg1252\\deff0{{\\fonttbl{{\\f0 Times;}}}}"
            f"{{\\info{{\\title {title}}}}}\\f0 {body}}}").encode("latin-1")


def write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


# One file per format for search tests: a distractor section first, then the section a
# paraphrased query should find. (name, kind, title, anchor, words in it, query, builder)
def format_corpus() -> list[tuple[str, str, str, str, str, str, bytes]]:
    return [
        ("report.docx", "docx", "Annual Report", "#section=2", "Lubricate the chain",
         "how often should I oil my bike chain",
         docx_bytes([("Team offsite", "The quarterly team offsite takes place in a hotel "
                      "near the lake, with workshops on planning."),
                     ("Bicycle maintenance", "Lubricate the chain every 300 kilometres and "
                      "check the tyre pressure weekly so the bike rolls smoothly.")],
                    title="Annual Report", table=[["Part", "Interval"],
                                                  ["Brake pads", "5000 km"]])),
        ("talk.pptx", "pptx", "Agenda", "#slide=2", "shield volcanoes",
         "slow-moving molten rock in Hawaiian eruptions",
         pptx_bytes([("Agenda", "Welcome and introductions of the new team members"),
                     ("Volcanoes", "Lava from shield volcanoes in Hawaii flows slowly "
                      "downhill and cools into black basalt")],
                    notes={2: "Mention Kilauea and Mauna Loa"})),
        ("kitchen.xlsx", "xlsx", "kitchen.xlsx", "#sheet=2", "simmer tomatoes",
         "how long should tomato soup cook",
         xlsx_bytes({"Inventory": [["Item", "Quantity"], ["Hex bolts", 300],
                                   ["Wood screws", 1200]],
                     "Recipes": [["Dish", "Method"], ["Pancakes", "whisk flour, eggs, milk"],
                                 ["Tomato soup", "simmer tomatoes with garlic and basil for "
                                  "40 minutes, then blend"]]})),
        ("notes.odt", "odt", "Field Notes", "#section=2", "rings are made of ice",
         "what are the rings around Saturn made of",
         odt_bytes([("Garden", "The roses by the fence need pruning in early spring."),
                    ("Astronomy", "Saturn's rings are made of ice particles and rock "
                     "dust orbiting the planet.")], title="Field Notes")),
        ("trips.ods", "ods", "trips.ods", "#sheet=2", "Night train",
         "overnight rail journey from Austria to Italy",
         ods_bytes({"Budget": [["Rent", "950"], ["Groceries", "320"]],
                    "Trains": [["Route", "Departure"],
                               ["Night train Vienna to Venice", "21:30 sleeper car"]]})),
        ("ocean.odp", "odp", "Welcome", "#slide=2", "bleaching",
         "why reefs lose their colour when the sea warms",
         odp_bytes([("Welcome", "Housekeeping notes and the schedule for today"),
                    ("Coral reefs", "Coral bleaching happens when warm ocean water makes "
                     "corals expel their algae")])),
        ("hobby.html", "html", "Weekend hobbies", "#section=2", "Cast on sixty stitches",
         "how many stitches to start a woollen scarf",
         html_bytes("Weekend hobbies", [("Pricing", "Our membership costs ten euros a "
                                         "month, payable by card."),
                                        ("Knitting", "Cast on sixty stitches with wool yarn "
                                         "to knit a warm winter scarf.")])),
        ("novel.epub", "epub", "The Lighthouse", "#chapter=2", "polished the brass lens",
         "the person who cleaned the lamp that warns ships",
         epub_bytes("The Lighthouse", [("The Harbour", "Fishing boats came in at dawn "
                                        "with their nets full of herring."),
                                       ("The Keeper", "Every night the old keeper polished "
                                        "the brass lens so that ships would avoid the "
                                        "rocks.")])),
        ("inbox.mbox", "email", "inbox.mbox", "#msg=2", "disk filled up",
         "why did the database go down overnight",
         mbox_bytes([("Lunch order", "Shall we order pizza for the team lunch on Friday?"),
                     ("Server outage", "The database disk filled up at 3am and the service "
                      "stopped; we rotated the logs and it is back.")])),
        ("consulate.eml", "email", "Passport renewal appointment", "#msg=1", "consulate",
         "when is my appointment to renew travel documents",
         email_bytes("Passport renewal appointment", "Your appointment at the consulate "
                     "is on Friday at 10:00. Bring two photos.", charset="iso-8859-1")),
        ("housing.ipynb", "notebook", "Housing analysis", "#cell=3", "linear regression",
         "predicting home value from square footage",
         notebook_bytes([("markdown", "# Housing analysis"),
                         ("code", "import pandas as pd\ndf = pd.read_csv('data.csv')"),
                         ("markdown", "We fit a linear regression to predict house prices "
                          "from the floor area in square metres."),
                         ("code", "model.fit(df[['area']], df['price'])")])),
        ("pie.rtf", "rtf", "Apple pie", "#section=1", "cinnamon",
         "baking temperature for a fruit dessert with cinnamon",
         rtf_bytes("Apple pie", ["Grandma\\'s apple pie:", "bake at 180 degrees for 45 "
                                 "minutes with cinnamon and brown sugar."])),
    ]
