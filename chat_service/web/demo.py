"""Dev mode only: `/` is a small bakery's website (English and Dutch) that embeds the widget the
way a customer's site would: one script tag, under a strict CSP, nothing third-party."""

from __future__ import annotations

from html import escape
from typing import Any

from aiohttp import web

from chat_service.sites import DEV_SITE, SITES
from chat_service.web.routes import logo_path

routes = web.RouteTableDef()

# As strict as we ask of the sites that embed us: no inline script or style, nothing third-party.
DEMO_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

# Every text of the page, per language (tuples are lists the page repeats).
TEXT: dict[str, dict[str, Any]] = {
    "en": {
        "title": "Bakkerij De Korenbloem \u2014 sourdough and pastry in Utrecht",
        "skip": "Skip to content",
        "nav": "Main",
        "links": ("Fresh today", "Visit us", "About this page"),
        "languages": "Language",
        "kicker": "Craft bakery since 1962",
        "headline": "Bread baked at dawn, on the Oudegracht",
        "lead": (
            "Sourdough from our own starter, Dutch apple pie from grandmother's recipe and cakes made to"
            " order. Questions about an order, allergens or a cake for a party? Use the chat button."
        ),
        "cta": "Order for tomorrow",
        "products_title": "Fresh today",
        "products": (
            ("sourdough", "Spelt sourdough", "Slow-fermented for 36 hours. Crisp crust, open crumb.", "€ 5.40"),
            ("apple", "Dutch apple pie", "Lattice top, Elstar apples, cinnamon and raisins.", "€ 18.50"),
            ("stroop", "Stroopwafels", "Baked to order, with a thin layer of caramel syrup.", "€ 4.25"),
            ("croissant", "Butter croissant", "French butter, folded by hand over three days.", "€ 2.10"),
        ),
        "visit_title": "Visit us",
        "address": "Oudegracht 112, 3511 AX Utrecht",
        "hours_title": "Opening hours",
        "hours": (
            ("Tuesday \u2013 Friday", "07:30 \u2013 18:00"),
            ("Saturday", "07:30 \u2013 17:00"),
            ("Sunday, Monday", "closed"),
        ),
        "dev_title": "About this page",
        "dev": (
            "This is the demo page of chat-service. It embeds the visitor widget exactly as a website"
            " would, under a strict Content-Security-Policy. Answer as an agent in the"
        ),
        "console": "agent console",
        "account": "create an account first:",
        "embed": "Embed it on your site:",
        "footer": "Bakkerij De Korenbloem is a made-up bakery: this is a demo.",
    },
    "nl": {
        "title": "Bakkerij De Korenbloem \u2014 zuurdesem en gebak in Utrecht",
        "skip": "Naar de inhoud",
        "nav": "Hoofdmenu",
        "links": ("Vers van vandaag", "Bezoek ons", "Over deze pagina"),
        "languages": "Taal",
        "kicker": "Ambachtelijke bakker sinds 1962",
        "headline": "Brood van vanochtend vroeg, aan de Oudegracht",
        "lead": (
            "Zuurdesem van ons eigen desem, appeltaart naar oma's recept en taarten op bestelling. Vragen"
            " over een bestelling, allergenen of een taart voor een feestje? Gebruik de chatknop."
        ),
        "cta": "Bestel voor morgen",
        "products_title": "Vers van vandaag",
        "products": (
            ("sourdough", "Speltzuurdesem", "36 uur gerezen. Knapperige korst, open kruim.", "€ 5,40"),
            ("apple", "Hollandse appeltaart", "Met roosterdeeg, elstars, kaneel en rozijnen.", "€ 18,50"),
            ("stroop", "Stroopwafels", "Op bestelling gebakken, met een dun laagje stroop.", "€ 4,25"),
            ("croissant", "Roomboter­croissant", "Franse roomboter, in drie dagen met de hand gevouwen.", "€ 2,10"),
        ),
        "visit_title": "Bezoek ons",
        "address": "Oudegracht 112, 3511 AX Utrecht",
        "hours_title": "Openingstijden",
        "hours": (
            ("dinsdag \u2013 vrijdag", "07.30 \u2013 18.00"),
            ("zaterdag", "07.30 \u2013 17.00"),
            ("zondag, maandag", "gesloten"),
        ),
        "dev_title": "Over deze pagina",
        "dev": (
            "Dit is de demopagina van chat-service. Ze bevat de bezoekerswidget precies zoals een website"
            " dat zou doen, onder een strikte Content-Security-Policy. Antwoord als medewerker in de"
        ),
        "console": "medewerkersconsole",
        "account": "maak eerst een account aan:",
        "embed": "Op je eigen site:",
        "footer": "Bakkerij De Korenbloem is een verzonnen bakkerij: dit is een demo.",
    },
}

