/* The course website's own behaviour, on top of sphinx-book-theme (emkit.site copies this to _static/emkit-site.js).
 *
 * 1. The chapter menu (☰) and the contents button work when tapped or clicked. The theme puts two copies of
 *    each toggle in the page (one in a top bar it hides, one in the article header) and pydata-sphinx-theme
 *    binds only the first, hidden one; a tap on a visible copy is handed to it.
 * 2. Search result snippets show formulas as text (θᵗ, rᵢₖ), never raw TeX such as \(\theta^t\); they quote a
 *    chapter's prose and results, not its code cells.
 * 3. A display equation a little too wide for the column is shrunk to fit (to 70 % at most); a wider one
 *    scrolls inside itself. When done, <html data-emkit-math="fitted">.
 * 4. On a phone, tables of three or more columns are shown row by row, each cell labelled with its column.
 */
(function () {
  "use strict";

  function ready(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }

  /* 1. The toggles ---------------------------------------------------------------------------------- */
  function bindToggles() {
    for (const kind of ["primary", "secondary"]) {
      const all = Array.from(document.querySelectorAll(`button.${kind}-toggle`));
      const bound = all[0]; // the one pydata-sphinx-theme (and sphinx-book-theme's wide-screen fix) listen to
      all.slice(1).forEach((button) => {
        button.addEventListener("click", (event) => {
          event.preventDefault();
          event.stopPropagation();
          bound.click();
        });
      });
    }
  }

  /* 2. TeX as text in search snippets ---------------------------------------------------------------- */
  const NAMED = {
    alpha: "α", beta: "β", gamma: "γ", delta: "δ", epsilon: "ε", varepsilon: "ε", zeta: "ζ", eta: "η",
    theta: "θ", vartheta: "ϑ", iota: "ι", kappa: "κ", lambda: "λ", mu: "μ", nu: "ν", xi: "ξ", pi: "π",
    rho: "ρ", sigma: "σ", tau: "τ", upsilon: "υ", phi: "φ", varphi: "φ", chi: "χ", psi: "ψ", omega: "ω",
    Gamma: "Γ", Delta: "Δ", Theta: "Θ", Lambda: "Λ", Xi: "Ξ", Pi: "Π", Sigma: "Σ", Phi: "Φ", Psi: "Ψ",
    Omega: "Ω", sum: "Σ", prod: "∏", int: "∫", infty: "∞", partial: "∂", nabla: "∇", cdot: "·",
    cdots: "⋯", ldots: "…", dots: "…", times: "×", le: "≤", leq: "≤", ge: "≥", geq: "≥", ne: "≠",
    neq: "≠", approx: "≈", sim: "∼", propto: "∝", in: "∈", notin: "∉", subset: "⊂", subseteq: "⊆",
    cup: "∪", cap: "∩", to: "→", rightarrow: "→", leftarrow: "←", Rightarrow: "⇒", iff: "⇔",
    mapsto: "↦", mid: "|", vert: "|", lvert: "|", rvert: "|", Vert: "‖", lVert: "‖", rVert: "‖",
    langle: "⟨", rangle: "⟩", top: "ᵀ", intercal: "ᵀ", pm: "±", mp: "∓", forall: "∀", exists: "∃",
    emptyset: "∅", ell: "ℓ", equiv: "≡", ll: "≪", gg: "≫", circ: "∘", star: "⋆", prime: "′",
    log: "log", exp: "exp", ln: "ln", max: "max", min: "min", arg: "arg", det: "det", tr: "tr",
    sup: "sup", inf: "inf", lim: "lim", quad: " ", qquad: " ", lbrace: "{", rbrace: "}",
  };
  const DROPPED = new Set([
    "left", "right", "big", "Big", "bigg", "Bigg", "bigl", "bigr", "Bigl", "Bigr", "biggl", "biggr",
    "displaystyle", "textstyle", "limits", "nolimits", "nonumber", "notag",
  ]);
  const DOUBLE = { R: "ℝ", N: "ℕ", Z: "ℤ", Q: "ℚ", C: "ℂ", E: "𝔼", P: "ℙ" };
  const SUP = {
    0: "⁰", 1: "¹", 2: "²", 3: "³", 4: "⁴", 5: "⁵", 6: "⁶", 7: "⁷", 8: "⁸", 9: "⁹", "+": "⁺", "-": "⁻",
    "−": "⁻", "=": "⁼", "(": "⁽", ")": "⁾", a: "ᵃ", b: "ᵇ", c: "ᶜ", d: "ᵈ", e: "ᵉ", f: "ᶠ", g: "ᵍ",
    h: "ʰ", i: "ⁱ", j: "ʲ", k: "ᵏ", l: "ˡ", m: "ᵐ", n: "ⁿ", o: "ᵒ", p: "ᵖ", r: "ʳ", s: "ˢ", t: "ᵗ",
    u: "ᵘ", v: "ᵛ", w: "ʷ", x: "ˣ", y: "ʸ", z: "ᶻ", T: "ᵀ", "ᵀ": "ᵀ", "′": "′", "*": "*",
  };
  const SUB = {
    0: "₀", 1: "₁", 2: "₂", 3: "₃", 4: "₄", 5: "₅", 6: "₆", 7: "₇", 8: "₈", 9: "₉", "+": "₊", "-": "₋",
    "−": "₋", "=": "₌", "(": "₍", ")": "₎", a: "ₐ", e: "ₑ", h: "ₕ", i: "ᵢ", j: "ⱼ", k: "ₖ", l: "ₗ",
    m: "ₘ", n: "ₙ", o: "ₒ", p: "ₚ", r: "ᵣ", s: "ₛ", t: "ₜ", u: "ᵤ", v: "ᵥ", x: "ₓ",
  };

  function texToText(tex) {
    let i = 0;
    const s = tex;
    // a single symbol (letters, digits, Greek, with sub- and superscripts) needs no parentheses around it
    const wrap = (t) => (/^[\w\u0370-\u03ff\u1d00-\u1dbf\u2070-\u209f\u2c7c.′]+$/.test(t) ? t : `(${t})`);
    function script(text, table, mark) {
      const chars = Array.from(text.replace(/\s+/g, ""));
      if (chars.length && chars.every((c) => c in table)) return chars.map((c) => table[c]).join("");
      return `${mark}(${text.trim()})`;
    }
    function command() {
      // at a backslash
      i += 1;
      let name = s[i] || "";
      if (/[a-zA-Z]/.test(name)) {
        const m = /^[a-zA-Z]+/.exec(s.slice(i));
        name = m[0];
      }
      i += name.length;
      if (name === "\\") return "; ";
      if (name === "frac" || name === "dfrac" || name === "tfrac") {
        const a = argument();
        const b = argument();
        return `${wrap(a)}/${wrap(b)}`;
      }
      if (name === "sqrt") return `√${wrap(argument())}`;
      if (name === "begin" || name === "end") {
        argument();
        return " ";
      }
      if (name === "text" || name === "textrm" || name === "textit" || name === "textbf" || name === "mbox") {
        return rawArgument();
      }
      if (name === "mathbb") {
        const a = argument();
        return DOUBLE[a] || a;
      }
      if (name === "operatorname" || /^(math|bold|bm$|hat$|bar$|tilde$|widehat|widetilde|overline|vec$|dot$|ddot$|underbrace|overbrace|mathop)/.test(name)) {
        return argument();
      }
      if (DROPPED.has(name)) return "";
      if (name in NAMED) return NAMED[name];
      if (/^[,;:! ]$/.test(name)) return " ";
      if (/^[{}%#&_$]$/.test(name)) return name;
      return name;
    }
    function skipSpaces() {
      while (i < s.length && /\s/.test(s[i])) i += 1;
    }
    function rawArgument() {
      skipSpaces();
      if (s[i] !== "{") return s[i++] || "";
      let depth = 0;
      const start = i + 1;
      for (; i < s.length; i += 1) {
        if (s[i] === "{") depth += 1;
        else if (s[i] === "}" && --depth === 0) break;
      }
      i += 1;
      return s.slice(start, i - 1);
    }
    function argument() {
      skipSpaces();
      if (s[i] === "{") {
        i += 1;
        return group(true);
      }
      if (s[i] === "\\") return command();
      return s[i++] || "";
    }
    function group(untilBrace) {
      let out = "";
      while (i < s.length) {
        const c = s[i];
        if (c === "}") {
          i += 1;
          if (untilBrace) return out;
        } else if (c === "{") {
          i += 1;
          out += group(true);
        } else if (c === "^") {
          i += 1;
          out += script(argument(), SUP, "^");
        } else if (c === "_") {
          i += 1;
          out += script(argument(), SUB, "_");
        } else if (c === "\\") {
          out += command();
        } else if (c === "&" || c === "~") {
          i += 1;
          out += " ";
        } else {
          out += c;
          i += 1;
        }
      }
      return out;
    }
    return group(false).replace(/\s+/g, " ").trim();
  }

  function mathAsText(source) {
    const inner = source
      .trim()
      .replace(/^\\\(|\\\)$/g, "")
      .replace(/^\\\[|\\\]$/g, "")
      .replace(/^\$\$|\$\$$/g, "")
      .replace(/^\$|\$$/g, "");
    return texToText(inner);
  }
  window.emkitTexToText = mathAsText; // the browser test checks it

  function patchSearch() {
    if (typeof Search === "undefined" || !Search.htmlToText || Search.emkitPatched) return;
    const original = Search.htmlToText;
    Search.htmlToText = (htmlString, anchor) => {
      const doc = new DOMParser().parseFromString(htmlString, "text/html");
      // a snippet quotes the chapter's prose and results, not its code cells (their strings hold TeX for
      // plot labels, and folded ones hold the solutions)
      doc.querySelectorAll("details.hide, div.cell_input, .emkit-sr-only").forEach((el) => el.remove());
      doc.querySelectorAll(".math, span.math, div.math").forEach((el) => {
        el.textContent = ` ${mathAsText(el.textContent)} `;
      });
      const text = original(doc.documentElement.outerHTML, anchor);
      // any maths left outside a math element (in a table cell written as text, say)
      return text.replace(/\\\((.+?)\\\)|\\\[(.+?)\\\]|\$\$(.+?)\$\$/gs, (m, a, b, c) => texToText(a || b || c));
    };
    Search.emkitPatched = true;
  }

  /* 3. Display equations that fit the column ------------------------------------------------------- */
  const SMALLEST = 0.7;
  function fitEquations() {
    document.querySelectorAll(".bd-content mjx-container[display='true']").forEach((box) => {
      box.style.fontSize = "";
      const svg = box.querySelector("svg");
      if (!svg) return;
      const need = svg.getBoundingClientRect().width;
      const room = box.clientWidth;
      if (need <= room + 0.5 || room / need < SMALLEST) return;
      // the font's ex (MathJax's unit) comes in whole pixels: step down until the equation fits
      for (let percent = Math.floor((room / need) * 100); percent >= SMALLEST * 100; percent -= 1) {
        box.style.fontSize = `${percent}%`;
        if (svg.getBoundingClientRect().width <= room + 0.5) return;
      }
      box.style.fontSize = "";
    });
    document.documentElement.dataset.emkitMath = "fitted";
  }
  function whenTypeset(fn) {
    let tries = 0;
    const wait = () => {
      const startup = window.MathJax && window.MathJax.startup;
      if (startup && startup.promise) startup.promise.then(fn);
      else if (!document.querySelector(".math") || ++tries > 600) fn();
      else setTimeout(wait, 50);
    };
    wait();
  }

  /* 4. Tables on a phone ---------------------------------------------------------------------------- */
  function labelTables() {
    document.querySelectorAll(".bd-content table").forEach((table) => {
      const heads = Array.from(table.querySelectorAll("thead th")).map((th) => th.textContent.trim());
      if (heads.length < 3) return;
      table.classList.add("emkit-stacked");
      table.setAttribute("role", "table");
      table.querySelectorAll("thead, tbody").forEach((g) => g.setAttribute("role", "rowgroup"));
      table.querySelectorAll("tr").forEach((tr) => {
        tr.setAttribute("role", "row");
        Array.from(tr.children).forEach((cell, k) => {
          if (cell.tagName === "TH") cell.setAttribute("role", "columnheader");
          else {
            cell.setAttribute("role", "cell");
            cell.dataset.label = heads[k] || "";
          }
        });
      });
    });
  }

  ready(() => {
    bindToggles();
    patchSearch();
    labelTables();
    whenTypeset(fitEquations);
    let timer = null;
    window.addEventListener("resize", () => {
      clearTimeout(timer);
      timer = setTimeout(fitEquations, 150);
    });
  });
  patchSearch(); // searchtools.js may already be loaded: patch before the first query's summaries arrive
})();
