// The bit flipper (lorabook.bitflip): each float format's bits as buttons. A click flips one bit and shows the
// value its fields encode; a typed number is rounded to nearest, ties to even, in every format at once. The
// rules are lorabook.formats' decode, round_to_format and encode, mirrored line by line; tests/test_bitflip.py
// compares them with the library on every FP8, FP16 and BF16 pattern and on samples of FP32's, and the browser
// check clicks a bit and types a number on the page. window.lorabookBits exposes the rules for those checks.
(() => {
  const pow2 = (k) => Math.pow(2, k); // exact in a double for every k used here (-1074 .. 1024)
  const bias = (f) => pow2(f.e - 1) - 1;
  const emin = (f) => 1 - bias(f);
  const emax = (f) => (f.inf ? pow2(f.e) - 2 : pow2(f.e) - 1) - bias(f);
  const maxFinite = (f) => (1 + (pow2(f.m) - (f.inf ? 1 : 2)) / pow2(f.m)) * pow2(emax(f));
  const binade = (a) => { // floor(log2(a)) exactly, as math.frexp(a)[1] - 1
    let e = Math.floor(Math.log2(a));
    if (pow2(e) > a) e -= 1;
    else if (pow2(e + 1) <= a) e += 1;
    return e;
  };
  const toInt = (bits) => bits.reduce((n, b) => 2 * n + b, 0);
  const toBits = (n, width) => Array.from({ length: width }, (_, i) => Math.floor(n / pow2(width - 1 - i)) % 2);

  // bits (0/1, sign first) -> fields, value and class: lorabook.formats.decode
  const decode = (f, bits) => {
    const sign = bits[0], E = toInt(bits.slice(1, 1 + f.e)), M = toInt(bits.slice(1 + f.e));
    const top = pow2(f.e) - 1, s = sign ? -1 : 1;
    if (E === top && f.inf) return M === 0 ? { sign, E, M, kind: "inf", value: s * Infinity } : { sign, E, M, kind: "nan", value: NaN };
    if (E === top && M === pow2(f.m) - 1) return { sign, E, M, kind: "nan", value: NaN }; // E4M3FN's only NaN
    if (E === 0) return { sign, E, M, kind: M === 0 ? "zero" : "subnormal", value: s * M * pow2(emin(f) - f.m) };
    return { sign, E, M, kind: "normal", value: s * (pow2(f.m) + M) * pow2(E - bias(f) - f.m) };
  };

  // x -> the nearest value of the format, ties to even; overflow gives ±inf (E4M3FN saturates): round_to_format
  const round = (f, x) => {
    if (Number.isNaN(x) || x === 0) return x;
    if (!Number.isFinite(x)) return f.inf ? x : Math.sign(x) * maxFinite(f);
    const a = Math.abs(x);
    const quantum = pow2(Math.max(binade(a), emin(f)) - f.m); // the spacing of the format's values near a
    const n = a / quantum, low = Math.floor(n), d = n - low; // exact: a division by a power of two
    const k = d > 0.5 || (d === 0.5 && low % 2 === 1) ? low + 1 : low;
    const y = (x < 0 ? -1 : 1) * k * quantum;
    if (Math.abs(y) > maxFinite(f)) return (x < 0 ? -1 : 1) * (f.inf ? Infinity : maxFinite(f));
    return y;
  };

  // x -> the bits of its nearest value: encode (NaN: a quiet NaN with every mantissa bit set, as the library writes it)
  const encode = (f, x) => {
    const y = round(f, x), top = pow2(f.e) - 1;
    let sign = 0, E = top, M = pow2(f.m) - 1;
    if (!Number.isNaN(y)) {
      sign = y < 0 || Object.is(y, -0) ? 1 : 0;
      const a = Math.abs(y);
      if (!Number.isFinite(a)) M = 0;
      else if (a < pow2(emin(f))) [E, M] = [0, a / pow2(emin(f) - f.m)];
      else { const e = binade(a); [E, M] = [e + bias(f), a * pow2(f.m - e) - pow2(f.m)]; }
    }
    return [sign, ...toBits(E, f.e), ...toBits(M, f.m)];
  };

  // A number as Python's repr writes it (lorabook.bitflip.number): the shortest decimal that reads back.
  const number = (v) => {
    if (Number.isNaN(v)) return "NaN";
    if (!Number.isFinite(v)) return v < 0 ? "-inf" : "inf";
    const sign = v < 0 || Object.is(v, -0) ? "-" : "";
    if (v === 0) return sign + "0.0";
    const [m, e] = Math.abs(v).toExponential().split("e");
    const exp = Number(e), digits = m.replace(".", "");
    if (exp < -4 || exp >= 16) return `${sign}${m}e${exp < 0 ? "-" : "+"}${String(Math.abs(exp)).padStart(2, "0")}`;
    if (exp < 0) return `${sign}0.${"0".repeat(-exp - 1)}${digits}`;
    return `${sign}${digits.padEnd(exp + 1, "0").slice(0, exp + 1)}.${digits.slice(exp + 1) || "0"}`;
  };
  // Python's f"{v:.2e}": toExponential rounds an exact tie up, Python to even, so a tie is settled here
  const sci = (v) => {
    let out = v.toExponential(2);
    const exact = Math.abs(v).toExponential(100); // every digit of a tie (a short, exact binary fraction)
    const [digits, e] = exact.split("e");
    if (/^\d\.\d\d50*$/.test(digits) && Number(digits[3]) % 2 === 0) out = (v < 0 ? "-" : "") + digits.slice(0, 4) + "e" + e;
    return out.replace(/e([+-])(\d)$/, "e$10$2");
  };

  const ERROR = "rounding error, x \u2212 value";
  const formula = (f, d) => {
    if (d.kind === "inf") return `E all ones, M = 0: ${d.sign ? "\u2212" : "+"}infinity`;
    if (d.kind === "nan") return "not a number (NaN)";
    if (d.kind === "normal") return `(\u22121)^${d.sign} \u00b7 2^(${d.E} \u2212 ${bias(f)}) \u00b7 (1 + ${d.M}/2^${f.m})`;
    return `(\u22121)^${d.sign} \u00b7 2^(1 \u2212 ${bias(f)}) \u00b7 (${d.M}/2^${f.m})`;
  };
  // lorabook.bitflip.readout: x is the typed number, or null when the bits were set by hand
  const readout = (f, d, x) => {
    const out = { value: number(d.value), fields: `s = ${d.sign}, E = ${d.E}, M = ${d.M}`, formula: formula(f, d), class: d.kind };
    if (x === null) out[ERROR] = "bits set by hand";
    else if (!f.inf && !Number.isNaN(x) && Math.abs(x) > maxFinite(f))
      out[ERROR] = `saturated: x is past the largest finite value, ${number(maxFinite(f))}`;
    else if (!Number.isFinite(d.value) && !Number.isNaN(d.value) && Number.isFinite(x))
      out[ERROR] = `overflow: x rounds past the largest finite value, ${number(maxFinite(f))}`;
    else if (Number.isNaN(d.value) || !Number.isFinite(x)) out[ERROR] = "none: x is not a finite number";
    else {
      const err = x - d.value;
      out[ERROR] = err === 0 ? "0: exact" : `${sci(err)} (relative ${sci(Math.abs(err / x))})`;
    }
    return out;
  };

  // What a reader types, read as Python's float() reads it (0.1, -2.5e-3, 1_000, inf, nan), and with the
  // true minus sign the formulas print; null when it is not a number.
  const parse = (text) => {
    const t = text.trim().toLowerCase().replace(/^\u2212/, "-").replace(/(?<=\d)_(?=\d)/g, "");
    if (/^[+-]?(inf|infinity)$/.test(t)) return t.startsWith("-") ? -Infinity : Infinity;
    if (/^[+-]?nan$/.test(t)) return NaN;
    return /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/.test(t) ? Number(t) : null;
  };
  // What the reader should know about how x itself was read: as a double (FP64) first
  const note = (text, x) => {
    if (x === null) return `"${text}" is not a number: type one such as 0.1, -2.5e-3, 65504, inf or nan`;
    if (!Number.isFinite(x) && !Number.isNaN(x) && !/inf/i.test(text)) return "x is past the largest double (FP64), so it is read as inf";
    if (x === 0 && /[1-9]/.test(text.split(/e/i)[0])) return "x is below the smallest double (FP64), so it is read as 0";
    return "";
  };

  window.lorabookBits = { decode, round, encode, number, readout, parse, note, sci };
  window.lorabookWidgetTimes = window.lorabookWidgetTimes || [];

  const build = (figure) => {
    const data = JSON.parse(figure.querySelector("script.lorabook-bits-data").textContent);
    const said = document.createElement("p"); // what a screen reader hears after a flip or a bad number
    said.className = "lorabook-bits-said";
    said.setAttribute("aria-live", "polite");
    const rows = [...figure.querySelectorAll(".lorabook-bits-format")].map((block) => {
      const f = data.formats[Number(block.dataset.format)];
      const bits = [...block.dataset.pattern].map(Number);
      const buttons = [...block.querySelectorAll("span.lorabook-bit")].map((span, i) => {
        const button = document.createElement("button");
        button.type = "button";
        button.className = span.className;
        button.tabIndex = i === 0 ? 0 : -1; // one tab stop per format; the arrow keys move along its bits
        const field = i === 0 ? "sign" : i <= f.e ? "exponent" : "mantissa";
        button.setAttribute("aria-label", `${f.name} bit ${bits.length - 1 - i}, ${field}`);
        span.replaceWith(button);
        return button;
      });
      block.querySelector(".lorabook-bits-row").setAttribute("role", "group");
      block.querySelector(".lorabook-bits-row").setAttribute("aria-label", `${f.name}'s bits: arrow keys move, Space flips`);
      return { f, block, bits, buttons, dl: block.querySelector("dl.lorabook-bits-readout") };
    });
    const show = (row, x) => {
      const d = decode(row.f, row.bits);
      row.buttons.forEach((b, i) => { b.textContent = String(row.bits[i]); b.setAttribute("aria-pressed", String(row.bits[i] === 1)); });
      row.block.dataset.pattern = row.bits.join("");
      row.dl.replaceChildren(...Object.entries(readout(row.f, d, x)).flatMap(([k, v]) => {
        const dt = document.createElement("dt"), dd = document.createElement("dd");
        dt.textContent = k; dd.textContent = v;
        return [dt, dd];
      }));
      return d;
    };
    const typed = figure.querySelector(".lorabook-bits-typed");
    const label = document.createElement("label"), input = document.createElement("input");
    const message = document.createElement("span");
    Object.assign(input, { type: "text", value: data.start, spellcheck: false, className: "lorabook-bits-input" });
    input.setAttribute("autocomplete", "off");
    message.className = "lorabook-bits-message";
    label.append("Type a number, x = ", input);
    typed.replaceChildren(label, " ", message);
    typed.after(said);
    let pending = null;
    const typeIn = () => {
      const start = performance.now();
      const x = parse(input.value), why = note(input.value, x);
      clearTimeout(pending);
      figure.classList.toggle("lorabook-bits-stale", x === null);
      if (x === null) { // said once the reader pauses, not at every keystroke of "-1e-5"
        pending = setTimeout(() => { message.textContent = why; said.textContent = why; }, 700);
        return;
      }
      message.textContent = why;
      rows.forEach((row) => { row.bits = encode(row.f, x); show(row, x); });
      window.lorabookWidgetTimes.push(performance.now() - start);
    };
    input.addEventListener("input", typeIn);
    rows.forEach((row) => row.buttons.forEach((button, i) => {
      button.addEventListener("click", () => {
        const start = performance.now();
        row.bits[i] = 1 - row.bits[i];
        const d = show(row, null);
        said.textContent = `${row.f.name}: ${number(d.value)}, ${d.kind}`;
        window.lorabookWidgetTimes.push(performance.now() - start);
      });
      button.addEventListener("keydown", (event) => {
        const step = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[event.key];
        const to = event.key === "Home" ? 0 : event.key === "End" ? row.buttons.length - 1 : step === undefined ? null : i + step;
        if (to === null || to < 0 || to >= row.buttons.length) return;
        event.preventDefault();
        button.tabIndex = -1;
        row.buttons[to].tabIndex = 0;
        row.buttons[to].focus();
      });
    }));
    typeIn();
    figure.classList.add("lorabook-bits-live");
  };
  window.addEventListener("DOMContentLoaded", () => document.querySelectorAll("figure.lorabook-bits").forEach(build));
})();
