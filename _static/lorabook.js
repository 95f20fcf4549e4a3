// Marks each box of the article that scrolls sideways and whose content is wider than it, with the class
// scrolls-sideways, so that lorabook.css shows a hint on it; bookbuild.browsercheck accepts content wider
// than the column only inside such a box. Run on load, once MathJax has typeset, and on every resize.
// It also keeps each short value glued into the prose on one line (the class pasted-number).
(() => {
  const scrolls = (el) => ["auto", "scroll"].includes(getComputedStyle(el).overflowX);
  const mark = () => {
    for (const el of document.querySelectorAll("article div, article pre, article mjx-container")) {
      const wide = scrolls(el) && el.scrollWidth > el.clientWidth + 1;
      el.classList.toggle("scrolls-sideways", wide);
    }
  };
  window.lorabookMarkScrolling = mark;
  const afterMath = (tries) => {
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) MathJax.startup.promise.then(mark);
    else if (tries > 0) setTimeout(() => afterMath(tries - 1), 100);
  };
  const numbers = () => {
    for (const el of document.querySelectorAll("span.pasted-text"))
      if (el.textContent.trim().length <= 24) el.classList.add("pasted-number");
  };
  window.addEventListener("DOMContentLoaded", numbers);
  window.addEventListener("load", () => { mark(); afterMath(50); });
  let pending;
  window.addEventListener("resize", () => { clearTimeout(pending); pending = setTimeout(mark, 150); });
})();