PAGE = """<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/demo.css">
</head>
<body>
<a class="skip" href="#main">{skip}</a>
<header class="top">
<div class="wrap bar">
<a class="brand" href="/?lang={lang}">{logo}<span>Bakkerij De Korenbloem</span></a>
<nav aria-label="{nav}"><ul>{links}</ul></nav>
<nav aria-label="{languages}" class="langs"><ul>{langs}</ul></nav>
</div>
</header>
<main id="main">
<section class="hero" aria-labelledby="headline">
<div class="wrap">
<p class="kicker">{kicker}</p>
<h1 id="headline">{headline}</h1>
<p class="lead">{lead}</p>
<a class="cta" href="#bezoek">{cta}</a>
</div>
</section>
<section class="wrap" id="vers" aria-labelledby="fresh">
<h2 id="fresh">{products_title}</h2>
<ul class="products">{products}</ul>
</section>
<section class="wrap visit" id="bezoek" aria-labelledby="visit">
<div>
<h2 id="visit">{visit_title}</h2>
<p>{address}</p>
</div>
<div>
<h3>{hours_title}</h3>
<table class="hours"><tbody>{hours}</tbody></table>
</div>
</section>
<section class="wrap dev" id="over" aria-labelledby="dev">
<h2 id="dev">{dev_title}</h2>
<p>{dev} <a href="/console/">{console}</a> ({account}
<code>chat-service users create you@example.eu --role admin --dev</code>).</p>
<p>{embed}</p>
<pre><code>{snippet}</code></pre>
</section>
</main>
<footer class="wrap foot"><p>{footer}</p></footer>
<script src="/widget.js" data-site="{site}" data-lang="{lang}" async></script>
</body>
</html>
"""

