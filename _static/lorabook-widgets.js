// Interactive figures with no kernel (lorabook.widgets): each figure.lorabook-widget holds its frames as JSON;
// this script adds a range input (the arrow keys move it) and shows the chosen frame's picture and readout.
// The readout is an aria-live region, read out by screen readers. Without this script the figure shows its
// starting frame, a still image (a downloaded notebook, a printed page). window.lorabookWidgetTimes keeps
// how long each input took to show its frame, in ms (bookbuild.browsercheck reads it).
(() => {
  window.lorabookWidgetTimes = [];
  const build = (figure) => {
    const data = JSON.parse(figure.querySelector("script.lorabook-widget-data").textContent);
    const image = figure.querySelector("img.lorabook-widget-image");
    const position = figure.querySelector(".lorabook-widget-position");
    const readout = figure.querySelector("dl.lorabook-widget-readout");
    readout.setAttribute("aria-live", "polite");
    const input = document.createElement("input");
    Object.assign(input, { type: "range", min: 0, max: data.values.length - 1, step: 1, value: data.start });
    input.className = "lorabook-widget-slider";
    input.setAttribute("aria-label", data.name);
    const show = (i) => {
      const start = performance.now();
      image.src = data.images[i];
      position.textContent = `${data.name} = ${data.values[i]}`;
      input.setAttribute("aria-valuetext", position.textContent);
      readout.replaceChildren(...Object.entries(data.readouts[i]).flatMap(([k, v]) => {
        const dt = document.createElement("dt"), dd = document.createElement("dd");
        dt.textContent = k; dd.textContent = v;
        return [dt, dd];
      }));
      image.decode().catch(() => {}).then(() => {
        figure.dataset.frame = String(i);
        window.lorabookWidgetTimes.push(performance.now() - start);
      });
    };
    input.setAttribute("aria-valuetext", position.textContent);
    input.addEventListener("input", () => show(Number(input.value)));
    position.before(input);
    figure.classList.add("lorabook-widget-live");
    figure.dataset.frame = String(data.start);
  };
  window.addEventListener("DOMContentLoaded", () => document.querySelectorAll("figure.lorabook-widget").forEach(build));
})();
