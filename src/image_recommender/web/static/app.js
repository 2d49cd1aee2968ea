// imrec's page: search by text or image, "more like this", like/dislike to refine, duplicates, status.
"use strict";

const $ = (selector) => document.querySelector(selector);
const state = { liked: new Map(), disliked: new Map(), file: null };

function setMessage(text, isError = false, target = "#message") {
  const element = $(target);
  element.textContent = text;
  element.classList.toggle("error", isError);
}

async function api(url, options = {}) {
  const response = await fetch(url, options);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const detail = typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail || response.statusText);
    throw new Error(detail);
  }
  return data;
}

function k() {
  return Math.max(1, Math.min(500, parseInt($("#k").value, 10) || 24));
}

function card(result, { refine = true, keeper = false } = {}) {
  const item = document.createElement("li");
  item.className = "card" + (keeper ? " keeper" : "");
  item.dataset.id = result.id;
  const thumb = document.createElement("button");
  thumb.className = "thumb";
  thumb.type = "button";
  thumb.title = "Show the full image";
  thumb.setAttribute("aria-label", `Show ${result.path}`);
  const img = document.createElement("img");
  img.loading = "lazy";
  img.alt = result.path;
  img.src = `/api/images/${result.id}/thumb`;
  thumb.append(img);
  thumb.addEventListener("click", () => showFull(result));
  const meta = document.createElement("div");
  meta.className = "meta";
  const score = result.score === undefined ? (keeper ? "keep" : "") : result.score.toFixed(3);
  meta.innerHTML = `<span class="score"></span> <span class="path"></span>`;
  meta.querySelector(".score").textContent = score;
  meta.querySelector(".path").textContent = result.path;
  item.append(thumb, meta);
  if (refine) {
    const actions = document.createElement("div");
    actions.className = "actions";
    const more = button("More like this", "more", () => moreLike(result.id));
    const like = button("Like", "like", () => toggle(result, "liked"));
    const dislike = button("Dislike", "dislike", () => toggle(result, "disliked"));
    like.setAttribute("aria-label", `Like ${result.path}`);
    dislike.setAttribute("aria-label", `Dislike ${result.path}`);
    like.setAttribute("aria-pressed", String(state.liked.has(result.id)));
    dislike.setAttribute("aria-pressed", String(state.disliked.has(result.id)));
    actions.append(more, like, dislike);
    item.append(actions);
    item.classList.toggle("liked", state.liked.has(result.id));
    item.classList.toggle("disliked", state.disliked.has(result.id));
  }
  return item;
}

function button(label, className, onClick) {
  const element = document.createElement("button");
  element.type = "button";
  element.className = className;
  element.textContent = label;
  element.addEventListener("click", onClick);
  return element;
}

function showResults(data, heading) {
  const list = $("#results");
  list.replaceChildren(...data.results.map((result) => card(result)));
  const count = data.results.length;
  setMessage(count ? `${heading}: ${count} result${count === 1 ? "" : "s"} (${data.model})` : `${heading}: no matching images`);
}

async function run(promise, heading) {
  setMessage("Searching…");
  try {
    showResults(await promise, heading);
  } catch (error) {
    setMessage(error.message, true);
  }
}

function search(event) {
  event?.preventDefault();
  const text = $("#text").value.trim();
  if (state.file) {
    const form = new FormData();
    form.append("image", state.file);
    if (text) form.append("text", text);
    form.append("k", k());
    return run(api("/api/search", { method: "POST", body: form }), `Like ${state.file.name}${text ? ` + “${text}”` : ""}`);
  }
  if (!text) {
    setMessage("Type a description or pick an image first.", true);
    return;
  }
  const params = new URLSearchParams({ text, k: k() });
  return run(api(`/api/search?${params}`), `“${text}”`);
}

function moreLike(id) {
  const params = new URLSearchParams({ like_id: id, k: k() });
  return run(api(`/api/search?${params}`), `More like #${id}`);
}

function toggle(result, kind) {
  const other = kind === "liked" ? "disliked" : "liked";
  if (state[kind].has(result.id)) state[kind].delete(result.id);
  else state[kind].set(result.id, result);
  state[other].delete(result.id);
  refine();
}

function refine() {
  const liked = [...state.liked.keys()];
  const disliked = [...state.disliked.keys()];
  $("#refine").hidden = liked.length + disliked.length === 0;
  $("#refine-summary").textContent = `${liked.length} liked, ${disliked.length} disliked: results re-ranked`;
  if (!liked.length) {
    document.querySelectorAll(".card").forEach((item) => {
      const id = Number(item.dataset.id);
      item.classList.toggle("disliked", state.disliked.has(id));
      item.querySelector(".dislike")?.setAttribute("aria-pressed", String(state.disliked.has(id)));
    });
    return;
  }
  const body = JSON.stringify({ liked, disliked, k: k() });
  const request = api("/api/recommend", { method: "POST", headers: { "Content-Type": "application/json" }, body });
  run(
    request.then((data) => ({ ...data, results: [...state.liked.values(), ...data.results] })),
    "Recommended",
  );
}

