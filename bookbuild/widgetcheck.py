"""The interactive figures on a page, moved as a reader moves them (bookbuild.browsercheck calls this).

A slider (lorabook.widgets) gets a real ArrowRight key press and must show its next frame: the picture and the
readout the page holds for it. The bit flipper (lorabook.bitflip) must show, for the number it starts from,
what lorabook.formats.encode gives in every format; then a real mouse click on a bit must show what
lorabook.formats.decode gives for the flipped pattern, and a typed number what encode gives for it: the
page's script is checked against the library, not against itself. Each input's response time is measured by
the page's script (window.lorabookWidgetTimes, in ms).
"""

from __future__ import annotations

import asyncio

MAX_RESPONSE_MS = 50  # from a key press, a click or a typed number to the new frame or readout on screen
TYPED = "-0.00003"  # a subnormal in FP16 and FP8-E5M2, zero in FP8-E4M3, normal in FP32 and BF16

WIDGETS = r"""(() => [...document.querySelectorAll('figure.lorabook-widget')].map(f => {
  const data = JSON.parse(f.querySelector('script.lorabook-widget-data').textContent);
  const rows = [...f.querySelectorAll('dl.lorabook-widget-readout dt')].map(dt =>
    [dt.textContent, dt.nextElementSibling.textContent]);
  const src = f.querySelector('img.lorabook-widget-image').getAttribute('src');
  return {live: f.classList.contains('lorabook-widget-live'), frame: Number(f.dataset.frame),
          n: data.values.length, start: data.start, readouts: data.readouts, shown: Object.fromEntries(rows),
          image: src === data.images[f.dataset.frame]};
}))()"""

BITS = r"""(() => [...document.querySelectorAll('figure.lorabook-bits')].map(f => ({
  live: f.classList.contains('lorabook-bits-live'),
  data: JSON.parse(f.querySelector('script.lorabook-bits-data').textContent),
  formats: [...f.querySelectorAll('.lorabook-bits-format')].map(b => ({pattern: b.dataset.pattern,
    shown: Object.fromEntries([...b.querySelectorAll('dl dt')].map(dt =>
      [dt.textContent, dt.nextElementSibling.textContent]))}))
})))()"""


async def _times(browser):
    return await browser.evaluate("window.lorabookWidgetTimes")


async def drive_widgets(browser) -> list[dict]:
    """Move each slider one step with a real key press (ArrowRight on its focused slider) and check that it
    shows the next frame. Returns, per widget, whether it moved and how long the frame took to show (ms)."""
    out = []
    for k, before in enumerate(await browser.evaluate(WIDGETS)):
        if not before["live"]:
            out.append({"moved": False, "ms": 0.0, "detail": "its script did not start"})
            continue
        step = 1 if before["frame"] < before["n"] - 1 else -1
        key = {1: ("ArrowRight", 39), -1: ("ArrowLeft", 37)}[step]
        await browser.evaluate(
            f"document.querySelectorAll('figure.lorabook-widget')[{k}].querySelector('input').focus()"
        )
        await browser.evaluate("window.lorabookWidgetTimes = []")
        for kind in ("rawKeyDown", "keyUp"):
            await browser.call(
                "Input.dispatchKeyEvent",
                session=True,
                type=kind,
                key=key[0],
                code=key[0],
                windowsVirtualKeyCode=key[1],
            )
        await asyncio.sleep(0.2)
        after = (await browser.evaluate(WIDGETS))[k]
        want = before["frame"] + step
        moved = after["frame"] == want and after["image"] and after["shown"] == after["readouts"][want]
        detail = f"an arrow key moved it from frame {before['frame']} to {after['frame']}, wanted {want}"
        out.append(
            {"moved": bool(moved), "ms": max(await _times(browser) or [float("inf")]), "detail": detail}
        )
    return out


def expected_bits(data: dict, x: float | None, patterns: list[str] | None = None) -> list[dict]:
    """What lorabook says each format of a bit flipper shows: the typed number `x` encoded, or (x None) the
    bit `patterns` decoded."""
    from lorabook import bitflip
    from lorabook import formats as fm

    out = []
    for k, f in enumerate(data["formats"]):
        fields = fm.encode(x, f["name"]) if patterns is None else fm.decode(int(patterns[k], 2), f["name"])
        bits = 1 + f["e"] + f["m"]
        out.append({"pattern": f"{fields.pattern:0{bits}b}", "shown": bitflip.readout(fields, x)})
    return out


async def _click(browser, k: int, f: int, bit: int) -> None:
    """A real mouse click on bit `bit` (0 = the sign) of format `f` of bit flipper `k`."""
    box = await browser.evaluate(
        f"(() => {{ const b = document.querySelectorAll('figure.lorabook-bits')[{k}]"
        f".querySelectorAll('.lorabook-bits-format')[{f}].querySelectorAll('button.lorabook-bit')[{bit}];"
        "b.scrollIntoView({block: 'center'}); const r = b.getBoundingClientRect();"
        "return {x: r.left + r.width / 2, y: r.top + r.height / 2}; })()"
    )
    for kind in ("mousePressed", "mouseReleased"):
        await browser.call(
            "Input.dispatchMouseEvent", session=True, type=kind, button="left", clickCount=1, **box
        )


async def drive_bits(browser) -> list[dict]:
    """Check each bit flipper against lorabook.formats: as it starts, after a click on the lowest exponent bit
    of every format, and after typing TYPED. Returns, per flipper, whether it showed the library's values
    each time, and its slowest response (ms)."""
    out = []
    for k, before in enumerate(await browser.evaluate(BITS)):
        if not before["live"]:
            out.append({"moved": False, "ms": 0.0, "detail": "its script did not start"})
            continue
        data, bad = before["data"], []
        if before["formats"] != expected_bits(data, float(data["start"])):
            bad.append(f"starting from {data['start']} it does not show lorabook.formats.encode's bits")
        await browser.evaluate("window.lorabookWidgetTimes = []")
        flipped = []
        for f, (fmt, now) in enumerate(zip(data["formats"], before["formats"])):
            bit = fmt["e"]  # the exponent's lowest bit
            await _click(browser, k, f, bit)
            flipped.append(now["pattern"][:bit] + "10"[int(now["pattern"][bit])] + now["pattern"][bit + 1 :])
        await asyncio.sleep(0.1)
        if (await browser.evaluate(BITS))[k]["formats"] != expected_bits(data, None, flipped):
            bad.append("a click on a bit does not show lorabook.formats.decode's value of the new bits")
        await browser.evaluate(
            f"(() => {{ const i = document.querySelectorAll('figure.lorabook-bits')[{k}]"
            ".querySelector('input.lorabook-bits-input'); i.focus(); i.select(); })()"
        )
        await browser.call("Input.insertText", session=True, text=TYPED)
        await asyncio.sleep(0.1)
        if (await browser.evaluate(BITS))[k]["formats"] != expected_bits(data, float(TYPED)):
            bad.append(f"typing {TYPED} does not show lorabook.formats.encode's bits")
        times = await _times(browser)
        out.append({"moved": not bad, "ms": max(times or [float("inf")]), "detail": "; ".join(bad)})
    return out
