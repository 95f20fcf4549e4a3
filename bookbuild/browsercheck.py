"""The built book as a reader's browser shows it: headless Chromium, driven over the DevTools protocol.

    python -m bookbuild.browsercheck _build/html --shots _build/screenshots    # = make browser-check

It serves the site on loopback, opens every page of the table of contents at 1280 px (a laptop) and at
390 px (a phone), waits for MathJax, and reports per page and width: math elements typeset (and raw TeX or
MathJax errors left), images that did not load or whose alt text is a file name, figure text smaller than
MIN_TEXT_PX, a page that scrolls sideways, code, outputs, tables or figures wider than the column outside a
scrolling box that says so, raw Markdown or MyST in the prose, empty output cells, headings with two
numbers, output cells that show stderr, console errors (exceptions, failed requests), internal links whose
file or anchor is missing, a page heavier than MAX_PAGE_BYTES or asking another host for anything, an
interactive figure (lorabook.widgets) that a real arrow key does not move to its next frame within
MAX_RESPONSE_MS, and the page's height; it saves a full-page screenshot of each (page.png at
1280 px, page@phone.png at 390 px). Exit status 1 when any page has a problem. It needs a `chromium`
(Debian's package) and talks to it through tornado's websocket client, which the book's toolchain installs.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import re
import sys
import time
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

from lorabook.plots import style

from .browser import DEVICES, HEIGHT, Browser, _Quiet, find_chromium, serve
from .widgetcheck import MAX_RESPONSE_MS, drive_bits, drive_widgets

# The smallest text a figure may show, in CSS px, per device: the rule lorabook.plots.style checks when a
# chapter glues a figure, measured here on the page as a reader's browser lays it out.
MIN_TEXT_PX = {"laptop": style.MIN_TEXT_PX, "phone": style.MIN_PHONE_TEXT_PX}

COLLECT = r"""(() => {
  const maths = [...document.querySelectorAll('.math')];
  const raw = maths.filter(m => !m.querySelector('mjx-container') && /\\\(|\\\[|\$/.test(m.textContent));
  const imgs = [...document.querySelectorAll('article img, main img')].map(i => ({
    src: i.getAttribute('src'), width: i.naturalWidth, alt: (i.getAttribute('alt') || '').trim(),
    shown: i.getBoundingClientRect().width, widget: !!i.closest('figure.lorabook-widget')}));
  const links = [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href'));
  if (window.lorabookMarkScrolling) window.lorabookMarkScrolling();
  const article = document.querySelector('article') || document.body;
  const box = article.getBoundingClientRect(), pad = getComputedStyle(article);
  const column = {left: box.left + parseFloat(pad.paddingLeft),
                  right: box.right - parseFloat(pad.paddingRight)};
  column.width = column.right - column.left;
  const cut = (text, n) => [...text.trim().replace(/\s+/g, ' ')].slice(0, n).join('');
  const describe = el => (el.tagName.toLowerCase() + (el.className && typeof el.className === 'string' ?
    '.' + el.className.trim().split(/\s+/).slice(0, 2).join('.') : '') + ' "' +
    cut(el.innerText || el.getAttribute('alt') || '', 50) + '"');
  const scrolls = el => ['auto', 'scroll'].includes(getComputedStyle(el).overflowX);
  // An element wider than the column is fine only inside a scrolling box that says so (lorabook.js marks
  // each box whose content overflows with the class scrolls-sideways, and the CSS shows a hint on it).
  const said = el => { for (let a = el; a && a !== article.parentElement; a = a.parentElement)
    if (scrolls(a) && a.scrollWidth > a.clientWidth + 1) return a.classList.contains('scrolls-sideways');
    return false; };
  const wide = [...article.querySelectorAll(
      'pre, table, img, svg, .cell_output, .highlight, mjx-container[display="true"], .figure, figure')]
    .filter(el => { const r = el.getBoundingClientRect();
      return r.width > 0 && (r.right > column.right + 1 || r.left < column.left - 1 ||
        el.scrollWidth > el.clientWidth + 1); })
    .filter(el => !said(el)).slice(0, 8)
    .map(el => `${describe(el)} ${Math.round(Math.max(el.getBoundingClientRect().width, el.scrollWidth))}px`);
  // Markdown or MyST that did not render: prose text outside code, math and scripts.
  const skip = 'code, pre, kbd, samp, script, style, .math, mjx-container, .highlight, .MathJax';
  const walker = document.createTreeWalker(article, NodeFilter.SHOW_TEXT);
  const rawmd = [];
  for (let n = walker.nextNode(); n && rawmd.length < 5; n = walker.nextNode()) {
    if (n.parentElement.closest(skip)) continue;
    const m = n.textContent.match(/`|\*\*|\{glue|\{cite|\{numref|\{ref|:::\{|^\s*\([\w-]+\)=/);
    if (m) rawmd.push(cut(n.textContent, 60));
  }
  const empty = [...article.querySelectorAll('.cell_output, .cell_output > .output')]
    .filter(el => !el.innerText.trim() && !el.querySelector('img, svg, canvas, table, mjx-container, iframe'))
    .length;
  const heads = [...article.querySelectorAll('h1, h2, h3, h4, h5, h6')].map(h => h.innerText.trim())
    .filter(t => /^\d+(\.\d+)*\.?\s+\d+(\.\d+)*[.)]\s/.test(t));
  return {
    math: maths.length, typeset: maths.length - raw.length,
    raw: raw.slice(0, 3).map(m => m.textContent.slice(0, 60)),
    merror: document.querySelectorAll('mjx-merror').length,
    images: imgs, links: links,
    stderr: document.querySelectorAll('.output.stderr, .cell_output .stderr').length,
    ids: [...document.querySelectorAll('[id]')].map(e => e.id),
    height: document.documentElement.scrollHeight,
    sideways: document.documentElement.scrollWidth - document.documentElement.clientWidth,
    column: Math.round(column.width), wide: wide, rawmd: rawmd, empty: empty, heads: heads,
  };
})()"""

# Every file the page loaded (a cached one too), and any host other than the book's own that it asked for.
# Its weight is what a static host that compresses (gzip) sends: the loopback server here sends files as
# they are, so `weight` compresses each file of the site as such a host would.
WEIGHT = r"""(() => {
  const entries = ['navigation', 'resource'].flatMap(t => performance.getEntriesByType(t));
  return {files: [...new Set(entries.map(e => new URL(e.name).pathname))],
          hosts: [...new Set(entries.map(e => new URL(e.name).host))]};
})()"""

MAX_PAGE_BYTES = 3_000_000  # a page and everything it loads

MATHJAX_DONE = """(async () => {
  if (!document.querySelector('script[src*="mathjax" i]')) return false;  // a page with no math to wait for
  for (let i = 0; i < 200 && !(window.MathJax && MathJax.startup && MathJax.startup.promise); i++)
    await new Promise(r => setTimeout(r, 50));
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  return !!window.MathJax;
})()"""


def toc_pages(root: Path) -> list[str]:
    """The pages of _toc.yml, as paths relative to the site root (root page first)."""
    import yaml

    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files = [toc["root"]] + [c["file"] for part in toc.get("parts", []) for c in part.get("chapters", [])]
    return [f + ".html" for f in files]


def figure_text_px(file: Path) -> float | None:
    """The smallest text of a figure file at its natural size, in its own pixels, as lorabook.plots.style
    records it (a PNG text chunk or the SVG's description); None when the file does not say."""
    if not file.is_file():
        return None
    data = file.read_bytes()
    if file.suffix == ".png":
        from PIL import Image

        with Image.open(file) as image:
            value = image.info.get(style.TEXT_KEY)
    else:
        found = re.search(re.escape(style.TEXT_KEY).encode() + rb"=([0-9.]+)", data)
        value = found and found[1].decode()
    return float(value) if value else None


def problems(page: str, found: dict, errors: list[str], site: Path, ids: dict[str, set], device="laptop"):
    """What a reader would trip over on `page` shown on `device`, from the collected facts."""
    out = []
    if found["typeset"] < found["math"] or found["merror"]:
        out.append(
            f"math typeset {found['typeset']}/{found['math']}, {found['merror']} MathJax errors, "
            f"raw: {found['raw']}"
        )
    for img in found["images"]:
        name = Path(urlparse(img["src"] or "").path).name
        if img["width"] == 0:
            out.append(f"image did not load: {(img['src'] or '')[:80]}")
        if img.get("widget"):  # a widget's frame: a picture with no text, in the page itself
            continue
        if not img["alt"] or img["alt"] == name or re.fullmatch(r"[\w./-]+\.(png|svg|jpe?g|gif)", img["alt"]):
            out.append(f"image without real alt text: {img['src']} (alt {img['alt']!r})")
        file = site / unquote(urlparse(urljoin("http://site/" + page, img["src"] or "")).path.lstrip("/"))
        natural = figure_text_px(file)
        if natural is None:
            out.append(f"figure does not record its smallest text (draw it with lorabook.plots): {name}")
        elif img["width"]:
            px = natural * img["shown"] / img["width"]
            found["figure_px"] = min(found.get("figure_px", px), px)  # the page's smallest, for the report
            if px < MIN_TEXT_PX[device]:
                out.append(f"figure text {px:.1f} px < {MIN_TEXT_PX[device]:g} px: {name}")
    if found["stderr"]:
        out.append(f"{found['stderr']} output cells show stderr")
    if found["sideways"] > 0:
        out.append(f"the page scrolls sideways by {found['sideways']} px")
    out += [f"wider than the {found['column']}-px column: {w}" for w in found["wide"]]
    out += [f"raw markup in the text: {t!r}" for t in found["rawmd"]]
    if found["empty"]:
        out.append(f"{found['empty']} empty output cells")
    out += [f"heading with two numbers: {h!r}" for h in found["heads"]]
    out += [f"console error: {e}" for e in errors]
    weight = found.get("weight", {"bytes": 0, "hosts": []})
    if weight["bytes"] > MAX_PAGE_BYTES:
        out.append(f"the page loads {weight['bytes']:,} bytes (compressed) > {MAX_PAGE_BYTES:,}")
    out += [f"a request to another host: {h}" for h in weight["hosts"] if h != found.get("host")]
    for k, w in enumerate(found.get("widgets", [])):
        if not w["moved"]:
            out.append(f"widget {k + 1}: it did not show what it should ({w['detail']})")
        elif w["ms"] > MAX_RESPONSE_MS:
            out.append(
                f"widget {k + 1}: {w['ms']:.0f} ms from the input to what it shows > {MAX_RESPONSE_MS} ms"
            )
    for href in found["links"]:
        target = urlparse(urljoin("http://site/" + page, href))
        if target.netloc != "site":
            continue
        path = unquote(target.path.lstrip("/")) or "index.html"
        if not (site / path).is_file():
            out.append(f"broken link: {href}")
        elif target.fragment and path in ids and target.fragment not in ids[path]:
            out.append(f"broken anchor: {href}")
    return out


def weight(site: Path, loaded: dict) -> dict:
    """{"bytes": the loaded files' total once gzip-compressed (level 6), "hosts": the hosts asked}."""
    total = 0
    for path in loaded["files"]:
        file = site / unquote(path).lstrip("/")
        if file.is_dir():
            file = file / "index.html"
        if file.is_file():
            total += len(gzip.compress(file.read_bytes(), 6))
    return {"bytes": total, "hosts": loaded["hosts"]}


def shot_name(page: str, device: str) -> str:
    suffix = "" if device == "laptop" else f"@{device}"
    return page.replace("/", "_").removesuffix(".html") + suffix + ".png"


async def _check(site: Path, pages: list[str], shots: Path | None, executable: str) -> dict:
    server, base = serve(site)
    browser = Browser(executable)
    report = {}
    try:
        await browser.connect()
        ids = {}
        for device in DEVICES:
            await browser.viewport(device, HEIGHT)
            for page in pages:
                _Quiet.missing = []
                browser.events = []
                await browser.call("Page.navigate", session=True, url=base + page)
                await browser.wait_for("Page.loadEventFired")
                await browser.evaluate(MATHJAX_DONE)
                await asyncio.sleep(0.3)  # late console messages, and lorabook.js marking scrolling boxes
                found = await browser.evaluate(COLLECT)
                found["weight"] = weight(site, await browser.evaluate(WEIGHT))
                found["host"] = urlparse(base).netloc
                found["widgets"] = await drive_widgets(browser) + await drive_bits(browser)
                ids[page] = set(found["ids"])
                errors = browser.console_errors() + [f"not found on the server: {p}" for p in _Quiet.missing]
                if shots is not None:
                    await browser.screenshot(shots / shot_name(page, device), found["height"])
                report.setdefault(page, {})[device] = {"found": found, "errors": errors}
        for page, entry in report.items():
            for device, seen in entry.items():
                seen["problems"] = problems(page, seen["found"], seen["errors"], site, ids, device)
    finally:
        browser.close()
        server.shutdown()
    return report


def check(site: Path, shots: Path | None = None, executable: str | None = None, pages=None) -> dict:
    """Visit `pages` (default: every toc page) of the built `site`; returns {page: {"found", "errors",
    "problems"}}."""
    site = Path(site)
    executable = executable or find_chromium()
    if executable is None:
        raise FileNotFoundError(
            "no chromium on PATH: install Debian's `chromium` package (apt-get install chromium)"
        )
    if not (site / "index.html").is_file():
        raise FileNotFoundError(f"site must be a built book with an index.html, got {site}")
    if shots is not None:
        Path(shots).mkdir(parents=True, exist_ok=True)
    pages = pages or toc_pages(Path(__file__).resolve().parents[1])
    return asyncio.run(_check(site, pages, Path(shots) if shots else None, executable))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bookbuild.browsercheck", description=__doc__.splitlines()[0]
    )
    parser.add_argument("site", nargs="?", default="_build/html", help="the built book (default _build/html)")
    parser.add_argument("--shots", default="_build/screenshots", help="where the full-page screenshots go")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        report = check(Path(args.site), Path(args.shots))
    except FileNotFoundError as exc:
        print(f"browser check: {exc}", file=sys.stderr)
        return 2
    bad = 0
    for page, entry in report.items():
        for device, seen in entry.items():
            f = seen["found"]
            print(
                f"{page} ({DEVICES[device][0]} px): {f['height']:,} px high, "
                f"math {f['typeset']}/{f['math']}, {len(f['images'])} images"
                + (f" (smallest text {f['figure_px']:.1f} px)" if "figure_px" in f else "")
                + f", {f['weight']['bytes'] / 1e6:.2f} MB compressed"
                + "".join(f", widget {k + 1} {w['ms']:.0f} ms" for k, w in enumerate(f["widgets"]))
                + f", {len(seen['problems'])} problems"
            )
            for p in seen["problems"]:
                print(f"    {p}")
            bad += bool(seen["problems"])
    laptop = [e["laptop"]["found"] for e in report.values()]
    total, typeset = sum(f["math"] for f in laptop), sum(f["typeset"] for f in laptop)
    print(
        f"{len(report)} pages at {' and '.join(f'{w} px' for w, _ in DEVICES.values())}, math typeset "
        f"{typeset}/{total}, {bad} page views with problems, {time.perf_counter() - start:.0f} s; "
        f"screenshots in {args.shots}"
    )
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