function showFull(result) {
  $("#viewer-img").src = `/api/images/${result.id}/file`;
  $("#viewer-img").alt = result.path;
  $("#viewer-caption").textContent = `${result.path}${result.width ? ` — ${result.width}×${result.height}` : ""}`;
  $("#viewer").showModal();
}

function pickFile(file) {
  state.file = file || null;
  $("#drop-label").textContent = file ? `Query image: ${file.name} (click to change)` : "Drop or pick a query image";
  if (file) search();
}

async function browse(offset = 0) {
  try {
    const data = await api(`/api/images?offset=${offset}&limit=${k()}`);
    $("#results").replaceChildren(...data.images.map((image) => card(image)));
    const end = offset + data.images.length;
    setMessage(data.total ? `Library: images ${offset + 1}-${end} of ${data.total} (search, or pick one for more like it)` : "The library is empty: run 'imrec index' first");
  } catch (error) {
    setMessage(error.message, true);
  }
}

async function loadDuplicates(event) {
  event?.preventDefault();
  setMessage("Looking for duplicates…", false, "#dup-message");
  try {
    const data = await api(`/api/duplicates?threshold=${encodeURIComponent($("#threshold").value)}`);
    const groups = data.groups.map((group, number) => {
      const box = document.createElement("div");
      box.className = "group";
      const title = document.createElement("h3");
      title.textContent = `Group ${number + 1}: ${group.kind === "exact" ? "exact copies" : `near duplicates (≥ ${group.score.toFixed(3)})`}`;
      const list = document.createElement("ol");
      list.className = "grid";
      list.append(...group.images.map((image) => card(image, { refine: false, keeper: image.id === group.keeper.id })));
      box.append(title, list);
      return box;
    });
    $("#dup-groups").replaceChildren(...groups);
    setMessage(groups.length ? `${groups.length} group(s); the outlined image is the suggested keeper` : "No duplicates found", false, "#dup-message");
  } catch (error) {
    setMessage(error.message, true, "#dup-message");
  }
}

async function loadStatus() {
  const box = $("#status");
  try {
    const data = await api("/api/status");
    const rows = Object.entries(data.counts).map(([key, value]) => `<tr><th>${key}</th><td>${value}</td></tr>`).join("");
    const index = data.index
      ? `${data.index.kind || "none"}, ${data.index.count} vectors, ${data.index.current ? "current" : `out of date (${data.index.stale} stale, ${data.index.unindexed} not indexed)`}`
      : "none yet";
    box.innerHTML = `<p>Library <code></code></p><table>${rows}</table><p>Model: <span class="model"></span></p><p>Index: ${index}</p><h3>Files that could not be read</h3><ul class="failures"></ul>`;
    box.querySelector("code").textContent = data.root;
    box.querySelector(".model").textContent = data.model || "none";
    const failures = box.querySelector(".failures");
    failures.append(...data.failures.map((failure) => {
      const item = document.createElement("li");
      item.textContent = `${failure.path}: ${failure.error}`;
      return item;
    }));
    if (!data.failures.length) failures.outerHTML = "<p>None.</p>";
  } catch (error) {
    box.textContent = error.message;
  }
}

function show(view) {
  for (const tab of document.querySelectorAll("[role=tab]")) {
    const active = tab.dataset.view === view;
    tab.setAttribute("aria-selected", String(active));
    $(`#view-${tab.dataset.view}`).hidden = !active;
  }
  if (view === "status") loadStatus();
  if (view === "duplicates" && !$("#dup-groups").children.length) loadDuplicates();
}

document.addEventListener("DOMContentLoaded", () => {
  $("#search-form").addEventListener("submit", search);
  $("#dup-form").addEventListener("submit", loadDuplicates);
  $("#file").addEventListener("change", (event) => pickFile(event.target.files[0]));
  $("#clear-refine").addEventListener("click", () => {
    state.liked.clear();
    state.disliked.clear();
    $("#refine").hidden = true;
    search();
  });
  const drop = $("#drop");
  drop.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      $("#file").click();
    }
  });
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    pickFile(event.dataTransfer.files[0]);
  });
  for (const tab of document.querySelectorAll("[role=tab]")) tab.addEventListener("click", () => show(tab.dataset.view));
  browse();
  document.addEventListener("keydown", (event) => {
    if (event.key === "/" && document.activeElement?.tagName !== "INPUT") {
      event.preventDefault();
      $("#text").focus();
    }
  });
});
