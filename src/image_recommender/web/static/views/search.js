// The search view: the query, its filters and refinements, the results, the full view with its region and boxes.
import { $, api, button, iconButton, k, moment, nextDay, pathLine, setMessage, state, takenLabel } from "./core.js";

export function card(result, { refine = true, keeper = false } = {}) {
  const item = document.createElement("li");
  item.className = "card" + (keeper ? " keeper" : "");
  item.dataset.id = result.id;
  const thumb = document.createElement("button");
  thumb.className = "thumb";
  thumb.type = "button";
  thumb.title = t("show.full");
  thumb.setAttribute("aria-label", t("show", { path: result.path }));
  const img = document.createElement("img");
  img.loading = "lazy";
  img.alt = result.path;
  img.src = result.thumb ?? `/api/images/${result.id}/thumb`;
  thumb.append(img);
  thumb.addEventListener("click", () => showFull(result));
  const figure = document.createElement("div");
  figure.className = "figure";
  figure.append(thumb);
  if (result.score !== undefined || keeper) {
    const score = document.createElement("span");
    score.className = "score";
    score.textContent = result.score === undefined ? "keep" : result.score.toFixed(3);
    figure.append(score);
  }
  if (result.kind === "video") {
    const badge = document.createElement("span");
    badge.className = "moment";
    badge.textContent = `▶ ${moment(result.timestamp ?? 0)}`;
    badge.title = t("video.at", { when: moment(result.timestamp ?? 0) });
    figure.append(badge);
  }
  if (result.copies?.length) {
    const copies = document.createElement("span");
    copies.className = "copies";
    copies.textContent = t("copies", { n: result.copies.length });
    copies.title = `${t("copies.title")}\n${result.copies.join("\n")}`;
    figure.append(copies);
  }
  const meta = document.createElement("div");
  meta.className = "meta";
  meta.append(pathLine(result.path));
  const info = document.createElement("div");
  info.className = "info";
  if (result.taken_at) {
    const taken = document.createElement("time");
    taken.className = "taken" + (result.taken_from === "mtime" ? " file-date" : "");
    taken.dateTime = result.taken_at;
    taken.textContent = takenLabel(result);
    taken.title = result.taken_from === "mtime"
      ? t("file.date", { when: result.taken_at.replace("T", " ") })
      : t("taken", { when: result.taken_at.replace("T", " ") });
    info.append(taken);
  }
  if (result.camera) {
    const camera = document.createElement("span");
    camera.className = "camera";
    camera.textContent = result.camera;
    info.append(camera);
  }
  if (result.place) {
    const place = document.createElement("span");
    place.className = "place";
    const parts = result.place.split(", ");
    place.textContent = result.place_short || (parts.length > 1 ? `${parts[0]}, ${parts[parts.length - 1]}` : parts[0]);
    place.title = result.place;
    info.append(place);
  }
  if (!info.children.length && result.width) info.textContent = `${result.width}×${result.height}`;
  meta.append(info);
  if (result.text_match?.length) {
    const words = document.createElement("p");
    words.className = "words";
    words.title = `${t("words.title")}\n${result.text_match.join("\n")}`;
    result.text_match.forEach((line, number) => {
      if (number) words.append(" / ");
      words.append(highlighted(line));
    });
    meta.append(words);
  }
  item.append(figure, meta);
  if (refine) {
    const actions = document.createElement("div");
    actions.className = "actions";
    const more = iconButton("≈", t("more.like", { path: result.path }), "more", () => moreLike(result.id, result.timestamp));
    const like = iconButton("♥", t("like", { path: result.path }), "like", () => toggle(result, "liked"));
    const dislike = iconButton("✕", t("dislike", { path: result.path }), "dislike", () => toggle(result, "disliked"));
    like.setAttribute("aria-pressed", String(state.liked.has(result.id)));
    dislike.setAttribute("aria-pressed", String(state.disliked.has(result.id)));
    actions.append(more, like, dislike);
    const slash = result.path.lastIndexOf("/");
    if (slash > 0) {
      const folder = result.path.slice(0, slash);
      actions.append(iconButton("…/", t("only.folder", { folder }), "folder", () => setFolder(folder)));
    }
    const pickLabel = document.createElement("label");
    pickLabel.className = "pick-label";
    pickLabel.title = t("select.title");
    const pick = document.createElement("input");
    pick.type = "checkbox";
    pick.className = "pick";
    pick.checked = state.selected.has(result.id);
    pick.setAttribute("aria-label", t("select", { path: result.path }));
    pick.addEventListener("change", () => {
      if (pick.checked) state.selected.set(result.id, result);
      else state.selected.delete(result.id);
      showSelection();
    });
    pickLabel.append(pick);
    figure.append(pickLabel);
    figure.append(actions);
    item.classList.toggle("liked", state.liked.has(result.id));
    item.classList.toggle("disliked", state.disliked.has(result.id));
    item.classList.toggle("selected", state.selected.has(result.id));
  }
  return item;
}

