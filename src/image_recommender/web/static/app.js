// imrec's page: search by text or image, "more like this", like/dislike to refine, duplicates, status.
// The page: ES modules, one per view (static/views/), loaded without a build step; this one
// switches the views and wires the page's own controls.
import { $, state } from "./views/core.js";
import { browse, clearImage, clearRefinement, clearRegion, clearSelection, openViewer, pickFile, runQuery, search, searchRegion, setFolder, setQueryImage, showRefinement, showSelection, startRegionDrag } from "./views/search.js";
import { loadDuplicates, undoMove } from "./views/duplicates.js";
import { loadStatus } from "./views/status.js";
import { loadAlbums } from "./views/albums.js";
import { loadThemes } from "./views/themes.js";
import { loadPeople } from "./views/people.js";

export function show(view) {
  for (const tab of document.querySelectorAll("[role=tab]")) {
    const active = tab.dataset.view === view;
    tab.setAttribute("aria-selected", String(active));
    $(`#view-${tab.dataset.view}`).hidden = !active;
  }
  if (view === "status") loadStatus();
  if (view === "albums") loadAlbums();
  if (view === "themes") loadThemes();
  if (view === "people") loadPeople();
  if (view === "duplicates" && !$("#dup-groups").children.length) loadDuplicates();
}

// The switch re-writes the page in the other language and shows the current view again.
export function switchLanguage(language) {
  localStorage.setItem("imrec-language", language);
  translatePage();
  setQueryImage(state.file);
  showRefinement();
  showSelection();
  if (!$("#view-search").hidden) {
    if (state.query || state.liked.size) runQuery();
    else browse();
  }
  if (!$("#view-duplicates").hidden && $("#dup-groups").children.length) loadDuplicates();
  if (!$("#view-status").hidden) loadStatus();
}

document.addEventListener("DOMContentLoaded", () => {
  translatePage();
  $("#language").value = pageLanguage();
  $("#language").addEventListener("change", (event) => switchLanguage(event.target.value));
  $("#search-form").addEventListener("submit", search);
  $("#dup-form").addEventListener("submit", loadDuplicates);
  $("#dup-undo").addEventListener("click", undoMove);
  $("#clear-folder").addEventListener("click", () => setFolder(null));
  $("#file").addEventListener("change", (event) => pickFile(event.target.files[0]));
  $("#clear-refine").addEventListener("click", clearRefinement);
  $("#clear-selection").addEventListener("click", clearSelection);
  $("#clear-image").addEventListener("click", clearImage);
  $("#crop-image").addEventListener("click", () => {
    if (state.file) openViewer(URL.createObjectURL(state.file), state.file.name, { file: state.file, name: state.file.name });
  });
  $("#viewer-figure").addEventListener("pointerdown", startRegionDrag);
  $("#viewer").addEventListener("close", () => {
    const player = $("#viewer-video");
    player.pause();
    player.removeAttribute("src");
    player.load();
    const shown = $("#viewer-img").src;
    if (shown.startsWith("blob:")) URL.revokeObjectURL(shown);  // an uploaded picture, shown from memory
  });
  $("#region-search").addEventListener("click", searchRegion);
  $("#clear-region").addEventListener("click", clearRegion);
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
