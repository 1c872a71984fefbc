// The demo's two pages, on the JSON API (no build step, no libraries).
"use strict";

const $ = (selector, root = document) => root.querySelector(selector);
const fmt = (v, digits = 4) => (v === null || v === undefined ? "—" : Number(v).toFixed(digits));

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

async function callApi(url, options) {
  const response = await fetch(url, options);
  let body = null;
  try { body = await response.json(); } catch (e) { body = null; }
  if (!response.ok) {
    throw new Error((body && body.error) || `${response.status} ${response.statusText}`);
  }
  return body;
}

function showError(node, message) {
  node.textContent = message || "";
  node.hidden = !message;
}

// ------------------------------------------------------------------------------------------ Segment page
function setupSegment(form) {
  const samples = $("#sample-id"), file = $("#image-file"), error = $("#segment-error"), busy = $("#segment-busy");
  const boxes = () => [...form.querySelectorAll("input[name=checkpoint]")];

  // at most two checkpoints
  for (const box of boxes()) {
    box.addEventListener("change", () => {
      const on = boxes().filter((b) => b.checked);
      if (on.length > 2) on.find((b) => b !== box).checked = false;
    });
  }
  file.addEventListener("change", () => { samples.value = ""; markSample(null); });
  for (const button of document.querySelectorAll(".sample")) {
    button.addEventListener("click", () => {
      samples.value = button.dataset.sample;
      file.value = "";
      markSample(button);
      form.requestSubmit();
    });
  }
  const strength = $("#strength");
  strength.addEventListener("input", () => { $("#strength-value").textContent = strength.value; });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    if (!samples.value) data.delete("sample");
    const sent = [...form.querySelectorAll("input[type=file]")].reduce((n, i) => n + (i.files[0]?.size || 0), 0);
    if (sent > Number(form.dataset.limitMb) * 2 ** 20) {  // the server refuses it too (413)
      showError(error, `the upload is larger than the ${form.dataset.limitMb} MB limit; send a smaller file`);
      return;
    }
    showError(error, "");
    busy.hidden = false;
    $("#segment-button").disabled = true;
    try {
      showResults(await callApi("/api/segment", { method: "POST", body: data }));
    } catch (e) {
      showError(error, e.message);
    } finally {
      busy.hidden = true;
      $("#segment-button").disabled = false;
    }
  });
}

function markSample(button) {
  for (const b of document.querySelectorAll(".sample")) b.classList.toggle("chosen", b === button);
}

function download(label, href, name) {
  return el("a", { href, download: name, class: "download", text: label });
}

function stemOf(name) {
  return name.replace(/ \(demo sample\)$/, "").replace(/\.[^.]*$/, "").replace(/[^\w.-]+/g, "_") || "image";
}