export function filterValues() {
  const values = {};
  const from = $("#after").value;
  const to = $("#to").value;
  if (from && from === to) values.taken_on = from;
  else {
    if (from) values.after = from;
    if (to) values.before = nextDay(to);
  }
  const camera = $("#camera").value.trim();
  if (camera) values.camera = camera;
  const place = $("#place").value.trim();
  if (place) values.place = place;
  if ($("#sort").value !== "score") values.sort = $("#sort").value;
  if ($("#all-copies").checked) values.all_copies = "true";
  return values;
}

// The query the page shows: a text, an uploaded image (+ text), or "more like" an image;
// null while browsing. Likes and dislikes refine it; they never replace it.
export function querySummary() {
  const query = state.query;
  if (!query) return state.liked.size ? t("query.recommended") : t("query.library");
  if (query.kind === "image") {
    const name = query.crop ? t("query.region", { name: query.file.name }) : t("query.image", { name: query.file.name });
    return `${name}${query.text ? ` + ${t("quoted", { text: query.text })}` : ""}`;
  }
  if (query.kind === "more") return t("query.more", { id: query.id });
  if (query.kind === "region") return t("query.region", { name: query.name });
  if (query.kind === "album") return t("query.album", { name: query.name });
  if (query.kind === "theme") return t("query.theme", { name: query.name });
  if (query.kind === "person") return t("query.person", { name: query.name });
  return t("quoted", { text: query.text });
}

export function refinementSummary() {
  const parts = [];
  if (state.liked.size) parts.push(t("n.liked", { n: state.liked.size }));
  if (state.disliked.size) parts.push(t("n.disliked", { n: state.disliked.size }));
  return parts.join(", ");
}

// The words a query asked of the text in pictures come back folded (lower case, ß as ss, ä, ae
// and a alike as a: catalog/words.py); in a line as printed, "ss" also matches ß, and "a" also
// "ä" or "ae" ("o", "u" alike), in any case.
export const SPELLINGS = { ss: "(?:ss|ß)", a: "(?:ae|ä|a)", o: "(?:oe|ö|o)", u: "(?:ue|ü|u)" };

export function wordsPattern(words) {
  if (!words?.length) return null;
  const spelled = words.map((word) => word
    .replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
    .replace(/ss|[aou]/g, (letters) => SPELLINGS[letters]));
  return new RegExp(`(${spelled.join("|")})`, "giu");
}

export function highlighted(line) {
  const fragment = document.createDocumentFragment();
  const pattern = state.words;
  if (!pattern) {
    fragment.append(line);
    return fragment;
  }
  line.split(pattern).forEach((part, number) => {
    if (number % 2) {
      const mark = document.createElement("mark");
      mark.textContent = part;
      fragment.append(mark);
    } else if (part) {
      fragment.append(part);
    }
  });
  return fragment;
}