CSS = """
:root{--crust:#7c2d12;--wheat:#fdf6ec;--ink:#2b1d14;--muted:#5c4a3d;--line:#ead9c4;color-scheme:light}
*{box-sizing:border-box}
body{margin:0;background:var(--wheat);color:var(--ink);font:17px/1.6 Georgia,"Iowan Old Style","Times New Roman",serif}
a{color:var(--crust)}
.wrap{max-width:1040px;margin:0 auto;padding:0 24px}
.skip{position:absolute;left:-999px}
.skip:focus{left:12px;top:12px;background:#fff;padding:8px 12px;z-index:10}
.top{background:#fff;border-bottom:1px solid var(--line)}
.bar{display:flex;align-items:center;gap:24px;min-height:72px;flex-wrap:wrap}
.brand{display:flex;align-items:center;gap:10px;font-weight:700;font-size:20px;text-decoration:none;color:var(--ink)}
.brand img{width:40px;height:40px;border-radius:50%}
nav ul{display:flex;gap:18px;list-style:none;margin:0;padding:0;font:600 15px system-ui,sans-serif}
nav a{text-decoration:none;color:var(--ink)}
nav a:hover,nav a[aria-current]{color:var(--crust);text-decoration:underline}
.langs{margin-left:auto}
.hero{background:linear-gradient(120deg,#fbe7cf,#f6d3a8);padding:72px 0 80px;border-bottom:1px solid var(--line)}
.kicker{margin:0;font:600 14px system-ui,sans-serif;letter-spacing:.08em;text-transform:uppercase;color:var(--crust)}
h1{font-size:clamp(32px,5vw,52px);line-height:1.1;margin:8px 0 16px;max-width:16ch}
.lead{max-width:56ch;color:var(--muted);font-size:19px}
.cta{display:inline-block;margin-top:12px;padding:12px 22px;border-radius:999px;background:var(--crust);color:#fff;
text-decoration:none;font:600 16px system-ui,sans-serif}
h2{font-size:30px;margin:56px 0 20px}
.products{list-style:none;margin:0;padding:0;display:grid;grid-template-columns:repeat(auto-fill,minmax(220px,1fr));gap:20px}
.products li{background:#fff;border:1px solid var(--line);border-radius:14px;overflow:hidden}
.products div{padding:14px 16px 18px}
.products h3{margin:0 0 4px;font-size:19px}
.products p{margin:0;color:var(--muted);font-size:15px}
.products .price{margin-top:10px;color:var(--ink);font:700 16px system-ui,sans-serif}
.pic{display:block;height:120px;
background:radial-gradient(circle at 50% 60%,#c7843f 0 38%,#e9c08d 39% 46%,transparent 47%),#f3e3cc}
.pic.apple{background:repeating-linear-gradient(45deg,#b86b2a 0 8px,#e6b073 8px 16px)}
.pic.stroop{background:repeating-linear-gradient(45deg,#d49a55 0 6px,#9a5a22 6px 8px),#d49a55}
.pic.croissant{background:radial-gradient(ellipse at 50% 60%,#d98f3c 0 30%,#f2c98d 31% 40%,transparent 41%),#f7ead7}
.visit{display:grid;grid-template-columns:repeat(auto-fit,minmax(260px,1fr));gap:24px;align-items:start}
h3{font-size:20px;margin:56px 0 12px}
.hours{border-collapse:collapse}
.hours th,.hours td{text-align:left;padding:4px 24px 4px 0;font-weight:400;border-bottom:1px solid var(--line)}
.dev{margin-top:48px;padding-bottom:8px;border-top:1px solid var(--line);font:15px/1.6 system-ui,sans-serif}
.dev h2{font:700 20px system-ui,sans-serif;margin:32px 0 8px}
pre{background:#fff;border:1px solid var(--line);border-radius:8px;padding:12px;
white-space:pre-wrap;overflow-wrap:anywhere}
code{font-size:14px}
.foot{padding:32px 24px 96px;color:var(--muted);font-size:15px}
"""

ANCHORS = ("vers", "bezoek", "over")
LANGUAGE_NAMES = (("en", "English"), ("nl", "Nederlands"))


def render(lang: str, base: str, logo: str | None) -> str:
    text = TEXT[lang]
    links = "".join(
        f'<li><a href="#{anchor}">{escape(label)}</a></li>'
        for anchor, label in zip(ANCHORS, text["links"], strict=True)
    )
    current = ' aria-current="true"'
    langs = "".join(
        f'<li><a href="/?lang={code}" hreflang="{code}" lang="{code}"{current if code == lang else ""}>{label}</a></li>'
        for code, label in LANGUAGE_NAMES
    )
    products = "".join(
        f'<li><span class="pic {kind}"></span><div><h3>{escape(name)}</h3><p>{escape(about)}</p>'
        f'<p class="price">{escape(price)}</p></div></li>'
        for kind, name, about, price in text["products"]
    )
    hours = "".join(f'<tr><th scope="row">{escape(d)}</th><td>{escape(t)}</td></tr>' for d, t in text["hours"])
    snippet = f'<script src="{base}/widget.js" data-site="{DEV_SITE}" async></script>'
    plain = {k: escape(v) for k, v in text.items() if isinstance(v, str)}
    return PAGE.format(
        **plain,
        lang=lang,
        site=DEV_SITE,
        logo=f'<img src="{escape(logo)}" alt="">' if logo else "",
        links=links,
        langs=langs,
        products=products,
        hours=hours,
        snippet=escape(snippet),
    )


@routes.get("/")
async def demo_page(request: web.Request) -> web.Response:
    lang = "nl" if request.query.get("lang") == "nl" else "en"
    site = request.app[SITES].get(DEV_SITE)
    html = render(lang, f"{request.scheme}://{request.host}", logo_path(site) if site is not None else None)
    return web.Response(
        text=html,
        content_type="text/html",
        headers={"Content-Security-Policy": DEMO_CSP, "Cache-Control": "no-store"},
    )


@routes.get("/demo.css")
async def demo_style(request: web.Request) -> web.Response:
    return web.Response(
        text=CSS, content_type="text/css", headers={"Content-Security-Policy": DEMO_CSP, "Cache-Control": "no-store"}
    )