function showResults(answer) {
  const figures = $("#figures");
  figures.replaceChildren();
  const input = answer.input, stem = stemOf(input.name);
  const facts = [`${input.name}`, input.format, `${input.height}×${input.width}`];
  if (input.window) facts.push(`window ${input.window[0]}/${input.window[1]}`);
  if (input.phone_photo) facts.push(`phone photo, strength ${input.strength}`);
  figures.append(el("figure", { class: "panel" },
    el("figcaption", { text: "input" }),
    el("img", { id: "input-image", src: `data:image/png;base64,${input.png}`, alt: "input" }),
    el("p", { class: "note", text: facts.join(" · ") })));
  answer.results.forEach((r, i) => {
    const c = r.checkpoint, m = r.metrics;
    const name = `${stem}-${c.model}-${c.dataset || "model"}`;
    const facts = el("dl", { class: "metrics" });
    const add = (label, value, id, raw) => {
      const dd = el("dd", { text: value });
      if (id) dd.id = id;
      if (raw !== undefined && raw !== null) dd.dataset.value = String(raw);
      facts.append(el("dt", { text: label }), dd);
    };
    add("inference", `${fmt(r.ms, 1)} ms`, `ms-${i}`);
    add("foreground pixels", String(r.foreground_pixels));
    if (m) {
      add("Dice", fmt(m.dice), `dice-${i}`, m.dice);
      add("IoU", fmt(m.iou), `iou-${i}`, m.iou);
      add("HD95 (px)", fmt(m.hd95, 2), `hd95-${i}`, m.hd95);
    }
    const links = el("p", { class: "downloads" },
      download(`mask PNG (${r.mask_format})`, `data:image/png;base64,${r.mask_png}`, `${name}-mask.png`), " ",
      download("overlay PNG", `data:image/png;base64,${r.overlay_png}`, `${name}-overlay.png`));
    if (r.mask_format !== "class ids") {
      links.append(" ", download("mask PNG (class ids)", `data:image/png;base64,${r.labels_png}`, `${name}-labels.png`));
    }
    const record = { image: input.name, checkpoint: c.id, inference_ms: r.ms, foreground_pixels: r.foreground_pixels,
                     phone_photo: input.phone_photo, strength: input.strength, metrics: m };
    const blob = new Blob([JSON.stringify(record, null, 2)], { type: "application/json" });
    links.append(" ", download("metrics JSON", URL.createObjectURL(blob), `${name}-metrics.json`));
    const flags = [c.stn && "STN", c.pretrain && "SSL", c.aug && "aug"].filter(Boolean).join("+");
    figures.append(el("figure", { class: "panel result" },
      el("figcaption", { text: `${c.model} · ${c.dataset || "?"}${flags ? " · " + flags : ""} (epoch ${c.epoch ?? "?"})` }),
      el("img", { id: `overlay-${i}`, class: "overlay", src: `data:image/png;base64,${r.overlay_png}`, alt: "overlay" }),
      el("img", { id: `mask-${i}`, class: "mask", src: `data:image/png;base64,${r.mask_png}`, alt: "mask" }),
      facts, links));
  });
  $("#results").hidden = false;
}

// ------------------------------------------------------------------------------------------ Experiments page
function setupExperiments(form) {
  const error = $("#train-error");
  for (const button of document.querySelectorAll("button.toggle")) {
    button.addEventListener("click", () => {
      const row = document.getElementById(button.dataset.target);
      for (const img of row.querySelectorAll("img[data-src]")) img.src = img.dataset.src;
      row.hidden = !row.hidden;
    });
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError(error, "");
    try {
      showStatus(await callApi("/api/train", { method: "POST", body: new FormData(form) }));
      poll();
    } catch (e) {
      showError(error, e.message);
    }
  });
  $("#train-stop").addEventListener("click", async () => {
    try { showStatus(await callApi("/api/train/stop", { method: "POST" })); } catch (e) { showError(error, e.message); }
  });
  poll();
}

let polling = null;
async function poll() {
  clearTimeout(polling);
  let status;
  try {
    status = await callApi("/api/train");
  } catch (e) {
    showError($("#train-error"), e.message);
    return;
  }
  showStatus(status);
  if (status.running) polling = setTimeout(poll, 1000);
}

function showStatus(s) {
  const box = $("#train-status");
  box.dataset.running = String(Boolean(s.running));
  $("#train-state").textContent = s.running ? `running (${s.seconds} s)`
    : s.command ? `finished, exit status ${s.returncode}${s.returncode === 0 ? " (done)" : ""}` : "none yet";
  $("#train-command").textContent = s.command || "";
  const errors = $("#train-errors");
  errors.replaceChildren(...(s.errors || []).map((line) => el("div", { text: line })));
  errors.hidden = !(s.errors && s.errors.length);
  const table = $("#train-progress"), body = $("tbody", table);
  body.replaceChildren(...(s.progress || []).map((row) => el("tr", {},
    el("td", { text: String(row.epoch) }), el("td", { text: fmt(row.train_loss) }), el("td", { text: fmt(row.mIoU) }),
    el("td", { text: fmt(row.mDice) }), el("td", { text: fmt(row.dice_fg) }), el("td", { text: fmt(row.seconds, 1) }))));
  table.hidden = !(s.progress && s.progress.length);
  const result = $("#train-result"), list = $("dl", result);
  list.replaceChildren();
  for (const [k, v] of Object.entries(s.result || {})) list.append(el("dt", { text: k }), el("dd", { text: fmt(v) }));
  result.hidden = !s.result;
  $("#train-lines").textContent = (s.lines || []).join("\n");
}

const segmentForm = $("#segment-form");
if (segmentForm) setupSegment(segmentForm);
const trainForm = $("#train-form");
if (trainForm) setupExperiments(trainForm);