export function showResults(data) {
  state.words = wordsPattern(data.words);
  showUnderstood(data.understood);
  const list = $("#results");
  list.replaceChildren(...data.results.map((result) => card(result)));
  const count = data.results.length;
  const refined = refinementSummary();
  const heading = `${querySummary()}${refined ? ` + ${refined}` : ""}`;
  setMessage(count ? t("n.results", { heading, n: count, model: data.model }) : t("no.results", { heading }));
}

// How the text was read: each date, place and "not" is a chip; removing one takes those words
// as words again (the search runs once more with that kind literal).
export function showUnderstood(understood) {
  const parts = [];
  for (const person of understood?.people ?? []) parts.push(["person", t("understood.person", { name: person.words }), ""]);
  if (understood?.place) parts.push(["place", t("understood.place", { name: understood.place.words }), understood.place.name]);
  if (understood?.dates) {
    const when = understood.dates.every_year ? t("understood.every.year", { words: understood.dates.words }) : understood.dates.words;
    const span = [understood.dates.after, understood.dates.before].map((day) => day ?? "…").join(" – ");
    parts.push(["date", t("understood.date", { when }), understood.dates.every_year ? understood.dates.every_year.join(" – ") : span]);
  }
  for (const word of understood?.negatives ?? []) parts.push(["negative", t("understood.not", { word }), ""]);
  $("#understood").hidden = parts.length === 0;
  $("#understood-text").textContent = parts.length ? t("understood.text", { text: understood.text }) : "";
  $("#understood-list").replaceChildren(...parts.map(([kind, label, title]) => {
    const item = document.createElement("li");
    item.className = `chip understood-${kind}`;
    const text = document.createElement("span");
    text.textContent = label;
    text.title = title;
    const remove = button("×", "remove", () => {
      state.literal.add(kind);
      return runQuery();
    });
    remove.setAttribute("aria-label", t("understood.remove", { what: label }));
    item.append(text, remove);
    return item;
  }));
}

export function chip(result, kind) {
  const item = document.createElement("li");
  item.className = `chip ${kind}`;
  const img = document.createElement("img");
  img.src = `/api/images/${result.id}/thumb?size=128`;
  img.alt = result.path;
  const label = document.createElement("span");
  label.textContent = result.path;
  const remove = button("×", "remove", () => toggle(result, kind));
  remove.setAttribute("aria-label", t("remove", { path: result.path, kind: t(kind) }));
  item.append(img, label, remove);
  return item;
}

export function setFolder(folder) {
  state.under = folder;
  $("#folder").hidden = !folder;
  $("#folder-name").textContent = folder ? `${folder}/` : "";
  if (state.query || state.liked.size) runQuery();
}

// The selection outlives a search: the bar says how many are chosen and how many of them this
// page shows, and clears them all.
export function showSelection() {
  const count = state.selected.size;
  const shown = [...document.querySelectorAll("#results .card")].filter((item) => state.selected.has(Number(item.dataset.id))).length;
  for (const item of document.querySelectorAll("#results .card")) {
    item.classList.toggle("selected", state.selected.has(Number(item.dataset.id)));
  }
  $("#selection").hidden = count === 0;
  $("#selection-count").textContent = count === shown
    ? t("n.selected", { n: count })
    : shown
      ? t("n.selected.shown", { n: count, shown })
      : t("n.selected.none", { n: count });
  const link = $("#download");
  link.textContent = t("download", { n: count });
  link.href = `/api/download?${new URLSearchParams([...state.selected.keys()].map((id) => ["id", id]))}`;
}

export function clearSelection() {
  state.selected.clear();
  for (const pick of document.querySelectorAll("#results .pick")) pick.checked = false;
  showSelection();
}

