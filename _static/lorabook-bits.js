// The bit flipper (lorabook.bitflip): each float format's bits as buttons. A click flips one bit and shows the
// value its fields encode; a typed number is rounded to nearest, ties to even, in every format at once. The
// rules are lorabook.formats' decode, round_to_format and encode, mirrored line by line; tests/test_widgets.py
// compares them with the library on every FP8 and FP16 pattern and on samples of the rest, and the browser
// check clicks a bit and types a number on the page. window.lorabookBits exposes the rules for those checks.
(() => {
  const pow2 = (k) => Math.pow(2, k); // exact in a double for every k these formats need (-149 .. 127)
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

  // x -> the bits of its nearest value: encode (NaN is the canonical one, every mantissa bit set)
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
  const sci = (v) => v.toExponential(2).replace(/e([+-])(\d)$/, "e$10$2"); // Python's f"{v:.2e}"

  const formula = (f, d) => {
    if (d.kind === "inf") return "E all ones, M = 0: infinity";
    if (d.kind === "nan") return "not a number (NaN)";
    if (d.kind === "normal") return `(\u22121)^${d.sign} \u00b7 2^(${d.E} \u2212 ${bias(f)}) \u00b7 (1 + ${d.M}/${pow2(f.m)})`;
    return `(\u22121)^${d.sign} \u00b7 2^(1 \u2212 ${bias(f)}) \u00b7 (${d.M}/${pow2(f.m)})`;
  };
  // lorabook.bitflip.readout: x is the typed number, or null when the bits were set by hand
  const readout = (f, d, x) => {
    const out = { value: number(d.value), fields: `s = ${d.sign}, E = ${d.E}, M = ${d.M}`, formula: formula(f, d), class: d.kind };
    if (x === null) out["rounding error"] = "bits set by hand";
    else if (!Number.isFinite(d.value) && !Number.isNaN(d.value) && Number.isFinite(x))
      out["rounding error"] = `overflow: past the largest finite value, ${number(maxFinite(f))}`;
    else if (Number.isNaN(d.value) || !Number.isFinite(x)) out["rounding error"] = "none: not a finite number";
    else {
      const err = x - d.value;
      out["rounding error"] = err === 0 ? "0: exact" : `${sci(err)} (relative ${sci(Math.abs(err / x))})`;
    }
    return out;
  };

  const parse = (text) => { // Python's float() on what a reader types: 0.1, -2.5e-3, inf, nan
    const t = text.trim().toLowerCase();
    if (/^[+-]?(inf|infinity)$/.test(t)) return t.startsWith("-") ? -Infinity : Infinity;
    if (/^[+-]?nan$/.test(t)) return NaN;
    return /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/.test(t) ? Number(t) : null;
  };

  window.lorabookBits = { decode, round, encode, number, readout, parse };
  window.lorabookWidgetTimes = window.lorabookWidgetTimes || [];

  const build = (figure) => {
    const data = JSON.parse(figure.querySelector("script.lorabook-bits-data").textContent);
    const rows = [...figure.querySelectorAll(".lorabook-bits-format")].map((block) => {
      const f = data.formats[Number(block.dataset.format)];
      const bits = [...block.dataset.pattern].map(Number);
      const buttons = [...block.querySelectorAll("span.lorabook-bit")].map((span, i) => {
        const button = document.createElement("button");
        button.type = "button";
        button.className = span.className;
        const field = i === 0 ? "sign" : i <= f.e ? "exponent" : "mantissa";
        button.setAttribute("aria-label", `${f.name} bit ${bits.length - 1 - i} (${field})`);
        span.replaceWith(button);
        return button;
      });
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
    };
    const typed = figure.querySelector(".lorabook-bits-typed");
    const label = document.createElement("label"), input = document.createElement("input");
    const message = document.createElement("span");
    Object.assign(input, { type: "text", value: data.start, spellcheck: false, className: "lorabook-bits-input" });
    input.setAttribute("autocomplete", "off");
    message.className = "lorabook-bits-message";
    message.setAttribute("aria-live", "polite");
    label.append("Type a number, x = ", input);
    typed.replaceChildren(label, message);
    const typeIn = () => {
      const start = performance.now();
      const x = parse(input.value);
      if (x === null) {
        message.textContent = ` "${input.value}" is not a number: type one such as 0.1, -2.5e-3, 65504, inf or nan`;
        return;
      }
      message.textContent = "";
      rows.forEach((row) => { row.bits = encode(row.f, x); show(row, x); });
      window.lorabookWidgetTimes.push(performance.now() - start);
    };
    input.addEventListener("input", typeIn);
    rows.forEach((row) => row.buttons.forEach((button, i) => button.addEventListener("click", () => {
      const start = performance.now();
      row.bits[i] = 1 - row.bits[i];
      show(row, null);
      window.lorabookWidgetTimes.push(performance.now() - start);
    })));
    typeIn();
    figure.classList.add("lorabook-bits-live");
  };
  window.addEventListener("DOMContentLoaded", () => document.querySelectorAll("figure.lorabook-bits").forEach(build));
})();