export function showRefinement() {
  const active = state.liked.size + state.disliked.size > 0;
  $("#refine").hidden = !active;
  $("#refine-summary").textContent = active ? t("refined.by", { what: refinementSummary() }) : "";
  $("#refine-list").replaceChildren(
    ...[...state.liked.values()].map((result) => chip(result, "liked")),
    ...[...state.disliked.values()].map((result) => chip(result, "disliked")),
  );
}

export async function runQuery() {
  showRefinement();
  showRegionQuery();
  const query = state.query;
  const liked = [...state.liked.keys()];
  const disliked = [...state.disliked.keys()];
  if (!query && !liked.length) {
    if (disliked.length) {
      $("#results").replaceChildren();
      setMessage(t("dislikes.alone"));
      return;
    }
    return browse();
  }
  const params = new URLSearchParams({ k: k() });
  for (const [name, value] of Object.entries(filterValues())) params.append(name, value);
  if (state.under) params.append("under", state.under);
  if (query?.text) params.append("text", query.text);
  const literal = $("#literal").checked ? ["date", "place", "negative", "person"] : [...state.literal];
  if (query?.text) literal.forEach((kind) => params.append("literal", kind));
  if (query?.kind === "more" || query?.kind === "region") params.append("like_id", query.id);
  if (query?.kind === "more" && query.at != null) params.append("at", query.at);
  if (query?.kind === "region") params.append("crop", query.crop);
  liked.forEach((id) => params.append("like_id", id));
  disliked.forEach((id) => params.append("unlike_id", id));
  setMessage(t("searching"));
  try {
    let data;
    if (query?.kind === "album") {
      data = await api(`/api/albums/${encodeURIComponent(query.name)}`);
    } else if (query?.kind === "theme") {
      data = await api(`/api/themes/${query.id}/images?k=${k()}`);
    } else if (query?.kind === "person") {
      data = await api(`/api/people/${query.id}/images?k=${k()}`);
    } else if (query?.kind === "image") {
      const form = new FormData();
      form.append("image", query.file);
      if (query.crop) form.append("crop", query.crop);
      for (const [key, value] of params) form.append(key, value);
      data = await api("/api/search", { method: "POST", body: form });
    } else {
      data = await api(`/api/search?${params}`);
    }
    showResults(data);
    showSelection();
  } catch (error) {
    if (query?.kind === "image") {
      // The results of the query before stay; the file is named once, with what is wrong.
      const name = query.file.name;
      const reason = error.message.startsWith(`${name}: `) ? error.message.slice(name.length + 2) : error.message;
      setMessage(t("not.an.image", { name, reason }), true);
      setQueryImage(null);
      state.query = state.previous;
    } else {
      $("#results").replaceChildren();
      setMessage(error.message, true);
    }
    return;
  }
  state.previous = query;
}

export function search(event) {
  event?.preventDefault();
  const text = $("#text").value.trim();
  if (state.file) {
    state.query = { kind: "image", file: state.file, text };
  } else if (text) {
    state.query = { kind: "text", text };
    state.literal.clear();
  } else {
    setMessage(t("type.first"), true);
    return;
  }
  return runQuery();
}

export function moreLike(id, at = null) {
  state.query = { kind: "more", id, at };
  return runQuery();
}

export function toggle(result, kind) {
  const other = kind === "liked" ? "disliked" : "liked";
  if (state[kind].has(result.id)) state[kind].delete(result.id);
  else state[kind].set(result.id, result);
  state[other].delete(result.id);
  return runQuery();
}

export function clearRefinement() {
  state.liked.clear();
  state.disliked.clear();
  return runQuery();
}

// Files a browser shows as they are; the rest (RAW, HEIC, TIFF) as the server's large rendering.
export const BROWSER_SHOWS = /\.(jpe?g|png|gif|webp|bmp|avif)$/i;

// A video opens in the player at its moment (the server answers byte ranges, so it can seek).
export function playVideo(result) {
  const player = $("#viewer-video");
  $("#viewer-figure").hidden = true;
  $(".region-bar").hidden = true;
  player.hidden = false;
  const start = result.timestamp ?? 0;
  player.onloadedmetadata = () => { player.currentTime = start; };
  player.src = `/api/images/${result.id}/file`;
  $("#viewer-caption").textContent = `${result.path} @ ${moment(start)}`;
  state.viewing = null;
  $("#viewer").showModal();
}

export function showFull(result) {
  if (result.kind === "video") return playVideo(result);
  const src = BROWSER_SHOWS.test(result.path) ? `/api/images/${result.id}/file` : `/api/images/${result.id}/thumb?size=2048`;
  openViewer(src, result.path, { id: result.id, name: result.path });
  $("#viewer-caption").textContent = `${result.path}${result.width ? ` — ${result.width}×${result.height}` : ""}`;
  if (!result.timestamp) showBoxes(result);
}

export function openViewer(src, alt, source) {
  $("#viewer-figure").hidden = false;
  $(".region-bar").hidden = false;
  $("#viewer-video").hidden = true;
  $("#viewer-img").src = src;
  $("#viewer-img").alt = alt;
  $("#viewer-caption").textContent = alt;
  $("#viewer-boxes").replaceChildren();
  state.viewing = source;
  setRegion(null);
  $("#viewer").showModal();
}

// A region of the picture in the viewer, in fractions of its shown size: drawn by dragging over
// the picture, moved by dragging it, resized by its corner handle; searched with its thumbnail
// as the query's chip.
export function setRegion(region) {
  state.region = region;
  const box = $("#region");
  box.hidden = !region;
  $("#region-search").hidden = !region;
  if (!region) return;
  box.style.left = `${region.x * 100}%`;
  box.style.top = `${region.y * 100}%`;
  box.style.width = `${region.w * 100}%`;
  box.style.height = `${region.h * 100}%`;
}

export function startRegionDrag(event) {
  if (event.button !== 0) return;
  const figure = $("#viewer-figure").getBoundingClientRect();
  const at = (x, y) => [Math.min(Math.max((x - figure.left) / figure.width, 0), 1), Math.min(Math.max((y - figure.top) / figure.height, 0), 1)];
  const [startX, startY] = at(event.clientX, event.clientY);
  const before = state.region;
  const mode = event.target.classList.contains("handle") ? "resize" : event.target.id === "region" ? "move" : "draw";
  event.preventDefault();
  event.currentTarget.setPointerCapture(event.pointerId);
  const move = (moved) => {
    const [x, y] = at(moved.clientX, moved.clientY);
    if (mode === "draw") {
      setRegion({ x: Math.min(startX, x), y: Math.min(startY, y), w: Math.abs(x - startX), h: Math.abs(y - startY) });
    } else if (mode === "move") {
      const left = Math.min(Math.max(before.x + x - startX, 0), 1 - before.w);
      const top = Math.min(Math.max(before.y + y - startY, 0), 1 - before.h);
      setRegion({ ...before, x: left, y: top });
    } else {
      setRegion({ ...before, w: Math.max(x - before.x, 0), h: Math.max(y - before.y, 0) });
    }
  };
  const stop = () => {
    $("#viewer-figure").removeEventListener("pointermove", move);
    const shown = $("#viewer-img");
    const region = state.region;
    if (region && (region.w * shown.width < 8 || region.h * shown.height < 8)) setRegion(mode === "draw" ? null : before);
  };
  $("#viewer-figure").addEventListener("pointermove", move);
  $("#viewer-figure").addEventListener("pointerup", stop, { once: true });
}

// The region as the API takes it ("X,Y,W,H" fractions, never past the picture's edge) and a
// thumbnail of it, cut from the picture as shown.
export function regionQuery() {
  const { x, y, w, h } = state.region;
  const floor = (value) => Math.floor(value * 10000) / 10000;
  const crop = [floor(x), floor(y), floor(Math.min(w, 1 - x)), floor(Math.min(h, 1 - y))].join(",");
  const shown = $("#viewer-img");
  const canvas = document.createElement("canvas");
  const width = shown.naturalWidth * w;
  const height = shown.naturalHeight * h;
  const scale = Math.min(1, 96 / Math.max(width, height));
  canvas.width = Math.max(1, Math.round(width * scale));
  canvas.height = Math.max(1, Math.round(height * scale));
  canvas.getContext("2d").drawImage(shown, shown.naturalWidth * x, shown.naturalHeight * y, width, height, 0, 0, canvas.width, canvas.height);
  return { crop, thumb: canvas.toDataURL("image/png") };
}

export function searchRegion() {
  const { crop, thumb } = regionQuery();
  const source = state.viewing;
  state.query = source.file
    ? { kind: "image", file: source.file, text: $("#text").value.trim(), crop, thumb }
    : { kind: "region", id: source.id, name: source.name, crop, thumb };
  $("#viewer").close();
  return runQuery();
}

export function showRegionQuery() {
  const query = state.query;
  const shown = Boolean(query?.crop);
  $("#query-region").hidden = !shown;
  if (!shown) return;
  $("#query-region-img").src = query.thumb;
  $("#query-region-img").alt = querySummary();
  $("#query-region-label").textContent = querySummary();
}

export function clearRegion() {
  const query = state.query;
  state.query = query?.kind === "image" ? { ...query, crop: undefined, thumb: undefined } : null;
  runQuery();
}

// The lines that matched, outlined where they stand in the picture (boxes come in fractions of
// its width and height, so they fit whatever size it is shown at).
// The matched lines of text outlined in the full view, and every face with its person's name.
export async function showBoxes(result) {
  const info = await api(`/api/images/${result.id}`).catch(() => null);
  if (!info || $("#viewer-img").alt !== result.path) return;
  const svg = "http://www.w3.org/2000/svg";
  const titled = (shape, text) => {
    const title = document.createElementNS(svg, "title");
    title.textContent = text;
    shape.append(title);
    return shape;
  };
  const matched = result.text_match ?? [];
  const lines = (info.text ?? []).filter((line) => matched.includes(line.text)).map((line) => {
    const shape = document.createElementNS(svg, "polygon");
    shape.setAttribute("points", line.box.map(([x, y]) => `${x},${y}`).join(" "));
    return titled(shape, line.text);
  });
  const faces = (info.faces ?? []).map((face) => {
    const [left, top, right, bottom] = face.box;
    const shape = document.createElementNS(svg, "rect");
    shape.setAttribute("class", "face");
    shape.setAttribute("x", left);
    shape.setAttribute("y", top);
    shape.setAttribute("width", right - left);
    shape.setAttribute("height", bottom - top);
    return titled(shape, face.name ?? (face.person ? t("person.unnamed", { id: face.person }) : ""));
  });
  $("#viewer-boxes").replaceChildren(...lines, ...faces);
}

export function setQueryImage(file) {
  state.file = file || null;
  $("#drop-label").textContent = file ? t("drop.chosen", { name: file.name }) : t("drop");
  $("#clear-image").hidden = !file;
  $("#crop-image").hidden = !file;
  if (!file) $("#file").value = "";
}

export function pickFile(file) {
  setQueryImage(file);
  if (file) search();
}

export function clearImage() {
  setQueryImage(null);
  if (state.query?.kind === "image") {
    const text = state.query.text;
    state.query = text ? { kind: "text", text } : null;
    runQuery();
  }
}

export async function browse(offset = 0) {
  try {
    const data = await api(`/api/images?offset=${offset}&limit=${k()}`);
    $("#results").replaceChildren(...data.images.map((image) => card(image)));
    showSelection();
    const end = offset + data.images.length;
    setMessage(data.total ? t("library.page", { first: offset + 1, last: end, total: data.total }) : t("library.empty"));
  } catch (error) {
    setMessage(error.message, true);
  }
}
